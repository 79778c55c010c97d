"""Temperature sweep: precision against recall of every run in an images-suite folder, through each road.

    python benchmarks/temperature.py bench/images                      # τ 1, 1.15, 1.3, 1.5; one process
    python benchmarks/temperature.py bench/images --temperatures 1,1.3 --jobs 2

A generator whose outputs vary less than the data (subtle collapse) is more precise than it is complete; drawing its
noise wider, at a temperature τ > 1 (`aegan eval --temperature`), trades precision for recall. One operating point
per method then says little: a method can look better on recall only because it sits elsewhere on the same curve.
This sweep scores each finished run under DIR (a folder with config.yaml and checkpoints: what `aegan bench images`
leaves) through the prior and, for encoder models, through its default code model (the one the MMD rule chose), at
each temperature: 10,000 samples, every image metric with the check classifier's fd (a second classifier no method
trained against). A code model without a temperature (twostage, diffusion, ...) is scored at τ = 1 only.

`fd_features` is a reading without the judges: the FD between the samples and 10,000 training images in the
features of the run's own feature network φ (aegan.metrics.feature_net, the perceptual term's network, trained on
the data and never the evaluator). The τ with the lowest mean fd_features per model and road is what a user can pick
without the evaluator; temperature.md names it under the table.

Writes DIR/temperature.json (a row per run, road and τ; rows already there are kept and not scored again),
DIR/temperature.md (mean ± std over seeds per model, road and τ) and DIR/temperature.png (fd and precision against
recall, a line per model and road). Exit 2 (one line) when DIR holds no run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import log  # noqa: E402

TEMPERATURES = (1.0, 1.15, 1.3, 1.5)
KEYS = ("fd", "fd_check", "fd_features", "precision", "recall", "density", "coverage", "kl_modes")
REFERENCE = 10_000  # training images fd_features compares with
_FEATURES: dict[str, tuple[Any, Any]] = {}  # data set -> (φ, φ of the reference images): once per process


def score(folder: str, road: str, temperature: float, n: int) -> dict[str, Any]:
    """One (run, road, τ) scored: the run's identity and the metrics."""
    import aegan
    from aegan.evaluate import evaluate

    run = aegan.load(folder)
    sampler = run.default_sampler if road == "code model" else "prior"
    scores = evaluate(run, n=n, sampler=sampler, seed=run.config.seed, check=True, write=False,
                      temperature=temperature)
    scores["fd_features"] = fd_features(run, sampler, temperature, n)
    log(f"temperature: {Path(folder).name} {sampler} τ {temperature:g}: "
        + ", ".join(f"{k} {scores[k]:.3g}" for k in ("fd", "precision", "recall", "coverage") if k in scores))
    return {"run": Path(folder).name, "model": run.config.model, "data": run.config.data, "seed": run.config.seed,
            "steps": run.step, "road": road, "sampler": sampler, "temperature": temperature,
            **{k: scores.get(k) for k in KEYS}}


def fd_features(run: Any, sampler: str, temperature: float, n: int) -> float:
    """FD between `n` samples (the evaluator's seed) and REFERENCE training images in the run's own feature network."""
    import torch

    from aegan.metrics.feature_net import feature_network
    from aegan.metrics.fid import frechet_distance

    def features(phi: Any, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([phi(b.float()) for b in x.split(1000)])

    if run.config.data not in _FEATURES:
        ds = run.data()
        phi = feature_network(ds, log=lambda m: None)
        reference = ds.train[torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(0))[:REFERENCE]]
        _FEATURES[run.config.data] = phi, features(phi, reference)
    phi, f_ref = _FEATURES[run.config.data]
    x = run.sample_model(n, sampler, seed=run.config.seed, temperature=temperature)  # evaluate's draws, again
    return frechet_distance(f_ref, features(phi, x))


