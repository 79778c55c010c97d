"""Devices, precision and processes through Lightning Fabric: start-up, the gradient mean, rank-zero helpers.

Each of N processes takes its share of the global batch (aegan/loop/steps.py) and the loop averages the phase's
gradients over the processes, so N processes follow the run of one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from lightning_fabric import Fabric

from aegan.config import Config
from aegan.errors import AeganError, ConfigError
from aegan.loop.divergence import DivergenceWatch
from aegan.models import Phase


@dataclass
class Engine:
    """What the loop adds around each phase: Fabric's backward and autocast, the gradient mean over processes, and
    the divergence watch."""

    backward: Callable[..., Any] = torch.Tensor.backward
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext
    world: int = 1  # processes sharing the global batch
    watch: DivergenceWatch | None = None


def start_fabric(cfg: Config) -> Fabric:
    """Lightning Fabric for `cfg.fabric`, launched: with strategy ddp on one node this starts the other processes,
    each re-running the same command; under torchrun or SLURM the launcher has started them already.

    Settings Fabric rejects (an accelerator this machine lacks, an unknown strategy or precision), spawning
    strategies (they need the loop as a function) and a batch the processes cannot share are ConfigErrors,
    raised before any other process starts.
    """
    f = cfg.fabric
    try:
        fabric = Fabric(accelerator=f.accelerator, devices=f.devices, num_nodes=f.num_nodes, strategy=f.strategy,
                        precision=f.precision)  # type: ignore[arg-type]
    except (ValueError, RuntimeError, TypeError, ImportError) as e:
        first = " ".join(str(e).split(". ")[0].split())
        raise ConfigError(f"Lightning Fabric rejects fabric.accelerator={f.accelerator} fabric.devices={f.devices} "
                          f"fabric.strategy={f.strategy} fabric.precision={f.precision}: {first}") from None
    if cfg.batch_size % fabric.world_size:
        raise ConfigError(f"batch_size {cfg.batch_size} must be divisible by the {fabric.world_size} processes "
                          f"(fabric.devices × fabric.num_nodes): change --batch-size or fabric.devices")
    try:
        fabric.launch()
    except TypeError:  # ddp_spawn, ddp_fork, ...: Fabric wants launch(function)
        raise ConfigError(f"fabric.strategy={f.strategy} is not supported: use fabric.strategy=ddp, which starts "
                          f"one process per device re-running the same command") from None
    return fabric


def make_optimizers(cfg: Config, nets: dict[str, torch.nn.Module], phases: Sequence[Phase],
                    fabric: Fabric) -> dict[str, Any]:
    """One Adam per phase, over the phase's networks, set up by Fabric (precision, device)."""
    return {p.name: fabric.setup_optimizers(torch.optim.Adam(
        [q for n in p.nets for q in nets[n].parameters()], lr=cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2)))
        for p in phases}


def average_gradients(params: Sequence[torch.Tensor], world: int) -> None:
    """DDP's gradient mean over the processes, as one all-reduce of the phase's flattened gradients.

    Each process's loss is a mean over its equal share of the global batch, so the mean of their gradients is the
    gradient of the mean over the global batch. Done here rather than by DistributedDataParallel, whose hooks
    expect every wrapped parameter to receive a gradient in every backward pass: phases freeze all networks but
    their own, and backpropagate through frozen ones.
    """
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_weights(nets: dict[str, torch.nn.Module], world: int) -> None:
    """Every process takes rank 0's initial weights and buffers. aegan's own networks are built alike everywhere
    (seeded), but a user's own modules (`nets=`) were made before any seed: without this, the processes would
    start from different weights and, averaging gradients only, never agree."""
    if world > 1:
        for net in nets.values():
            for t in [*net.parameters(), *net.buffers()]:
                torch.distributed.broadcast(t.data, src=0)


def mean_over_processes(values: torch.Tensor, world: int) -> torch.Tensor:
    """The mean of `values` over the processes (each holds its own share's means), in place; as is for one."""
    if world > 1:
        torch.distributed.all_reduce(values)
        values /= world
    return values


def on_rank_zero(fabric: Fabric, fn: Callable[[], Any]) -> Any:
    """fn() in global rank 0 only; its result, or its AeganError, reaches every process."""
    result: tuple[bool, Any] = (True, None)
    if fabric.is_global_zero:
        try:
            result = (True, fn())
        except AeganError as e:
            result = (False, str(e))
    ok, value = fabric.broadcast(result)
    if not ok:
        raise AeganError(value)
    return value


def one_thread() -> None:
    """Set-up of a worker process that shares the machine with others: one thread for torch, OpenMP and the BLAS
    libraries, so that k workers on k cores do not oversubscribe them (the demo's toy runs, `aegan bench images
    --jobs`). numpy's OpenBLAS is loaded with torch, before this runs, and had kept one thread per core: a worker
    scoring samples (FD's matrix square root, the PRDC distances) then took the other worker's core, and a run that
    timed its steps for a `--minutes` budget meanwhile most likely planned 20% too few (6,109 steps, not ~7,600).
    The variables cover libraries loaded later; threadpoolctl limits those already loaded."""
    import os

    from threadpoolctl import threadpool_limits

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    threadpool_limits(1)
    torch.set_num_threads(1)


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of `jobs` processes for runs side by side (the demo's, `aegan bench --jobs`, benchmarks/temperature.py),
    to use as a context manager: spawned (a fresh interpreter, no forked torch threads), one thread each
    (`one_thread`), and each ends itself within a second once the process that started it is gone. Without that a
    suite stopped by SIGTERM or SIGKILL left its workers training on into run folders that the next invocation
    trains again: two writers in one folder."""
    from multiprocessing import get_context

    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_start_worker,
                               initargs=(os.getpid(),))


def _start_worker(parent: int) -> None:
    one_thread()
    threading.Thread(target=_end_with, args=(parent,), name="aegan-parent-watch", daemon=True).start()


def _end_with(parent: int, every: float = 1.0) -> None:
    """Wait while `parent` is this process's parent; once it is gone (this process was handed to init or a
    subreaper), end at once, with the processes this one started (the speed suite's pythae race): checkpoints are
    written atomically, so none is left half-written."""
    import signal
    from contextlib import suppress

    while os.getppid() == parent:
        time.sleep(every)
    for pid in descendants(os.getpid()):
        with suppress(OSError):  # ended meanwhile
            os.kill(pid, signal.SIGKILL)
    os._exit(1)


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, their own, and so on (Linux: /proc/<pid>/task/<tid>/children); [] where the
    kernel does not say."""
    from pathlib import Path

    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        return []
    return found + [d for c in found for d in descendants(c)]
