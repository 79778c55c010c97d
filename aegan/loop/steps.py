"""What a training step sees, as a pure function of (seed, step): its batch, its random draws and its learning rate.

Nothing here keeps state that a checkpoint must hold, so a resumed run sees exactly the batches and draws the
uninterrupted run would have seen, and N processes together see the global batch of one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch

from aegan.config import Config
from aegan.data import Dataset
from aegan.data.stream import collate
from aegan.errors import ConfigError, DataError

if TYPE_CHECKING:
    from aegan.models import Model


def lr_at(cfg: Config, step: int) -> float:
    """Learning rate at `step`: constant, or held for `hold`·steps then cosine-decayed to `final`·lr.

    The schedule is a function of cfg.steps: resuming with a larger --steps stretches the rest of the decay over the
    new total (the rate jumps back up to where the longer schedule is at `step`; see the README).
    """
    lr = cfg.optim.lr
    if cfg.optim.schedule == "constant":
        return lr
    start = cfg.optim.hold * cfg.steps
    if step < start:
        return lr
    t = (step - start) / max(1.0, cfg.steps - start)
    return lr * (cfg.optim.final + (1 - cfg.optim.final) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


class BatchOrder:
    """Shuffled epochs whose order depends only on (seed, epoch): the batch of any step is known without state.

    Each process takes its contiguous share of the global batch, so N processes see the same global batch
    as one process with the same seed.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if batch_size % world:
            raise ConfigError(f"batch_size {batch_size} must be divisible by the {world} processes")
        self.n, self.batch, self.seed = n, batch_size, seed
        self.per_epoch = max(1, n // batch_size)
        self.local = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        positions = torch.arange(i * self.batch, (i + 1) * self.batch) % self.n
        return self._perm[positions][self.local]


def step_seed(seed: int, step: int, stream: int) -> int:
    """A seed for one step's draws, mixed by NumPy's SeedSequence (torch seeds its CPU generator with 32 bits).

    stream 0: the prior draws z of the global batch, the same in every process; 1 + rank: one process's own draws.
    """
    return int(np.random.SeedSequence([seed % 2**32, step, stream]).generate_state(1)[0])


class StepNoise:
    """Every step's random draws as a pure function of (seed, step): resumption needs no RNG state, and N processes
    draw the z of one process.

    Installed as the model's `prior` while it trains: a draw of n codes takes the world·n codes of the global batch
    from a generator seeded by (seed, step), the same in every process, and keeps this process's rows. Draws with an
    explicit generator (the sample pictures) pass through. Other draws (a VAE's ε) come from the global RNG, seeded
    per step and process: exact on resumption, independent between processes, but not those of a 1-process run.
    """

    def __init__(self, model: Model, seed: int, rank: int = 0, world: int = 1,
                 device: torch.device | str = "cpu") -> None:
        self.model_prior = model.prior  # the model's own prior, bound to it
        self.seed, self.rank, self.world, self.device = seed, rank, world, torch.device(device)
        self.generator = torch.Generator()

    def start(self, step: int) -> None:
        self.generator.manual_seed(step_seed(self.seed, step, 0))
        own = step_seed(self.seed, step, 1 + self.rank)
        torch.default_generator.manual_seed(own)  # not torch.manual_seed: it visits every device type (~0.1 ms)
        if self.device.type == "cuda":
            torch.cuda.manual_seed(own)  # this process's GPU

    def __call__(self, n: int, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is not None:
            return self.model_prior(n, device, generator=generator)
        z = self.model_prior(n * self.world, "cpu", generator=self.generator)  # (world·n, latent_dim): global batch
        return z[self.rank * n:(self.rank + 1) * n].to(device)


class Batches:
    """This process's batch of any step: indexed from the training split in memory, or, for data larger than memory
    (`ds.stream`, aegan.data.stream), read from disk by DataLoader worker processes a few batches ahead, in the same
    order (`BatchOrder`), so both paths train bit for bit alike.

    The stream runs from the step asked for: asking for any other step than the next (a rollback, a resumed run)
    starts a new one from there. Pinned memory when the device is a GPU.
    """

    def __init__(self, ds: Dataset, order: BatchOrder, device: torch.device, workers: int = 1) -> None:
        self.order, self.device, self.stream, self.workers = order, device, ds.stream, workers
        self.memory = ds.train.to(device) if ds.stream is None else None
        self._iterator: Iterator[torch.Tensor] | None = None
        self._next = -1

    def __call__(self, step: int) -> torch.Tensor:
        if self.memory is not None:
            return self.memory[self.order.indices(step).to(self.device)]
        if step != self._next or self._iterator is None:
            self._iterator = iter(torch.utils.data.DataLoader(
                self.stream, batch_sampler=_StepIndices(self.order, step), collate_fn=collate,
                num_workers=self.workers, pin_memory=self.device.type == "cuda",
                prefetch_factor=4 if self.workers else None))
        try:
            x = next(self._iterator)
        except DataError as e:  # raised in a worker: keep the one line that says which file and what to do
            raise DataError(str(e).strip().splitlines()[-1].split("DataError: ", 1)[-1]) from None
        self._next = step + 1
        return x.to(self.device, non_blocking=True)

    def close(self) -> None:
        self._iterator = None  # the DataLoader's workers end with it


class _StepIndices:
    """The DataLoader's batch sampler: the indices of steps start, start + 1, ... (endless; the loop stops)."""

    def __init__(self, order: BatchOrder, start: int) -> None:
        self.order, self.start = order, start

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start
        while True:
            yield self.order.indices(step).tolist()
            step += 1