def lowest(rows: list[dict[str, Any]], key: str = "fd_features") -> str:
    """A line per (model, road): the τ with the lowest mean `key` over seeds."""
    import math

    means: dict[tuple[str, str], dict[float, list[float]]] = {}
    for r in rows:
        if r.get(key) is not None and math.isfinite(r[key]):
            means.setdefault((r["model"], r["road"]), {}).setdefault(r["temperature"], []).append(r[key])
    return "\n".join(f"- {model}, {road}: lowest {key} at τ = {min(by_t, key=lambda t: statistics.mean(by_t[t])):g}"
                     for (model, road), by_t in sorted(means.items())) + "\n"


def tasks_of(folder: Path, temperatures: tuple[float, ...]) -> list[tuple[str, str, float]]:
    """(run folder, road, τ) for every finished run under `folder`."""
    import aegan
    from aegan.run import TEMPERED

    out = []
    for run_dir in sorted(p.parent for p in folder.glob("*/config.yaml")):
        run = aegan.load(run_dir)
        roads = {"prior": "prior"}
        if run.model.has_encoder:
            roads["code model"] = run.default_sampler
        for road, sampler in roads.items():
            out += [(str(run_dir), road, t) for t in temperatures if t == 1 or sampler in TEMPERED]
    return out


def draw(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    points: dict[tuple[str, str], dict[float, list[dict[str, Any]]]] = {}
    for r in rows:
        points.setdefault((r["model"], r["road"]), {}).setdefault(r["temperature"], []).append(r)
    for (model, road), by_t in sorted(points.items()):
        pts = [(t, *(statistics.mean(r[k] for r in rs) for k in ("recall", "fd", "precision")))
               for t, rs in sorted(by_t.items())]  # (τ, recall, fd, precision), means over seeds
        for ax, k in zip(axes, (2, 3), strict=True):
            ax.plot([p[1] for p in pts], [p[k] for p in pts], marker="o", label=f"{model}, {road}")
            for p in pts:
                ax.annotate(f"{p[0]:g}", (p[1], p[k]), textcoords="offset points", xytext=(3, 3), fontsize=7)
    for ax, name in zip(axes, ("fd (lower is better)", "precision"), strict=True):
        ax.set_xlabel("recall")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("sampling temperature τ (labels): precision against recall, mean over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="a folder of runs (an `aegan bench images` output)")
    p.add_argument("--temperatures", default=",".join(f"{t:g}" for t in TEMPERATURES))
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--jobs", type=int, default=1, help="processes, one thread each")
    a = p.parse_args(argv)
    folder = Path(a.folder)
    try:
        temperatures = tuple(float(t) for t in a.temperatures.split(","))
    except ValueError:
        print(f"temperature: --temperatures must be numbers separated by commas, got {a.temperatures!r}",
              file=sys.stderr)
        return 2
    if not all(0 < t < float("inf") for t in temperatures):
        print(f"temperature: every temperature must be a finite number above 0, got {a.temperatures}", file=sys.stderr)
        return 2
    from aegan.errors import AeganError
    from aegan.tables import mean_sd_table

    try:
        tasks = tasks_of(folder, temperatures)
    except AeganError as e:
        print(f"temperature: {e}", file=sys.stderr)
        return 2
    if not tasks:
        print(f"temperature: {folder} holds no finished run (no */config.yaml)", file=sys.stderr)
        return 2
    out_json = folder / "temperature.json"
    rows = json.loads(out_json.read_text()) if out_json.is_file() else []
    done = {(r["run"], r["road"], r["temperature"]) for r in rows}
    todo = [t for t in tasks if (Path(t[0]).name, t[1], t[2]) not in done]

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        out_json.write_text(json.dumps(rows, indent=1) + "\n")

    from aegan.loop.distributed import one_thread, worker_pool

    if a.jobs <= 1:
        one_thread()
        for t in todo:
            record(score(*t, a.n))
    else:
        with worker_pool(a.jobs) as pool:
            for f in [pool.submit(score, *t, a.n) for t in todo]:
                record(f.result())
    rows.sort(key=lambda r: (r["model"], r["road"], r["temperature"], r["seed"]))
    table = mean_sd_table(rows, ("model", "data", "road", "temperature"), KEYS)
    table += "\n" + lowest(rows)
    (folder / "temperature.md").write_text(table)
    draw(rows, folder / "temperature.png")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
