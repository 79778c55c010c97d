"""Scoring a run: draws samples with a named sampler and writes the eval.json keys of DESIGN §3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aegan import metrics
from aegan.checkpoint import atomic_write_text
from aegan.errors import AeganError
from aegan.run import Run


def evaluate(run: Run | str | Path, n: int = 10_000, sampler: str | None = None, seed: int = 0,
             write: bool = True) -> dict[str, Any]:
    """Score `run` on `n` samples (drawn with `seed`); write RUN/eval.json unless `write` is False."""
    if not isinstance(run, Run):
        run = Run.load(run)
    if n < 1:
        raise AeganError(f"--n must be at least 1, got {n}")
    sampler = sampler or run.model.samplers[0]
    samples = run.sample(n, sampler=sampler, seed=seed)  # data units and layout
    scores: dict[str, Any] = {}
    if run.modes is not None:
        centres, std = run.modes
        scores.update(metrics.mode_stats(samples.reshape(n, -1), centres, std))
    scores.update({"n_samples": n, "seed": seed, "step": run.step, "sampler": sampler})
    if write:
        atomic_write_text(run.path / "eval.json", json.dumps(scores, indent=2) + "\n")
    return scores
