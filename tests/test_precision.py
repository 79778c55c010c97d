"""Mixed precision on CPU: bf16-mixed trains (finite losses, float32 weights in the checkpoints) and resumes; a
precision Lightning does not know is refused with exit 2 before a run folder exists."""

from __future__ import annotations

import json
import math

import torch

import aegan
from aegan.checkpoint import latest
from aegan.cli import main


def test_bf16_mixed_trains_on_cpu_and_resumes(tmp_path, tiny):
    overrides = {**tiny, "fabric.precision": "bf16-mixed"}
    aegan.train("alphagan", data="digits", steps=10, out=tmp_path / "a", overrides=overrides)
    run = aegan.resume(tmp_path / "a", steps=15)
    assert run.step == 15 and run.config.fabric.precision == "bf16-mixed"
    records = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    losses = [v for r in records for k, v in r.items() if k.startswith("loss/")]
    assert len(losses) >= 12 and all(math.isfinite(v) for v in losses)
    tensors, _ = latest(tmp_path / "a" / "checkpoints")
    assert all(t.dtype in (torch.float32, torch.int64, torch.uint8) or not t.is_floating_point()
               for t in tensors.values())
    assert torch.isfinite(run.sample(4)).all()


def test_an_unknown_precision_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "gan", "--data", "ring8", "--steps", "5", "--out", str(out),
                 "fabric.precision=bf17-mixed"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "precision" in err[0] and not out.exists()
