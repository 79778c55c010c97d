"""`aegan demo`, the main job: collapse and its cure side by side. A plain GAN, an adversarial autoencoder
and α-GAN each train on ring8 and grid25; each is scored with its default sampler (the GAN through its prior,
the encoder models through a Gaussian mixture fitted to their codes); the table and report.html show the result.
"""

from __future__ import annotations

import time
from pathlib import Path

from aegan.evaluate import evaluate
from aegan.report import write_report
from aegan.tables import text_table
from aegan.train import train

DEMO_RUNS: list[tuple[str, str, int | None]] = [  # (model, data, steps; None = the model's default)
    ("gan", "ring8", 3000),
    ("aae", "ring8", None),
    ("alphagan", "ring8", None),
    ("gan", "grid25", 3000),
    ("aae", "grid25", None),
    ("alphagan", "grid25", None),
]
TABLE_KEYS = ["run", "modes_covered", "modes_total", "high_quality_fraction", "kl_modes", "sampler", "train_s"]


def demo(out: str | Path = "demo", steps: int | None = None, seed: int = 0) -> Path:
    """Train and score every demo run into `out`, print a table, write `out/report.html`; return its path."""
    out = Path(out)
    rows = []
    for model, data, default_steps in DEMO_RUNS:
        t0 = time.perf_counter()
        run = train(model, data, steps=steps or default_steps, out=out / f"{model}-{data}", seed=seed,
                    overrides={"progress": False}, overwrite=True)
        train_s = time.perf_counter() - t0
        scores = evaluate(run, n=10_000)
        rows.append({"run": f"{model}-{data}", **scores, "train_s": round(train_s, 1)})
        print(f"{model} on {data}: {scores.get('modes_covered')}/{scores.get('modes_total')} modes, "
              f"{scores.get('high_quality_fraction', 0):.1%} high quality, {train_s:.0f} s", flush=True)
    print()
    print(text_table(rows, TABLE_KEYS))
    report = write_report(out)
    print(f"\nreport: {report}")
    return report
