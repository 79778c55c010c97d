"""What a training step sees, as a pure function of (seed, step): its batch, its random draws and its learning rate.

Nothing here keeps state that a checkpoint must hold, so a resumed run sees exactly the batches and draws the
uninterrupted run would have seen, and N processes together see the global batch of one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from aegan.config import Config
from aegan.errors import ConfigError

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
