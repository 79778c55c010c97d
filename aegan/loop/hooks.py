"""The loop's state while it trains (`Loop`) and what it does between steps: the log line, the collapse monitor,
checkpoints, and the rollback after a divergence. aegan/train.py's `fit` calls them in that order."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric

from aegan import checkpoint, monitor
from aegan import data as data_lib
from aegan.config import Config
from aegan.loop.distributed import Engine
from aegan.loop.divergence import DivergenceWatch, diverged
from aegan.loop.run_folder import LossMeans, RunLog
from aegan.loop.state import Progress, restore_state, save_state
from aegan.loop.tricks import LoopTricks
from aegan.models import Model, Phase
from aegan.plots import generate_eval


@dataclass
class Loop:
    """What one training run holds while it trains; `fit` builds it, the hooks below read and update it."""

    cfg: Config
    ds: data_lib.Dataset
    out: Path
    fabric: Fabric
    model: Model
    nets: dict[str, torch.nn.Module]
    phases: list[Phase]
    optimizers: dict[str, Any]
    loop_tricks: LoopTricks
    progress: Progress
    log: RunLog
    bar: Any  # tqdm progress bar
    params: dict[str, list[torch.Tensor]] = field(init=False)
    engine: Engine = field(init=False)
    means: LossMeans = field(default_factory=LossMeans)
    started: float = field(default_factory=time.perf_counter)  # this process's start, for elapsed time

    def __post_init__(self) -> None:
        self.params = {name: list(net.parameters()) for name, net in self.nets.items()}
        self.engine = Engine(self.fabric.backward, self.fabric.autocast, self.fabric.world_size,
                             DivergenceWatch(self.phases, self.fabric.device))
        self.elapsed_before = self.progress.elapsed_s  # training time of earlier processes (resumption)

    def seconds(self) -> float:
        return round(self.elapsed_before + time.perf_counter() - self.started, 3)


def flush_log(loop: Loop, lr: float) -> dict[str, Any]:
    """The step's record: time, learning rate and the mean losses since the last log line (shown on the bar)."""
    record = {"step": loop.progress.step, "time_s": loop.seconds(), "lr": lr,
              **loop.means.flush(loop.fabric.world_size, loop.fabric.device)}
    loop.bar.set_postfix({k.split("/")[-1]: f"{v:.3f}" for k, v in record.items() if k.startswith("loss/")})
    return record


def watch_collapse(loop: Loop, collapse: monitor.CollapseMonitor, record: dict[str, Any]) -> bool:
    """Score the monitor's fixed probe samples into the step's record (metrics.jsonl has one record per step);
    True when the monitor says stop."""
    check = collapse.check(generate_eval(loop.model, loop.nets, collapse.z))  # the same on every process
    rank0, step = loop.fabric.is_global_zero, loop.progress.step
    record.setdefault("step", step)
    record.setdefault("time_s", loop.seconds())
    record.update(check.values)
    if check.warning and rank0:
        # the probe decodes prior draws: name that road where the model samples through a code model by default
        road = "" if loop.model.samplers[0] == "prior" else " through the prior (code models are fitted after training)"
        loop.bar.set_description_str(f"{loop.cfg.model} on {loop.cfg.data} [collapse?]")
        loop.bar.write(f"aegan: step {step}: possible mode collapse{road}: {check.warning}")
    if check.stop and rank0:
        loop.bar.write(f"aegan: stopped at step {step}: {loop.cfg.monitor.patience} collapse warnings in a row "
                       f"(monitor.stop); the run is kept as it is now")
    return check.stop


def save(loop: Loop) -> None:
    """Checkpoint the whole state (rank 0 writes; every process waits for it)."""
    if loop.fabric.is_global_zero:
        loop.progress.elapsed_s = loop.seconds()
        save_state(loop.out, loop.progress, loop.nets, loop.optimizers, loop.loop_tricks, loop.cfg.keep_checkpoints)
    loop.fabric.barrier()


def replan(loop: Loop, steps: int) -> None:
    """Take the budget's re-planned total of `steps` (rank 0's plan serves every process): config.yaml, the progress
    bar and a record in metrics.jsonl say so."""
    cfg, step = loop.cfg, loop.progress.step
    if loop.fabric.world_size > 1:
        steps = int(loop.fabric.broadcast(steps))
    before, cfg.steps, cfg.replan_step = cfg.steps, steps, step
    cfg.step_seconds = round(loop.seconds() / step, 6)
    loop.bar.total = steps
    if loop.fabric.is_global_zero:
        checkpoint.atomic_write_text(loop.out / "config.yaml", cfg.to_yaml())
        loop.log.write({"step": step, "time_s": loop.seconds(), "event": "replan", "steps_before": before,
                        "steps": steps, "step_seconds": cfg.step_seconds})
        if abs(steps - before) > 0.02 * before:
            loop.bar.write(f"aegan: {cfg.minutes:g}-minute budget re-planned at step {step} from this run's own step "
                           f"time ({cfg.step_seconds * 1000:.1f} ms): {steps} steps instead of {before}")


def rollback(loop: Loop, failure: str) -> None:
    """Back to the last good checkpoint with a lower learning rate, or TrainingDiverged when no rollback is left."""
    cfg, ckpt_dir, before = loop.cfg, loop.out / "checkpoints", loop.progress
    if before.rollbacks >= cfg.optim.rollback:
        raise diverged(failure, before.rollbacks, before.lr_scale, ckpt_dir)
    step = restore_state(checkpoint.latest(ckpt_dir), loop.nets, loop.optimizers, loop.loop_tricks).step
    loop.progress = Progress(step, before.elapsed_s, before.lr_scale * cfg.optim.rollback_factor, before.rollbacks + 1)
    if loop.fabric.is_global_zero:
        print(f"aegan: training diverged {failure}; rollback {loop.progress.rollbacks} of {cfg.optim.rollback}: back "
              f"to step {step} with lr × {loop.progress.lr_scale:g}", flush=True)
    loop.log.rewind(step)
    loop.log.write({"step": step, "time_s": loop.seconds(), "event": "rollback", "rollback": loop.progress.rollbacks,
                    "lr_scale": loop.progress.lr_scale, "reason": failure})
    loop.engine.watch.reset()
    loop.means.clear()
    loop.bar.n = step
    loop.bar.refresh()


def budget_spent(loop: Loop) -> bool:
    """True once training has used its wall-time budget (`--minutes`); rank 0's clock decides for every process."""
    if not loop.cfg.minutes:
        return False
    spent = loop.seconds() >= loop.cfg.minutes * 60
    if loop.fabric.world_size > 1:
        spent = bool(loop.fabric.broadcast(spent))
    if spent and loop.progress.step < loop.cfg.steps and loop.fabric.is_global_zero:
        loop.bar.write(f"aegan: the budget of {loop.cfg.minutes:g} min is spent at step {loop.progress.step} of "
                       f"{loop.cfg.steps} (training took longer per step than measured at the start)")
    return spent
