"""`aegan bench SUITE`: every method side by side on the mode-collapse benchmarks, over several seeds.

Suites:
  modes   the given models (default gan, aae, alphagan) on ring8 and grid25, each with its default budget (bigan and
          veegan at their authors' stated 2-D settings: STATED), scored through the prior and, for the encoder
          models, through the default code model too; a model may carry a trick, MODEL+TRICK (gan+unroll: the
          Unrolled GAN, 5 steps)
  tricks  gan with each of the improved techniques alone and all together, and unrolled, next to alphagan, on ring8
          and grid25
  images  every model on fashion-mnist and stacked-fashion-mnist at equal wall time (--minutes, default 10), each
          scored through its default sampler and, for the encoder models, through its prior too, with the FD in
          a second classifier's features (fd_check) and the FD of held-out reconstructions (fd_recon)

Writes DIR/<variant>-<data>-s<seed>/ run folders, DIR/results.json (one row per run), DIR/table.md (mean ± std
over seeds: aegan.tables.summary_table) and DIR/report.html. Runs already finished in DIR are scored again, not
retrained, so an interrupted benchmark continues where it stopped; the images suite keeps the rows an earlier
invocation stored for other runs, so it can be run in parts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aegan.checkpoint import atomic_write_text
from aegan.errors import AeganError
from aegan.tables import mean_sd_table, summary_table

DATASETS = ("ring8", "grid25")
KEYS = ("modes_covered", "high_quality_fraction", "kl_modes", "train_s")
IMAGE_DATASETS = ("fashion-mnist", "stacked-fashion-mnist")
IMAGE_MODELS = ("gan", "ae", "aegan", "vae", "aae", "vaegan", "alphagan")
IMAGE_KEYS = ("fd", "fd_check", "kid", "precision", "recall", "density", "coverage", "classifier_score",
              "msssim_samples", "modes_covered", "kl_modes", "code_kl", "recon_error_test", "fd_recon", "steps",
              "train_s")
IMAGE_MINUTES = 10.0

# tricks suite: (variant name, model, overrides). Weights are the papers' or common values.
TRICKS: dict[str, dict[str, Any]] = {
    "feature_matching": {"tricks.feature_matching": 1.0},
    # B = 20 kernels instead of the paper's 100: its (B, N, N) pairwise L1 at batch 256 would make each run last
    # an hour on two cores; C = 5 as in the paper.
    "minibatch_discrimination": {"tricks.minibatch_discrimination": True, "tricks.minibatch_kernels": 20},
    "historical_averaging": {"tricks.historical_averaging": 0.01},
    "label_smoothing": {"tricks.label_smoothing": 0.9},
    "virtual_batch_norm": {"tricks.virtual_batch_norm": True},
    "spectral_norm": {"tricks.spectral_norm": True},
    "r1": {"tricks.r1": 1.0},
    "ema": {"tricks.ema": 0.999},
    "pack": {"tricks.pack": 4},
}
GAN_STEPS = 3000  # the gan's budget in the benchmarks (its config default is 2000; the demo uses 3000)
# Variants MODEL+TRICK of the modes suite (e.g. gan+unroll, the Unrolled GAN of the published collapse tables): any
# trick above, or unroll = 5 steps of D looked ahead (Metz et al. 2017, arXiv:1611.02163, unroll 1 to 10 steps on
# their 2-D mixture). Not part of gan+all: it doubles a step, and the published tables run it alone.
VARIANT_TRICKS: dict[str, dict[str, Any]] = {**TRICKS, "unroll": {"tricks.unroll": 5}}
# The modes suite runs the methods of the published collapse tables at their authors' stated 2-D settings (the other
# models at their defaults). VEEGAN's released 2-D code (Srivastava et al. 2017, arXiv:1705.07761; its Table 1's ALI
# runs share the networks): noise of 254 dimensions, generator and reconstructor with two hidden layers of 128, a
# joint D with one hidden layer of 128, Adam 1e-3 (β1 0.5), batch 500, the reconstructor a unit-variance Gaussian
# N(F(x), I) whose negative log-likelihood is ½‖z − F(G(z))‖² (λ = 0.5). The code trains 100,000 steps; here
# STATED_STEPS, for CPU. Our MLPs use LeakyReLU(0.2) where theirs use ReLU.
VEEGAN_2D = {"net.latent_dim": 254, "net.width": 128, "net.depth": 2, "net.d_depth": 1, "optim.lr": 1e-3,
             "optim.schedule": "constant", "batch_size": 500, "model_args.noise": 1.0}
STATED_STEPS = 20_000
STATED: dict[str, tuple[dict[str, Any], int]] = {
    "veegan": ({**VEEGAN_2D, "model_args.lam": 0.5}, STATED_STEPS),
    "bigan": (VEEGAN_2D, STATED_STEPS),  # ALI with the same networks, its encoder the same Gaussian
}


def variant(name: str) -> tuple[str, str, dict[str, Any], int | None]:
    """"gan" or "gan+unroll" -> (name, model, the trick's overrides, the gan's bench budget or None); a method of
    the published tables comes with its stated settings (STATED)."""
    if name in STATED:
        overrides, steps = STATED[name]
        return name, name, dict(overrides), steps
    model, _, trick = name.partition("+")
    if trick and trick not in VARIANT_TRICKS:
        raise AeganError(f"unknown trick {trick!r} in {name!r}: use MODEL+TRICK with TRICK one of "
                         f"{', '.join(VARIANT_TRICKS)}")
    return name, model, VARIANT_TRICKS.get(trick, {}), GAN_STEPS if model == "gan" else None


def variants(suite: str, models: list[str] | None) -> list[tuple[str, str, dict[str, Any], int | None]]:
    """(variant name, model, overrides, steps or None for the model's default) for a suite."""
    if suite == "modes":
        return [variant(m) for m in models or ["gan", "aae", "alphagan"]]
    if suite == "images":
        return [(m, m, {}, None) for m in (models or IMAGE_MODELS)]
    if suite == "tricks":
        out = [("gan", "gan", {}, GAN_STEPS)]
        out += [(f"gan+{name}", "gan", o, GAN_STEPS) for name, o in TRICKS.items()]
        out.append(("gan+all", "gan", {k: v for o in TRICKS.values() for k, v in o.items()}, GAN_STEPS))
        out.append(variant("gan+unroll"))
        out.append(("alphagan", "alphagan", {}, None))
        if models:
            out = [v for v in out if v[0] in models]
        return out
    raise AeganError(f"unknown benchmark suite {suite!r}: use modes, tricks or images")


def run_bench(suite: str, models: list[str] | None = None, seeds: int = 5, out: str | Path = "bench",
              data: tuple[str, ...] | None = None, threads: int = 0, minutes: float | None = None,
              n: int = 10_000, jobs: int = 1) -> list[dict[str, Any]]:
    from aegan.evaluate import evaluate
    from aegan.report import write_report
    from aegan.samplers.selection import MIXTURES

    if seeds < 1:
        raise AeganError(f"--seeds must be at least 1, got {seeds}")
    if jobs < 1:
        raise AeganError(f"--jobs must be at least 1, got {jobs}")
    chosen = variants(suite, models)
    if suite == "images":
        return run_images(chosen, seeds, Path(out), data or IMAGE_DATASETS, threads, minutes or IMAGE_MINUTES, n,
                          jobs)
    if minutes is not None:
        raise AeganError(f"--minutes applies to the images suite; the {suite} suite uses each model's step budget")
    if jobs != 1:
        raise AeganError(f"--jobs applies to the images suite; the {suite} suite runs one model at a time")
    data = data or DATASETS
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, model, overrides, steps in chosen:
        for dataset in data:
            for seed in range(seeds):
                folder = out / f"{name.replace('+', '_')}-{dataset}-s{seed}"
                t0 = time.perf_counter()
                settings = {"progress": False, **({"fabric.threads": threads} if threads else {}),
                            "code_models": MIXTURES, **overrides}
                run = finished_or_trained(folder, _steps_done, model, dataset, steps=steps, seed=seed,
                                          overrides=settings)
                train_s = run_train_seconds(folder) or time.perf_counter() - t0
                for sampler in dict.fromkeys(("prior", run.default_sampler)):  # the encoder models through both
                    scores = evaluate(run, n=10_000, sampler=sampler, seed=seed)
                    row = {"variant": name, "model": model, "data": dataset, "seed": seed, **scores,
                           "train_s": round(train_s, 1)}
                    rows.append(row)
                    print(f"{name:>28} {dataset:>7} seed {seed} {sampler:>5}: {row['modes_covered']}/"
                          f"{row['modes_total']} modes, {row['high_quality_fraction']:.1%} high quality, "
                          f"kl {row['kl_modes']:.4f}, {row['train_s']:.0f} s", flush=True)
                atomic_write_text(out / "results.json", json.dumps(rows, indent=1))
    table = summary_table(rows)
    atomic_write_text(out / "table.md", table)
    print("\n" + table)
    write_report(out)
    return rows


def finished_or_trained(folder: Path, finished: Callable[[Any, Path], bool], model: str, dataset: str,
                        **train_args: Any) -> Any:
    """The run in `folder` if it loads and is `finished`; else trained there from the start with `train_args`:
    an interrupted benchmark continues where it stopped."""
    from aegan.run import Run
    from aegan.train import train

    try:
        run = Run.load(folder)
        if finished(run, folder):
            return run
    except AeganError:
        pass
    return train(model, dataset, out=folder, overwrite=True, **train_args)


def _steps_done(run: Any, folder: Path) -> bool:
    return run.step >= run.config.steps


def run_train_seconds(folder: Path) -> float:
    """Training wall time of a run, from the last record of its metrics.jsonl (start-up and scoring excluded)."""
    lines = (folder / "metrics.jsonl").read_text().splitlines() if (folder / "metrics.jsonl").is_file() else []
    return float(json.loads(lines[-1])["time_s"]) if lines else 0.0


def run_images(chosen: list[tuple[str, str, dict[str, Any], int | None]], seeds: int, out: Path,
               data: tuple[str, ...], threads: int, minutes: float, n: int, jobs: int = 1) -> list[dict[str, Any]]:
    """The images suite: each variant × data set × seed trained for `minutes` of wall time, scored through its
    default sampler and (encoder models) its prior; table.md groups rows by (variant, data, sampler). Rows that an
    earlier invocation stored in out/results.json for other runs stay there and in the table, so a suite can be
    run in parts (say, more seeds for some models); this invocation's runs replace their own old rows. Returns this
    invocation's rows.

    `jobs` > 1 trains and scores that many runs at once, in worker processes of one thread each (on a 2-core
    machine, jobs=2 gives each run one core: the same compute for every method, in half the wall time)."""
    from aegan.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    tasks = [(name, model, dataset, seed, {"progress": False, **({"fabric.threads": threads} if threads else {}),
                                           **overrides})
             for name, model, overrides, _ in chosen for dataset in data for seed in range(seeds)]
    mine = {(name, dataset, seed) for name, _, dataset, seed, _ in tasks}
    kept = [r for r in _stored_rows(out) if (r.get("variant"), r.get("data"), r.get("seed")) not in mine]
    rows: list[dict[str, Any]] = []

    def record(new_rows: list[dict[str, Any]]) -> None:
        rows.extend(new_rows)
        atomic_write_text(out / "results.json", json.dumps(kept + rows, indent=1))

    if jobs <= 1:
        for task in tasks:
            record(_image_run(out, minutes, n, *task))
    else:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        from aegan.loop.distributed import one_thread

        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=one_thread) as pool:
            futures = [pool.submit(_image_run, out, minutes, n, *task) for task in tasks]
            for f in futures:
                record(f.result())
    table = mean_sd_table(kept + rows, ("variant", "data", "sampler"), IMAGE_KEYS)
    atomic_write_text(out / "table.md", table)
    print("\n" + table)
    write_report(out)
    return rows


