"""Helpers shared by test modules: a run's final weights, and CLI training runs killed with SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from aegan import checkpoint

CLI_TRAIN = [sys.executable, "-m", "aegan.cli", "train"]


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """Network, optimizer and trick tensors of the newest checkpoint of `run_dir`."""
    record = checkpoint.list_checkpoints(run_dir / "checkpoints")[-1]
    tensors = load_file(record.with_suffix(".safetensors"))
    return {k: v for k, v in tensors.items() if k.startswith(("nets.", "optim.", "ema.", "ha."))}


def assert_same_weights(a: Path, b: Path) -> None:
    """The newest checkpoints of runs `a` and `b` hold bit-identical tensors."""
    wa, wb = final_weights(a), final_weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps of the checkpoints in `run_dir`, oldest first."""
    return [int(p.stem.split("_")[1]) for p in checkpoint.list_checkpoints(run_dir / "checkpoints")]


def kill_after_checkpoint(cmd: list[str], run_dir: Path, step: int, timeout: float = 120.0) -> int:
    """Start `cmd` (a CLI training run writing to `run_dir`), SIGKILL it once a checkpoint at `step` or later exists.

    Returns the newest checkpoint step at the kill; fails the test if the run ended first or timed out.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and max(checkpoint_steps(run_dir), default=-1) < step:
        time.sleep(0.02)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not finished, f"{' '.join(cmd)} ended (code {proc.returncode}) before it could be killed"
    newest = max(checkpoint_steps(run_dir), default=-1)
    assert newest >= step, f"no checkpoint at step {step} within {timeout} s"
    return newest


def run_readme_snippet(name: str, folder: Path, monkeypatch) -> None:
    """Run the README's python block after `<!-- snippet: NAME (run by ...) -->` in `folder`, as a user would."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    marker = f"<!-- snippet: {name} "
    assert marker in readme, name
    code = readme.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(folder)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
