"""Save and restore a run's whole state as checkpoints (aegan/checkpoint.py): weights, optimizers, the loop tricks'
tensors, RNG states, and where the run stands (`Progress`). Resuming from it continues the run bit for bit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aegan import checkpoint
from aegan.errors import CheckpointError
from aegan.loop.tricks import LoopTricks


@dataclass
class Progress:
    """Where a run stands: the JSON part of its checkpoint besides optimizer and RNG states."""

    step: int = 0  # steps done
    elapsed_s: float = 0.0  # training wall time up to `step`
    lr_scale: float = 1.0  # the learning rate's factor after rollbacks (optim.rollback_factor per rollback)
    rollbacks: int = 0  # rollbacks so far


def save_state(out: Path, progress: Progress, nets: dict[str, torch.nn.Module], optimizers: dict[str, Any],
               loop_tricks: LoopTricks, keep: int) -> None:
    """Checkpoint `progress.step`: weights, the loop tricks' tensors, optimizer and RNG states, and `progress`."""
    tensors: dict[str, torch.Tensor] = {f"nets.{name}.{k}": v for name, net in nets.items()
                                        for k, v in net.state_dict().items()}
    tensors.update(loop_tricks.state())
    optim_meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        t, m = checkpoint.optimizer_state(name, opt)
        tensors.update(t)
        optim_meta[name] = m
    rng_tensors, rng_meta = checkpoint.rng_state()
    tensors.update(rng_tensors)
    meta = {"optim": optim_meta, "rng": rng_meta, "elapsed_s": round(progress.elapsed_s, 3),
            "lr_scale": progress.lr_scale, "rollbacks": progress.rollbacks}
    checkpoint.save(out / "checkpoints", progress.step, tensors, meta, keep=keep)


def restore_state(state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None, nets: dict[str, torch.nn.Module],
                  optimizers: dict[str, Any], loop_tricks: LoopTricks) -> Progress:
    """Load a checkpoint (from checkpoint.latest) into the networks, optimizers, loop tricks and RNGs."""
    if state is None:
        raise CheckpointError("no checkpoint to go back to")
    tensors, meta = state
    checkpoint.load_weights(nets, tensors)
    loop_tricks.load(tensors)
    for name, opt in optimizers.items():
        checkpoint.load_optimizer_state(name, opt, tensors, meta["optim"][name])
    checkpoint.set_rng_state(tensors, meta["rng"])
    return Progress(int(meta["step"]), float(meta.get("elapsed_s", 0.0)), float(meta.get("lr_scale", 1.0)),
                    int(meta.get("rollbacks", 0)))
