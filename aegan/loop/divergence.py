"""The divergence watch: NaN/Inf in a phase's loss or in the weights it updated, named by step and network."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from aegan import checkpoint
from aegan.errors import AeganError
from aegan.models import Phase


class TrainingDiverged(AeganError):
    """A loss or a network's weights became NaN or infinite (and no rollback was left)."""


class DivergenceWatch:
    """NaN/Inf checks after every optimizer step, kept on the device and read only when the loop logs, draws or
    checkpoints, so it never waits for the device in between (a checkpoint is written only after a clean read).

    Per phase: one isfinite over its loss and the weight sum of each network it updated. The first failure is stored
    as the code step·slots + slot, so `first()` names the step, and the loss or the network, that went wrong.
    """

    NONE = torch.iinfo(torch.long).max

    def __init__(self, phases: Sequence[Phase], device: torch.device | str = "cpu") -> None:
        self.what: list[str] = []  # slot -> what failed
        self.slots: dict[str, torch.Tensor] = {}  # phase -> its slots: its loss, then each network it updates
        for p in phases:
            first = len(self.what)
            self.what += [f"the loss of phase {p.name} is NaN or Inf",
                          *(f"the weights of {n} became NaN or Inf in phase {p.name}'s update" for n in p.nets)]
            self.slots[p.name] = torch.arange(first, len(self.what), device=device)
        self.code = torch.full((), self.NONE, dtype=torch.long, device=device)

    @torch.no_grad()
    def check(self, phase: Phase, step: int, loss: torch.Tensor, params: dict[str, list[torch.Tensor]]) -> None:
        sums = (torch.stack([p.sum() for p in params[n]]).sum().float() for n in phase.nets)  # NaN/Inf propagate
        values = torch.stack([loss.detach().float(), *sums])
        codes = torch.where(values.isfinite(), self.NONE, step * len(self.what) + self.slots[phase.name])
        torch.minimum(self.code, codes.min(), out=self.code)

    def first(self, world: int = 1) -> str | None:
        """'at step N: what' for the first failure since `reset`, agreed by every process; None if all is finite."""
        code = self.code.clone()
        if world > 1:
            torch.distributed.all_reduce(code, op=torch.distributed.ReduceOp.MIN)
        if int(code) == self.NONE:
            return None
        step, slot = divmod(int(code), len(self.what))
        return f"at step {step + 1}: {self.what[slot]}"

    def reset(self) -> None:
        self.code.fill_(self.NONE)


def diverged(failure: str, rollbacks: int, lr_scale: float, ckpt_dir: Path) -> TrainingDiverged:
    """The one-line error for a run that diverged with no rollback left."""
    tried = f" after {rollbacks} rollback(s) to lr × {lr_scale:g}" if rollbacks else ""
    kept = (f"the last good checkpoint is kept in {ckpt_dir}" if checkpoint.list_checkpoints(ckpt_dir)
            else "no checkpoint had been written yet")
    return TrainingDiverged(f"training diverged {failure}{tried}; {kept}: lower optim.lr, or set optim.rollback=2 "
                            f"to go back to the last good checkpoint with a lower learning rate automatically")