def _stored_rows(out: Path) -> list[dict[str, Any]]:
    """The rows an earlier invocation left in out/results.json (none when there is no readable list there)."""
    try:
        rows = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _image_run(out: Path, minutes: float, n: int, name: str, model: str, dataset: str, seed: int,
               settings: dict[str, Any]) -> list[dict[str, Any]]:
    """One run of the images suite, trained (or reused when finished) and scored: a row per sampler."""
    from aegan.evaluate import evaluate

    folder = out / f"{name.replace('+', '_')}-{dataset}-s{seed}"
    run = finished_or_trained(folder, _budget_done, model, dataset, minutes=minutes, seed=seed, overrides=settings)
    common = {"variant": name, "model": model, "data": dataset, "seed": seed, "steps": run.step,
              "train_s": round(run_train_seconds(folder), 1)}
    rows = []
    for sampler in dict.fromkeys(("prior", run.default_sampler)):  # prior first: eval.json keeps the default's
        scores = evaluate(run, n=n, sampler=sampler, seed=seed, check=True)
        rows.append({**common, **scores})
        print(f"{name:>10} {dataset:>22} seed {seed} {sampler:>8}: fd {scores.get('fd', 0):.1f}, "
              f"recall {scores.get('recall', 0):.3f}, coverage {scores.get('coverage', 0):.3f}, "
              f"kl_modes {scores.get('kl_modes', 0):.3f}, {run.step} steps", flush=True)
    return rows


def _budget_done(run: Any, folder: Path) -> bool:
    """A budgeted run is finished when it reached its steps or spent its minutes (the clock stopped it)."""
    cfg = run.config
    return run.step >= cfg.steps or (cfg.minutes > 0 and run_train_seconds(folder) >= cfg.minutes * 60)
