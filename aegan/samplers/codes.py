"""Code models: "work on the code, not the data". Fitted to an encoder's codes after training, then decoded by G.

Sampling an autoencoder through its prior puts samples wherever the prior has mass, whether or not the
encoder put codes there (between the modes, for grid25). Fitting a density to the codes themselves and
decoding its samples follows the two-stage idea of Dai & Wipf 2019 ("Diagnosing and Enhancing VAE Models",
arXiv:1903.05789) and Ghosh et al. 2020 ("From Variational to Deterministic Autoencoders", arXiv:1903.12436).

Every code model has `fit(codes (N, d), seed)`, `sample(n, generator) -> (n, d)`, and `state()` /
`from_state()` as plain tensors + JSON, so it is stored in the run folder without pickles.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from aegan.checkpoint import atomic_write_text
from aegan.errors import CheckpointError

MAX_FIT = 20_000  # codes used to fit a code model


class GaussianSampler:
    """A full-covariance Gaussian fitted to the codes (maximum likelihood, plus a small ridge)."""

    name = "gaussian"

    def __init__(self) -> None:
        self.mean = torch.zeros(0)
        self.chol = torch.zeros(0, 0)

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "GaussianSampler":
        z = codes.double()[:MAX_FIT]
        self.mean = z.mean(0)
        cov = torch.cov(z.T).reshape(z.shape[1], z.shape[1]) + 1e-6 * torch.eye(z.shape[1], dtype=torch.float64)
        self.chol = torch.linalg.cholesky(cov)
        return self

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(n, len(self.mean), generator=generator, dtype=torch.float64)
        return (self.mean + eps @ self.chol.T).float()  # μ + L ε, Σ = L Lᵀ

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return {"mean": self.mean, "chol": self.chol}, {}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> "GaussianSampler":
        s = cls()
        s.mean, s.chol = tensors["mean"], tensors["chol"]
        return s


class GMMSampler:
    """A Gaussian mixture with full covariances (scikit-learn's EM), 50 components by default: enough that no
    two of grid25's 25 code clusters share a component (25 components sometimes merged clusters)."""

    name = "gmm"

    def __init__(self, n_components: int = 50) -> None:
        self.n_components = n_components
        self.weights = torch.zeros(0)
        self.means = torch.zeros(0, 0)
        self.chols = torch.zeros(0, 0, 0)

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "GMMSampler":
        from sklearn.mixture import GaussianMixture

        z = codes.double().numpy()[:MAX_FIT]
        k = max(1, min(self.n_components, len(z) // 20))
        gmm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-6, random_state=seed,
                              max_iter=200).fit(z)
        self.weights = torch.from_numpy(gmm.weights_)
        self.means = torch.from_numpy(gmm.means_)
        self.chols = torch.linalg.cholesky(torch.from_numpy(gmm.covariances_))
        return self

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # component of each sample
        eps = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        return (self.means[k] + torch.einsum("nij,nj->ni", self.chols[k], eps)).float()  # μ_k + L_k ε

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return {"weights": self.weights, "means": self.means, "chols": self.chols}, {"n_components": self.n_components}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> "GMMSampler":
        s = cls(int(meta.get("n_components", 50)))
        s.weights, s.means, s.chols = tensors["weights"], tensors["means"], tensors["chols"]
        return s


class CodeGANSampler:
    """A small GAN on the standardized codes (MLPs, non-saturating loss): a code model with no parametric form."""

    name = "codegan"

    def __init__(self, steps: int = 3000, width: int = 128, depth: int = 3, batch_size: int = 256) -> None:
        self.steps, self.width, self.depth, self.batch_size = steps, width, depth, batch_size
        self.generator: torch.nn.Module | None = None
        self.mean = torch.zeros(0)
        self.std = torch.ones(0)

    def _build(self, d: int) -> torch.nn.Module:
        from aegan.nets import MLP

        return MLP(d, d, self.width, self.depth)

    def fit(self, codes: torch.Tensor, seed: int = 0) -> "CodeGANSampler":
        import torch.nn.functional as F

        from aegan.nets import MLP

        z = codes.float()[:MAX_FIT]
        self.mean, self.std = z.mean(0), z.std(0).clamp_min(1e-6)
        z = (z - self.mean) / self.std
        d = z.shape[1]
        g = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            G, D = self._build(d), MLP(d, 1, self.width, self.depth)
        opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        for _ in range(self.steps):
            real = z[torch.randint(len(z), (self.batch_size,), generator=g)]
            fake = G(torch.randn(self.batch_size, d, generator=g))
            loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()  # −log D(z) − log(1 − D(G(u)))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = F.softplus(-D(fake)).mean()  # −log D(G(u))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward(inputs=list(G.parameters()))
            opt_g.step()
        self.generator = G.eval().requires_grad_(False)
        return self

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        assert self.generator is not None, "fit the code GAN first"
        u = torch.randn(n, len(self.mean), generator=generator)
        return self.generator(u) * self.std + self.mean

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        assert self.generator is not None
        tensors = {f"G.{k}": v for k, v in self.generator.state_dict().items()}
        tensors.update({"mean": self.mean, "std": self.std})
        return tensors, {"width": self.width, "depth": self.depth, "steps": self.steps}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> "CodeGANSampler":
        s = cls(steps=int(meta["steps"]), width=int(meta["width"]), depth=int(meta["depth"]))
        s.mean, s.std = tensors["mean"], tensors["std"]
        s.generator = s._build(len(s.mean))
        s.generator.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("G.")})
        s.generator.eval().requires_grad_(False)
        return s


SAMPLERS: dict[str, type] = {"gaussian": GaussianSampler, "gmm": GMMSampler, "codegan": CodeGANSampler}
FORMAT = "aegan-sampler"


def save_sampler(sampler: Any, folder: Path) -> Path:
    """Write `folder/<name>.safetensors` and `folder/<name>.json` atomically (the JSON last)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors, meta = sampler.state()
    target = folder / f"{sampler.name}.safetensors"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{sampler.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_text(folder / f"{sampler.name}.json", json.dumps({"format": FORMAT, "name": sampler.name, **meta}))
    return target


def load_sampler(folder: Path, name: str) -> Any | None:
    """The stored code model `name` in `folder`, or None if there is none; a corrupt or foreign one is an error."""
    record = Path(folder) / f"{name}.json"
    if not record.is_file():
        return None
    try:
        meta = json.loads(record.read_text())
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("name") != name:
            raise ValueError("not an aegan code model")
        tensors = load_file(record.with_suffix(".safetensors"))
        return SAMPLERS[name].from_state(tensors, meta)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError, json.JSONDecodeError) as e:
        raise CheckpointError(f"stored code model {record} is corrupt or foreign ({e}): delete {record.parent} "
                              f"to refit it") from None
