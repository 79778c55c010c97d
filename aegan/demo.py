"""`aegan demo`, the main job: collapse and its cure side by side, on 2-D mixtures and on images.

A plain GAN and α-GAN each train on ring8 and grid25; each is scored with its default sampler (the GAN through its
prior, α-GAN through a Gaussian or a Gaussian mixture fitted to its codes, chosen by aegan.samplers.selection's
rule); `aegan bench modes` adds the other models, as the demo keeps to six minutes on 2 cores. Then the GAN and
α-GAN train on fashion-mnist for the same wall time (`--image-minutes`, one core each), scored by the evaluator
network (α-GAN through its prior and through its default code model, chosen between gaussian and gmm by the same
rule: fitting the learned code models too would add about two minutes). The tables and report.html show the result.

The toy runs train on one thread each, so two run at once on a 2-core machine; the fashion-mnist evaluator trains
beside them the first time (it is cached). Without fashion-mnist on the machine the image part is skipped, with a
note saying how to install it.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from aegan.tables import text_table

DEMO_RUNS: list[tuple[str, str, int | None]] = [  # (model, data, steps; None = the model's default)
    ("gan", "ring8", 3000),
    ("alphagan", "ring8", None),
    ("gan", "grid25", 3000),
    ("alphagan", "grid25", None),
]
IMAGE_DATA = "fashion-mnist"
IMAGE_MODELS = ("gan", "alphagan")
IMAGE_MINUTES = 1.0  # per image run, on one core each, both at once
IMAGE_SAMPLES = 2000  # samples scored per image run (10,000 in `aegan eval`: the demo keeps to its minutes)
TABLE_KEYS = ["run", "modes_covered", "modes_total", "high_quality_fraction", "kl_modes", "sampler", "train_s"]
IMAGE_KEYS = ["run", "sampler", "fd", "precision", "recall", "coverage", "modes_covered", "kl_modes", "steps",
              "train_s"]


def _toy(model: str, data: str, steps: int | None, folder: Path, seed: int) -> dict[str, Any]:
    from aegan.evaluate import evaluate
    from aegan.train import train

    t0 = time.perf_counter()
    from aegan.samplers.selection import MIXTURES

    # 2-D codes: the learned code models are not fitted (aegan.samplers.selection.MIXTURES); the image run has them
    run = train(model, data, steps=steps, out=folder, seed=seed, overrides={"progress": False,
                "code_models": MIXTURES}, overwrite=True)
    train_s = time.perf_counter() - t0
    scores = evaluate(run, n=10_000)
    print(f"{model} on {data}: {scores.get('modes_covered')}/{scores.get('modes_total')} modes, "
          f"{scores.get('high_quality_fraction', 0):.1%} high quality, {train_s:.0f} s", flush=True)
    return {"run": f"{model}-{data}", **scores, "train_s": round(train_s, 1)}


def _evaluator(data: str) -> None:
    from aegan import data as data_lib
    from aegan.metrics.evaluator import for_data

    for_data(data_lib.load(data))


def _image(model: str, data: str, minutes: float, folder: Path, seed: int) -> list[dict[str, Any]]:
    from aegan.evaluate import evaluate
    from aegan.samplers.selection import MIXTURES
    from aegan.train import train

    run = train(model, data, minutes=minutes, out=folder, seed=seed, overwrite=True,
                overrides={"progress": False, "fabric.threads": 1, "code_models": MIXTURES})
    train_s = json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])["time_s"]  # training alone
    rows = []
    for sampler in dict.fromkeys(("prior", run.default_sampler)):  # the default last: eval.json keeps its scores
        scores = evaluate(run, n=IMAGE_SAMPLES, sampler=sampler, seed=seed)
        rows.append({"run": f"{model}-{data}", **scores, "steps": run.step, "train_s": round(train_s, 1)})
        print(f"{model} on {data}, sampler {sampler}: fd {scores.get('fd', 0):.1f}, "
              f"recall {scores.get('recall', 0):.2f}, {scores.get('modes_covered')}/{scores.get('modes_total')} "
              f"classes, {run.step} steps", flush=True)
    return rows


def _image_data_available(data: str) -> bool:
    from aegan import data as data_lib
    from aegan.errors import DataError

    try:
        data_lib.load(data)
    except DataError:
        return False
    return True


def demo(out: str | Path = "demo", steps: int | None = None, seed: int = 0, image_minutes: float = IMAGE_MINUTES,
         workers: int = 2, image_data: str = IMAGE_DATA) -> Path:
    """Train and score every demo run into `out`, print the tables, write `out/report.html`; return its path.

    `steps` overrides every toy run's steps; `image_minutes` = 0 leaves out the image part."""
    from aegan.report import write_report

    out = Path(out)
    images = image_minutes > 0 and _image_data_available(image_data)
    if image_minutes > 0 and not images:
        print(f"aegan: {image_data} is not on this machine, so the demo shows the 2-D mixtures only: install it "
              f"with `apt-get install dataset-fashion-mnist` (or set AEGAN_DATA)", flush=True)
    from aegan.loop.distributed import worker_pool

    with worker_pool(workers) as pool:
        evaluator = pool.submit(_evaluator, image_data) if images else None  # beside the toy runs, the first time
        toys = [pool.submit(_toy, m, d, steps or s, out / f"{m}-{d}", seed) for m, d, s in DEMO_RUNS]
        image_runs: list[Future[list[dict[str, Any]]]] = []
        if images:
            image_runs = [pool.submit(_image, m, image_data, image_minutes, out / f"{m}-{image_data}", seed)
                          for m in IMAGE_MODELS]
        rows = [f.result() for f in toys]
        image_rows = [r for f in image_runs for r in f.result()]
        if evaluator is not None:
            evaluator.result()
    print()
    print(text_table(rows, TABLE_KEYS))
    if image_rows:
        print(f"\n{image_data}, {image_minutes:g} min of training each on one core, {IMAGE_SAMPLES} samples scored "
              f"(modes: the evaluator's classes):")
        print(text_table(image_rows, IMAGE_KEYS))
    report = write_report(out)
    print(f"\nreport: {report}")
    return report
