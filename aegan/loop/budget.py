"""Wall-time budgets: `--minutes M` trains for M minutes, so that methods can be compared at equal compute.

A budget becomes a number of steps before training starts (`plan`): a few steps of a throwaway copy of the model
are timed, and one sample picture, one checkpoint and one collapse-monitor check; the steps are what fits in M
minutes with the run's 9 pictures and checkpoints and its monitor checks, recorded in config.yaml (`minutes`,
`step_seconds`: the step time with the monitor's share, `steps`). The learning-rate schedule therefore spans the
budget, and the run is a pure function of (seed, step) as any other: an interrupted run resumes exactly.

A few seconds of timing at the start can be wrong by a fifth or more (another process on the cores then, caches
warming up), so a tenth of the way in (`replan_at`) the run re-plans once from its own mean step time
(`replanned_steps`), rewriting `steps`, `step_seconds` and `replan_step` in config.yaml; the steps so far lie in the
schedule's held part under both plans, so their learning rates do not change and a resumed run continues the same
trajectory (the re-plan itself depends on the time measured, as the first plan does). A run whose steps were capped
(`--steps` with `--minutes`) or planned below REPLAN_MIN_STEPS keeps its plan. The clock also guards the budget: if
training takes longer than planned, the loop stops when the budget is spent, with a final checkpoint. The time of
the measurement itself (a few seconds) is not counted.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric

from aegan import data as data_lib
from aegan import monitor
from aegan.config import Config
from aegan.errors import ConfigError
from aegan.loop.configure import resolve_defaults
from aegan.loop.distributed import Engine, make_optimizers
from aegan.loop.divergence import DivergenceWatch
from aegan.loop.run_folder import LossMeans
from aegan.loop.state import Progress, save_state
from aegan.loop.steps import Batches, BatchOrder, StepNoise
from aegan.loop.tricks import LoopTricks
from aegan.metrics.feature_net import feature_network
from aegan.models import build_model
from aegan.plots import generate_eval, picture

HOOK_EVENTS = 9  # sample pictures and checkpoints of a run: every steps // 8, and at the end
REPLAN_MIN_STEPS = 200  # shorter budgeted runs keep their first plan


def seconds_per_step(step: Callable[[int], object], warmup: int = 2, seconds: float = 3.0, most: int = 30) -> float:
    """Mean wall time of `step(i)` after `warmup` calls: at least 3 timed calls, at most `most` or `seconds`."""
    for i in range(warmup):
        step(i)
    t0, n = time.perf_counter(), 0
    while n < 3 or (n < most and time.perf_counter() - t0 < seconds):
        step(warmup + n)
        n += 1
    return (time.perf_counter() - t0) / n


def budget_steps(minutes: float, step_seconds: float, cap: int | None = None) -> int:
    """Steps that fit in `minutes` at `step_seconds` each (at least 1), at most `cap` when given (--steps)."""
    steps = max(1, int(minutes * 60 / step_seconds))
    return min(steps, cap) if cap else steps


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class TrialStep:
    """A throwaway copy of the model with its optimizers, batches and loop tricks, and `__call__(i)`: the loop's own
    training step i (step noise, Fabric's backward, the divergence watch, the loop tricks, the loss sums). Used to
    time steps for a budget, and by the speed benchmark to time and count FLOPs of any model's step."""

    def __init__(self, cfg: Config, ds: data_lib.Dataset, fabric: Fabric, train_step: Callable[..., object],
                 nets: Any = None) -> None:
        if cfg.fabric.threads:
            torch.set_num_threads(cfg.fabric.threads)
        self.cfg, self.train_step = cfg, train_step
        model = build_model(cfg, ds.shape, nets).to(fabric.device)  # copies of the user's nets: theirs stay untouched
        if model.needs_feature_net:
            model.phi = feature_network(ds).to(fabric.device)
        self.nets, self.phases = dict(model.nets.items()), model.phases()
        self.optimizers = make_optimizers(cfg, self.nets, self.phases, fabric)
        self.batches = Batches(ds, BatchOrder(ds.n_train, cfg.batch_size, cfg.seed, fabric.global_rank,
                                              fabric.world_size), fabric.device, cfg.loader_workers)  # reading counts
        self.z = model.prior(64 if ds.kind == "image" else 2000, "cpu", generator=torch.Generator().manual_seed(0))
        self.collapse = monitor.for_run(cfg, ds, model)  # before the prior is replaced, as in the loop
        self.noise = StepNoise(model, cfg.seed, fabric.global_rank, fabric.world_size, fabric.device)
        self.model = model
        model.prior = self.noise  # type: ignore[method-assign]
        self.engine = Engine(fabric.backward, fabric.autocast, fabric.world_size,
                             DivergenceWatch(self.phases, fabric.device))
        self.params = {n: list(net.parameters()) for n, net in self.nets.items()}
        self.loop_tricks, self.means = LoopTricks(cfg, model, self.nets), LossMeans()

    def __call__(self, i: int) -> None:
        self.noise.start(i)
        x = self.batches(i)
        self.means.add(self.train_step(self.model, self.nets, self.phases, self.optimizers, x, i, self.cfg.optim.lr,
                                       self.engine, self.params, self.loop_tricks))

    def close(self) -> None:
        self.batches.close()


def plan(cfg: Config, ds: data_lib.Dataset, fabric: Fabric, train_step: Callable[..., object],
         cap: int | None = None, nets: Any = None) -> None:
    """Turn `cfg.minutes` into `cfg.steps` (at most `cap`), measured on a throwaway model: rank 0's times serve every
    process. `train_step` is the loop's (aegan.train.train_step)."""
    step = TrialStep(cfg, ds, fabric, train_step, nets)
    step_s = seconds_per_step(step)
    step.close()
    model, nets_, z, collapse = step.model, step.nets, step.z, step.collapse
    with tempfile.TemporaryDirectory(prefix="aegan-budget-") as tmp:
        hook_s = _timed(lambda: picture(model, nets_, z, ds.transform, ds.kind, ds.info().get("modes"),
                                        Path(tmp) / "p.png"))
        hook_s += _timed(lambda: save_state(Path(tmp), Progress(), nets_, step.optimizers, step.loop_tricks, 1))
    if collapse is not None:  # its share per step
        step_s += _timed(lambda: collapse.check(generate_eval(model, nets_, collapse.z))) / cfg.monitor.every
    step_s, hook_s = (float(v) for v in fabric.broadcast((step_s, hook_s)))
    cfg.step_seconds = round(step_s, 6)
    uncapped = budget_steps(max(cfg.minutes - HOOK_EVENTS * hook_s / 60, cfg.minutes / 2), cfg.step_seconds)
    cfg.steps = min(uncapped, cap) if cap else uncapped
    cfg.replan_step = -1 if cfg.steps < uncapped or cfg.steps < REPLAN_MIN_STEPS else 0  # capped: steps are fixed
    resolve_defaults(cfg, ds.kind)


def replan_at(steps: int) -> int:
    """The step at which a budgeted run of `steps` planned steps re-plans (a tenth of the way)."""
    return max(REPLAN_MIN_STEPS // 10, steps // 10)


def replanned_steps(cfg: Config, step: int, seconds: float) -> int:
    """The steps that fit in the budget, from the run's own mean step time over its first `step` steps (`seconds`
    of training: warm-up and the start's checkpoint included, so on the safe side) and, for pictures and
    checkpoints, the share of the budget the first plan (cfg.steps at cfg.step_seconds) left them (less the part
    already used). Under the cosine
    schedule at least 2·step + 2, so that every step so far stays in the held part of either plan: their learning
    rates, and so a resumed run, do not change."""
    budget_s, planned = cfg.minutes * 60, cfg.steps
    hooks_s = max(0.0, budget_s - planned * cfg.step_seconds) * (1 - step / planned)
    new = step + max(1, int((budget_s - seconds - hooks_s) / (seconds / step)))
    held = int(step / cfg.optim.hold) + 2 if cfg.optim.schedule == "cosine" and cfg.optim.hold > 0 else step + 1
    return max(new, held)


def measured_step_seconds(run_dir: Path) -> float:
    """Seconds per step of an earlier run, from its metrics.jsonl (for `--resume RUN --minutes M` on a run that was
    trained by steps): the last record's time_s over its step."""
    last = None
    path = run_dir / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", 0) > 0 and record.get("time_s", 0) > 0:
            last = record
    if last is None:
        raise ConfigError(f"{run_dir} has no timed steps in metrics.jsonl, so --minutes cannot be turned into steps: "
                          f"resume with --steps N instead")
    return float(last["time_s"]) / int(last["step"])
