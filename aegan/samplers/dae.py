"""`dae`: a denoising autoencoder on the standardized codes, the prior term of PPGN's chains.

A DAE R trained to undo Gaussian noise of standard deviation σ, R(u + σε) ≈ u, estimates the score of the codes'
density: (R(u) − u) / σ² → ∇ᵤ log p(u) as σ → 0 (Alain & Bengio, What Regularized Auto-Encoders Learn from the
Data-Generating Distribution, JMLR 2014, arXiv:1211.4246). PPGN (Nguyen et al. 2017, arXiv:1612.00005) steps its
codes along ε₁ (R(h) − h) with exactly this estimate (aegan.samplers.chains).

On its own the DAE is also a sampler: the chain u ← R(u + σε) started from N(0, I) walks toward the codes'
density (Bengio, Yao, Alain & Vincent, Generalized Denoising Auto-Encoders as Generative Models, NeurIPS 2013,
arXiv:1305.6663); `sample` runs `walk` steps of it. The DAE has no likelihood, so it never competes to be the
default code model (aegan.samplers.selection); it is fitted when a chain or `--sampler dae` asks for it.

Sizes: an MLP of 2 × 256 hidden units (SiLU) with a skip connection, R(u) = u + f(u), so that the untrained DAE is
the identity; 3,000 Adam steps of 512 codes (lr 1e-3, cosine decay), σ = 0.3 code standard deviations by default.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from aegan.samplers.base import Standardize, check_codes, check_n, fit_network, load_net, need, net_tensors

BATCH = 10_000


class _Residual(nn.Module):
    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(d, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                               nn.Linear(hidden, d))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u + self.f(u)  # R(u) = u + f(u)


class DAESampler:
    """R(u) ≈ E[u | u + σε] on standardized codes u = (z − μ)/s; `residual` gives R(u) − u, `score` the
    Alain–Bengio estimate (R(u) − u)/σ² of ∇ log p(u)."""

    name: ClassVar[str] = "dae"
    likelihood: ClassVar[str | None] = None

    def __init__(self, sigma: float = 0.3, hidden: int = 256, steps: int = 3000, batch_size: int = 512,
                 lr: float = 1e-3, walk: int = 50) -> None:
        if not sigma > 0:
            raise ValueError(f"the DAE's noise sigma must be positive, got {sigma}")
        self.sigma, self.hidden, self.steps, self.batch_size, self.lr, self.walk = sigma, hidden, steps, batch_size, \
            lr, walk
        self.net: _Residual | None = None
        self.standardize: Standardize | None = None
        self.dim: int | None = None
        self.fit_loss: list[float] = []

    def fit(self, codes: torch.Tensor, seed: int = 0, progress: bool = False) -> DAESampler:
        z = check_codes(codes)
        self.dim = d = z.shape[1]
        self.standardize = Standardize.fit(z)
        u = self.standardize.to_unit(z)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _Residual(d, self.hidden)

        def loss(u_batch: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            noisy = u_batch + self.sigma * torch.randn(u_batch.shape, generator=g)
            return (net(noisy) - u_batch).square().sum(1).mean() / d  # ‖R(u + σε) − u‖² per dimension

        self.fit_loss = fit_network(net.parameters(), loss, u, steps=self.steps, batch_size=self.batch_size,
                                    lr=self.lr, seed=seed, desc=f"code model {self.name}", progress=progress)
        self.net = net.eval().requires_grad_(False)
        return self

    def _fitted(self) -> tuple[_Residual, Standardize]:
        if self.net is None or self.standardize is None:
            raise RuntimeError("DAESampler used before fit")
        return self.net, self.standardize

    def residual(self, u: torch.Tensor) -> torch.Tensor:
        """R(u) − u (n, d) for standardized codes u; differentiable in u."""
        net, _ = self._fitted()
        return net(u) - u

    def score(self, u: torch.Tensor) -> torch.Tensor:
        """(R(u) − u) / σ²: the estimate of ∇ᵤ log p(u)."""
        return self.residual(u) / self.sigma ** 2

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        net, std = self._fitted()
        check_n(n)
        u = torch.randn(n, self.dim, generator=generator)
        for _ in range(self.walk):  # the walk-back chain u ← R(u + σε) of Bengio et al. 2013
            u = torch.cat([net(b + self.sigma * torch.randn(b.shape, generator=generator)) for b in u.split(BATCH)]) \
                if n else u
        return std.from_unit(u)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        net, std = self._fitted()
        tensors = {**net_tensors(net, "net."), **std.tensors()}
        meta = {"dim": self.dim, "sigma": self.sigma, "hidden": self.hidden, "steps": self.steps,
                "batch_size": self.batch_size, "lr": self.lr, "walk": self.walk, "fit_loss": self.fit_loss}
        return tensors, meta

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> DAESampler:
        d = int(meta["dim"])
        sampler = cls(sigma=float(meta["sigma"]), hidden=int(meta["hidden"]), steps=int(meta["steps"]),
                      batch_size=int(meta["batch_size"]), lr=float(meta["lr"]), walk=int(meta["walk"]))
        sampler.dim, sampler.fit_loss = d, list(meta.get("fit_loss", []))
        sampler.standardize = Standardize.from_tensors(tensors, d)
        need(tensors, "net.f.0.weight", (sampler.hidden, d))
        sampler.net = load_net(_Residual(d, sampler.hidden), tensors, "net.")
        return sampler
