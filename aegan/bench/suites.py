"""The suites of `aegan bench`: what each trains, how it scores, and the loop that runs them over seeds.

Every run lives in DIR/<variant>[-d4]-<data>-s<seed>/; a run already finished there is not trained again, and its rows
in DIR/results.json are reused while their score key (aegan.bench.runs.score_key: the checkpoint, the samples, the
scoring code, the judges) is the same, so an interrupted suite continues where it stopped. Each scored (run, sampler)
is one row of DIR/results.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aegan.bench.results import stored_rows, write_results
from aegan.bench.runs import budget_done, finished_or_trained, reused_scores, run_train_seconds, score_key
from aegan.bench.speed import RACE_MINUTES
from aegan.bench.variants import (
    SEEDS,
    SETTINGS,
    STACKED_STEPS,
    Variant,
    check_budget,
    tricks_variants,
    variant,
)
from aegan.errors import AeganError

MODE_KEYS = ("modes_covered", "high_quality_fraction", "kl_modes", "steps", "train_s")
# synthetic1200 also under VEEGAN's stated rule for it, "within 10 std" (aegan.data.toy.VEEGAN_1200_RADIUS)
SYNTHETIC_KEYS = ("modes_covered", "high_quality_fraction", "kl_modes", "within_mode_spread", "modes_10std",
                  "high_quality_10std", "steps", "train_s")
IMAGE_KEYS = ("fd", "fd_check", "kid", "precision", "recall", "density", "coverage", "classifier_score",
              "msssim_samples", "modes_covered", "kl_modes", "code_kl", "recon_error_test", "fd_recon", "recall_recon",
              "steps", "train_s")
STACKED_KEYS = ("modes_covered", "kl_modes", "fd", "fd_check", "coverage", "code_kl", "steps", "train_s")
SPEED_KEYS = ("step_ms", "step_gflop", "efficiency", "cover_steps", "cover_s", "recon_target", "recon_s",
              "peer_recon_s")
IMAGE_MODELS = ("gan", "ae", "aegan", "vae", "aae", "vaegan", "alphagan")
# The images suite's wall time per run and data sets per budget. paper: the images issue's protocol, 10 minutes a run on
# both data sets (42 runs of the default line-up over 3 seeds: 3.5 hours on 2 cores at --jobs 2). small: the
# fashion-mnist comparison the published tables' reproduction asks for, well under an hour on 2 cores (21 runs of 2
# minutes, two at a time, with their scoring; at 3 minutes the suite took 48 min 29 s; README, Benchmarks, "How long
# each suite takes").
IMAGE_MINUTES = {"small": 2.0, "paper": 10.0}
IMAGE_DATA = {"small": ("fashion-mnist",), "paper": ("fashion-mnist", "stacked-fashion-mnist")}


@dataclass(frozen=True)
class Suite:
    """A suite: its data sets, default line-up, samples scored per run, spread over seeds (se: standard error, the
    published tables' choice; sd), the keys of its table, and the D settings it runs each variant in."""

    name: str
    data: tuple[str, ...]
    models: tuple[str, ...]
    n: int
    spread: str
    keys: tuple[str, ...]
    settings: tuple[str, ...] = ("preset",)  # the stacked suite's D widths; elsewhere one label: models at presets
    pins_d: bool = False  # the settings are the published tables' D widths, over the models' presets (stacked)
    about: str = ""
    seeds: int | None = None  # default seeds, whatever the budget; None: SEEDS[budget]
    bars: tuple[str, ...] = ()  # the metrics drawn as bars in figures/; () = the first four of `keys`
    minutes: dict[str, float] | None = None  # suites at equal wall time: minutes per run by budget; None: step budgets
    budget_data: dict[str, tuple[str, ...]] | None = None  # data sets by budget where they differ from `data`

    def data_for(self, budget: str) -> tuple[str, ...]:
        return (self.budget_data or {}).get(budget, self.data)


SUITES: dict[str, Suite] = {s.name: s for s in (
    # the VEEGAN / PacGAN protocol: 2,500 samples, high quality within 3 std, a mode covered by one such sample
    Suite("toy", ("ring8", "grid25"), ("gan", "gan+pack", "gan+unroll", "bigan", "veegan", "aae", "alphagan"), 2500,
          "se", MODE_KEYS, about="ring8 and grid25, the VEEGAN/PacGAN protocol (2,500 samples)"),
    Suite("modes", ("ring8", "grid25"), ("gan", "aae", "alphagan"), 10_000, "sd", MODE_KEYS,
          about="ring8 and grid25, 10,000 samples per score"),
    Suite("tricks", ("ring8", "grid25"), (), 10_000, "sd", MODE_KEYS,
          about="the gan with each improved technique, on ring8 and grid25"),
    Suite("synthetic1200", ("synthetic1200", "grid100"), ("gan", "gan+pack", "gan+unroll", "veegan", "alphagan"),
          2500, "se", SYNTHETIC_KEYS, about="VEEGAN's 10 modes in 1,200 dimensions, and the 10×10 grid"),
    Suite("stacked", ("stacked-digits", "stacked-fashion-mnist"), ("gan", "gan+pack", "alphagan"), 10_000, "se",
          STACKED_KEYS, settings=tuple(SETTINGS), pins_d=True,
          about="1,000 class triples; D as wide as G, and D at ¼ of G"),
    Suite("images", ("fashion-mnist", "stacked-fashion-mnist"), IMAGE_MODELS, 10_000, "sd", IMAGE_KEYS,
          about="every model at equal wall time (--minutes)",
          bars=("fd", "fd_check", "precision", "recall", "coverage", "kl_modes"),  # where the two roads differ
          minutes=IMAGE_MINUTES, budget_data=IMAGE_DATA),
    Suite("speed", ("grid25", "fashion-mnist"), ("gan", "vae", "aae", "alphagan"), 2500, "se", SPEED_KEYS,
          about="training step time, FLOPs and efficiency per model; time to cover grid25; the race against "
                "pythae to the same held-out reconstruction error",
          seeds=1,  # a seed's race alone is 4 × --minutes; step times do not depend on the seed
          minutes={"small": RACE_MINUTES, "paper": RACE_MINUTES}),
)}


def suite_of(name: str) -> Suite:
    if name not in SUITES:
        raise AeganError(f"unknown benchmark suite {name!r}: use {', '.join(SUITES)}")
    return SUITES[name]


def variants(suite: str, models: list[str] | None, budget: str = "small") -> list[Variant]:
    """(variant name, model, overrides, steps or None for the model's default) of a suite's line-up."""
    from aegan.models import MODELS

    s = suite_of(suite)
    check_budget(budget)
    if suite == "tricks":
        return tricks_variants(models)
    names = models or list(s.models)
    for name in names:
        if name.partition("+")[0] not in MODELS:
            raise AeganError(f"unknown model {name.partition('+')[0]!r} in --models: use {', '.join(MODELS)}, "
                             f"optionally with +TRICK")
    chosen = [variant(m, budget, suite) for m in names]
    if suite in ("images", "speed"):  # at equal wall time, or each model's own default budget
        return [(name, model, overrides, None) for name, model, overrides, _ in chosen]
    if suite == "stacked":  # equal steps for every method
        return [(name, model, overrides, STACKED_STEPS[budget]) for name, model, overrides, _ in chosen]
    return chosen


def run_bench(suite: str, models: list[str] | None = None, seeds: int | None = None, out: str | Path = "bench",
              data: tuple[str, ...] | None = None, threads: int = 0, minutes: float | None = None,
              n: int | None = None, jobs: int = 1, budget: str = "small", steps: int | None = None,
              settings: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Run `suite` and write DIR/results.json, results.md and report.html; return this invocation's rows.

    `steps`: every run of a step-budgeted suite trains that many steps instead of its budget (a quick look, not
    the suite's protocol); `n`: samples scored per run instead of the suite's; `settings`: some of the suite's D
    settings only (the stacked suite's D=G and D=G/4); `seeds`: default 3 with the small budget, 5 with the
    paper's, 1 for the speed suite. The images suite's `minutes` and `data` default by budget (IMAGE_MINUTES,
    IMAGE_DATA): 2 minutes on fashion-mnist with the small budget, 10 on both its data sets with the paper's."""
    from aegan.data import NAMES

    s = suite_of(suite)
    check_budget(budget)
    seeds = (s.seeds or SEEDS[budget]) if seeds is None else seeds
    if seeds < 1:
        raise AeganError(f"--seeds must be at least 1, got {seeds}")
    if jobs < 1:
        raise AeganError(f"--jobs must be at least 1, got {jobs}")
    if minutes is not None and s.minutes is None:
        raise AeganError(f"--minutes applies to the images and speed suites; the {suite} suite uses step budgets "
                         f"(--budget)")
    if minutes is not None and minutes <= 0:
        raise AeganError(f"--minutes must be positive, got {minutes:g}")
    if steps is not None and (suite == "images" or steps < 1):
        raise AeganError("--steps applies to the step-budgeted suites and must be at least 1" if steps < 1 else
                         "--steps does not apply to the images suite: it trains for --minutes")
    chosen = [(v[0], v[1], v[2], steps or v[3]) for v in variants(suite, models, budget)]
    settings = settings or s.settings
    for setting in settings:
        if setting not in s.settings:
            raise AeganError(f"unknown setting {setting!r} for the {suite} suite: use {', '.join(s.settings)}")
    data = data or s.data_for(budget)
    for d in data:
        if d not in NAMES:
            raise AeganError(f"unknown data {d!r} for the {suite} suite: use one of {', '.join(NAMES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = n or s.n
    tasks = [(name, model, setting, dataset, seed,
              {"progress": False, **({"fabric.threads": threads} if threads else {}),
               **(SETTINGS[setting] if s.pins_d else {}), **overrides}, n_steps)
             for name, model, overrides, n_steps in chosen for setting in settings for dataset in data
             for seed in range(seeds)]
    def task_key(t: tuple[Any, ...]) -> tuple[Any, ...]:  # (variant, setting, data, seed)
        return t[0], t[2], t[3], t[4]

    mine = {task_key(t) for t in tasks}
    # the other suites train every model at its presets (α-GAN's D = G/4 on stacked data among them): rows written
    # before this label was "preset" said D=G there
    stored = [r if s.pins_d else {**r, "setting": "preset"} for r in stored_rows(out)]
    previous: dict[tuple[Any, ...], list[dict[str, Any]]] = {}  # each task's stored rows, reused if still valid
    for r in stored:
        previous.setdefault((r.get("variant"), r.get("setting", "D=G"), r.get("data"), r.get("seed")), []).append(r)
    kept = [r for key, rs in previous.items() if key not in mine for r in rs]
    rows: list[dict[str, Any]] = []
    minutes = minutes or (s.minutes[budget] if s.minutes else None)

    def record(new_rows: list[dict[str, Any]]) -> None:
        rows.extend(new_rows)
        write_results(out, s, kept + rows, budget=budget, figures=False)

    one = {"images": _image_run, "speed": _speed_run}.get(suite, _mode_run)
    args = [(out, n, minutes, *t, previous.get(task_key(t), [])) for t in tasks]
    if jobs <= 1:
        for a in args:
            record(one(*a))
    else:
        from aegan.loop.distributed import worker_pool

        with worker_pool(jobs) as pool:
            for f in [pool.submit(one, *a) for a in args]:
                record(f.result())
    write_results(out, s, kept + rows, budget=budget, figures=True)
    print("\n" + (out / "results.md").read_text())  # ours beside the published anchors, with the machine
    return rows


def run_folder(out: Path, name: str, setting: str, dataset: str, seed: int) -> Path:
    hard = "-d4" if setting == "D=G/4" else ""
    return out / f"{name.replace('+', '_')}{hard}-{dataset}-s{seed}"


def _mode_run(out: Path, n: int, _minutes: None, name: str, model: str, setting: str, dataset: str, seed: int,
              settings: dict[str, Any], steps: int | None, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run of a mode suite, trained to its steps (or reused when finished) and scored through its prior and,
    for the encoder models, its default code model (or those scores reused from `previous`, the rows stored for it,
    while their key holds)."""
    from aegan.data.toy import VEEGAN_1200_RADIUS
    from aegan.evaluate import evaluate
    from aegan.loop.configure import make_config
    from aegan.metrics import mode_stats
    from aegan.samplers.selection import MIXTURES

    folder = run_folder(out, name, setting, dataset, seed)
    t0 = time.perf_counter()
    vector = dataset in ("ring8", "grid25", "grid100", "synthetic1200")
    overrides = {**({"code_models": MIXTURES} if vector else {}), **settings}
    wanted = steps or make_config(model, dataset, seed=seed, overrides=overrides)[0].steps  # the model's default

    def done(run: Any, _folder: Path) -> bool:  # a run of another length (say, an earlier --steps) is retrained
        return run.config.steps == wanted and run.step >= wanted

    run = finished_or_trained(folder, done, model, dataset, steps=wanted, seed=seed, overrides=overrides)
    common = {"variant": name, "model": model, "setting": setting, "data": dataset, "seed": seed, "run": folder.name,
              "steps": run.step, "train_s": round(run_train_seconds(folder) or time.perf_counter() - t0, 1)}
    samplers = list(dict.fromkeys(("prior", run.default_sampler)))  # the encoder models through both
    key = score_key(run, n, seed, check=not vector)
    if rows := reused_scores(previous, key, samplers):
        print(f"{name:>12} {setting:>6} {dataset:>22} seed {seed}: scores reused (same checkpoint, samples, scoring)",
              flush=True)
        return [{**r, **common} for r in rows]
    rows = []
    for sampler in samplers:
        scores = evaluate(run, n=n, sampler=sampler, seed=seed, check=not vector)
        if vector:  # the same samples again, for the histogram over the modes (eval.json keeps to numbers)
            x = run.sample(n, sampler=sampler, seed=seed)
            scores["mode_counts"] = mode_stats(x, *run.modes)["mode_counts"]
            if dataset == "synthetic1200":
                veegan = mode_stats(x, *run.modes, radius=VEEGAN_1200_RADIUS)
                scores.update(modes_10std=veegan["modes_covered"],
                              high_quality_10std=veegan["high_quality_fraction"])
        rows.append({**common, **scores, "scored": key})
        print(f"{name:>12} {setting:>6} {dataset:>22} seed {seed} {sampler:>8}: {scores['modes_covered']}/"
              f"{scores['modes_total']} modes, kl {scores['kl_modes']:.4f}"
              + (f", {scores['high_quality_fraction']:.1%} high quality" if vector else f", fd {scores['fd']:.1f}")
              + f", {common['steps']} steps, {common['train_s']:.0f} s", flush=True)
    return rows


def _speed_run(out: Path, n: int, minutes: float, name: str, model: str, setting: str, dataset: str, seed: int,
               settings: dict[str, Any], steps: int | None, _previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One model of the speed suite on one data set: its step time, FLOPs and efficiency; on grid25 also the time
    to cover every mode, through the prior and (encoder models) the gmm code model; on fashion-mnist, for the vae
    and the aae, the race against pythae to the same held-out reconstruction error (`minutes` each)."""
    from aegan.bench.speed import RACE_MODELS, peer_curve, race_row, recon_curve, step_speed, time_to_cover

    common = {"variant": name, "model": model, "setting": setting, "data": dataset, "seed": seed,
              **step_speed(model, dataset, seed, settings)}
    rows = [{**common, "sampler": "—"}]
    if dataset == "grid25":
        folder = run_folder(out, name, setting, dataset, seed)
        rows = [{**common, "run": folder.name, **row}
                for row in time_to_cover(folder, model, seed, {**settings, **({"steps": steps} if steps else {})}, n)]
    elif dataset == "fashion-mnist" and name in RACE_MODELS:
        folder = run_folder(out, name, setting, dataset, seed)
        ours = recon_curve(folder, model, dataset, seed, settings, minutes, common["step_ms"])
        peer, why = peer_curve(run_folder(out, f"pythae-{name}", setting, dataset, seed), model, seed, minutes,
                               settings.get("fabric.threads", 0))
        if why:
            print(f"aegan: the race against pythae's {model} is left out: {why}", flush=True)
        rows = [{**common, "sampler": "—", "run": folder.name, "race_minutes": minutes, **race_row(ours, peer)}]
    for r in rows:
        print(f"{name:>10} {dataset:>14} seed {seed} {r['sampler']:>6}: {r['step_ms']:.2f} ms a step, "
              f"{r['step_gflop']:.3f} GFLOP, efficiency {r['efficiency']:.4f}"
              + (f", covered at step {r['cover_steps']} ({r['cover_s']} s)" if "cover_steps" in r else "")
              + (f", held-out recon error {r['recon_target']:.4f} in {r['recon_s']} s against pythae's "
                 f"{r['peer_recon_s']} s" if "recon_target" in r else ""), flush=True)
    return rows


def _image_run(out: Path, n: int, minutes: float, name: str, model: str, setting: str, dataset: str, seed: int,
               settings: dict[str, Any], _steps: int | None, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run of the images suite, trained for `minutes` (or reused when finished) and scored, or its scores reused
    from `previous` while their key holds: a row per sampler."""
    from aegan.evaluate import evaluate

    folder = run_folder(out, name, setting, dataset, seed)
    run = finished_or_trained(folder, budget_done, model, dataset, minutes=minutes, seed=seed, overrides=settings)
    common = {"variant": name, "model": model, "setting": setting, "data": dataset, "seed": seed, "run": folder.name,
              "steps": run.step, "train_s": round(run_train_seconds(folder), 1)}
    samplers = list(dict.fromkeys(("prior", run.default_sampler)))  # prior first: eval.json keeps the default's
    key = score_key(run, n, seed, check=True)
    if rows := reused_scores(previous, key, samplers):
        print(f"{name:>10} {dataset:>22} seed {seed}: scores reused (same checkpoint, samples, scoring)", flush=True)
        return [{**r, **common} for r in rows]
    rows = []
    for sampler in samplers:
        scores = evaluate(run, n=n, sampler=sampler, seed=seed, check=True)
        rows.append({**common, **scores, "scored": key})
        print(f"{name:>10} {dataset:>22} seed {seed} {sampler:>8}: fd {scores.get('fd', 0):.1f}, "
              f"recall {scores.get('recall', 0):.3f}, coverage {scores.get('coverage', 0):.3f}, "
              f"kl_modes {scores.get('kl_modes', 0):.3f}, {run.step} steps", flush=True)
    return rows
