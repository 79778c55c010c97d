"""Code models: "work on the code, not the data".

A model with an encoder E can be sampled without trusting its prior: fit a density model to the codes
ẑ = E(x) of training data, draw codes from it and decode them with G. Prior samples of an autoencoder
fall between the modes its encoder actually uses; samples of a model of the codes do not. Two-stage
sampling in this sense is what Ghosh et al. use for deterministic autoencoders (From Variational to
Deterministic Autoencoders, ICLR 2020, arXiv:1903.12436: ex-post density estimation with a full-covariance
Gaussian or a 10-component GMM) and what Dai & Wipf do with a second VAE on the codes (Diagnosing and
Enhancing VAE Models, ICLR 2019, arXiv:1903.05789). Here:

  gaussian  N(μ, Σ) fitted to the codes (mean and covariance with a small ridge; sampled by Cholesky)
  gmm       Σ_k π_k N(μ_k, Σ_k), scikit-learn's EM with full covariances; sampled in torch
  codegan   a small non-saturating GAN (Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014,
            arXiv:1406.2661) trained on the standardized codes; its discriminator is a DensityRatio

The learned code models `flow`, `twostage` and `diffusion` have files of their own. Every sampler follows
`CodeSampler` (aegan.samplers.base): `fit(codes, seed)`, `sample(n, generator)` (float32, CPU, deterministic given
the generator), and `state()` / `from_state()` as tensors plus JSON, so that a fitted code model is stored by
`save_sampler` (aegan.samplers.registry) as safetensors + JSON, never as a pickle: of scikit-learn's mixture only
its arrays are kept. The Gaussian and the mixture have exact log-likelihoods; the code GAN has none.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from aegan.density_ratio import DensityRatio
from aegan.nets.mlp import MLP
from aegan.samplers.base import EXACT, check_codes, check_n, need

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, scale_tril: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, L Lᵀ) (N,) float64 for z (N, d), μ (d,), L (d, d) lower-triangular."""
    z, mu, scale_tril = z.double(), mu.double(), scale_tril.double()
    eps = torch.linalg.solve_triangular(scale_tril, (z - mu).T, upper=False).T  # (N, d), ε = L⁻¹ (z − μ)
    log_det = scale_tril.diagonal().abs().log().sum()  # log |L| = ½ log |Σ|
    return -0.5 * eps.square().sum(1) - log_det - 0.5 * len(mu) * LOG_2PI


class GaussianSampler:
    """z ~ N(μ, Σ): μ the mean of the codes, Σ their covariance + ridge·(tr Σ / d)·I; z = μ + L ε, Σ = L Lᵀ."""

    name: ClassVar[str] = "gaussian"
    likelihood: ClassVar[str | None] = EXACT

    def __init__(self, ridge: float = 1e-6) -> None:
        self.ridge = ridge  # relative to the mean variance: keeps Σ positive definite for collapsed codes
        self.mu: torch.Tensor | None = None  # (d,)
        self.scale_tril: torch.Tensor | None = None  # (d, d), lower-triangular L

    @property
    def covariance(self) -> torch.Tensor:
        """Σ = L Lᵀ (d, d)."""
        assert self.scale_tril is not None, "fit the sampler first"
        return self.scale_tril @ self.scale_tril.T

    def fit(self, codes: torch.Tensor, seed: int = 0, progress: bool = False) -> GaussianSampler:
        z = check_codes(codes)  # (N, d), float64
        d = z.shape[1]
        mu = z.mean(0)
        sigma = torch.cov(z.T).reshape(d, d)  # unbiased sample covariance
        sigma = sigma + (self.ridge * float(sigma.diagonal().mean()) + 1e-12) * torch.eye(d, dtype=z.dtype)
        self.mu = mu.to(torch.float32)
        # contiguous, as a loaded state is: cholesky's column-major result would take another matmul kernel and
        # give samples that differ in the last bit from the same sampler stored and loaded
        self.scale_tril = torch.linalg.cholesky(sigma).to(torch.float32).contiguous()
        return self

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """z = μ + τ L ε: temperature τ scales the spread about the mean (1 = the fitted Gaussian)."""
        if self.mu is None or self.scale_tril is None:
            raise RuntimeError("GaussianSampler.sample called before fit")
        check_n(n)
        eps = torch.randn(n, len(self.mu), generator=generator)  # (n, d), ε ~ N(0, I)
        return self.mu + (temperature * eps) @ self.scale_tril.T  # z = μ + τ L ε (τ = 1.0 multiplies exactly)

    def log_likelihood(self, codes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact log N(z; μ, Σ) (N,) float64."""
        if self.mu is None or self.scale_tril is None:
            raise RuntimeError("GaussianSampler.log_likelihood called before fit")
        return gaussian_log_density(check_codes(codes, min_n=1, dim=len(self.mu)), self.mu, self.scale_tril)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        assert self.mu is not None and self.scale_tril is not None, "fit the sampler first"
        return {"mu": self.mu, "scale_tril": self.scale_tril}, {"dim": len(self.mu), "ridge": self.ridge}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> GaussianSampler:
        d = int(meta["dim"])
        sampler = cls(ridge=float(meta["ridge"]))
        sampler.mu = need(tensors, "mu", (d,))
        sampler.scale_tril = need(tensors, "scale_tril", (d, d))
        return sampler


class GMMSampler:
    """z ~ Σ_k π_k N(μ_k, Σ_k), fitted by EM (scikit-learn's GaussianMixture, full covariances) on up to
    `max_fit` codes; only π (K,), μ (K, d) and the Cholesky factors L_k (K, d, d) are kept, and sampling is
    in torch: k ~ Categorical(π), z = μ_k + L_k ε."""

    name: ClassVar[str] = "gmm"
    likelihood: ClassVar[str | None] = EXACT

    def __init__(self, n_components: int | None = None, max_fit: int = 20_000, max_iter: int = 200,
                 reg_covar: float = 1e-6) -> None:
        self.n_components = n_components  # None = by code size: 50 (d <= 4), else 20; at most N // 20
        self.max_fit = max_fit  # codes used by EM at most (a random subset of them)
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.weights: torch.Tensor | None = None  # (K,) π
        self.means: torch.Tensor | None = None  # (K, d) μ_k
        self.scale_tril: torch.Tensor | None = None  # (K, d, d) L_k, Σ_k = L_k L_kᵀ
        self.converged: bool | None = None

    def fit(self, codes: torch.Tensor, seed: int = 0, progress: bool = False) -> GMMSampler:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        z = check_codes(codes).numpy()  # (N, d), float64
        d = z.shape[1]
        # EM costs O(N·K·d²) per iteration: 2-D codes get 50 components on 20k codes (25 sometimes merged grid25's
        # clusters), codes of more than 16 dimensions 20 components on 10k codes (10 s for 48-D on one thread). 20,
        # not the 10 of before, above 16-D: α-GAN's 32-D fashion-mnist codes fd 32.0 -> 19.9, its 48-D stacked
        # ones 369 -> 340 over 3 seeds, triples and kl_modes level (README, Sampling through a model of the codes).
        max_fit = self.max_fit if d <= 16 else min(self.max_fit, 10_000)
        if len(z) > max_fit:
            z = z[np.random.default_rng(seed).permutation(len(z))[:max_fit]]
        k = self.n_components or min(50 if d <= 4 else 20, len(z) // 20 or 1)
        if not 1 <= k <= len(z):
            raise ValueError(f"a mixture of {k} components needs between 1 and {len(z)} (the number of codes)")
        gmm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=self.reg_covar,
                              random_state=seed, max_iter=self.max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # recorded in `converged` instead
            gmm.fit(z)
        self.weights = torch.as_tensor(gmm.weights_, dtype=torch.float32)
        self.means = torch.as_tensor(gmm.means_, dtype=torch.float32)
        self.scale_tril = torch.as_tensor(np.linalg.cholesky(gmm.covariances_), dtype=torch.float32)
        self.converged = bool(gmm.converged_)
        return self

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """k ~ π, z = μ_k + τ L_k ε: temperature τ scales each component's spread (1 = the fitted mixture); the
        weights and the means stay."""
        if self.weights is None or self.means is None or self.scale_tril is None:
            raise RuntimeError("GMMSampler.sample called before fit")
        check_n(n)
        if n == 0:
            return torch.empty(0, self.means.shape[1])
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,), k ~ π
        eps = temperature * torch.randn(n, self.means.shape[1], generator=generator)  # (n, d), τ ε, ε ~ N(0, I)
        z = torch.empty_like(eps)
        for k in comp.unique().tolist():  # one matmul per component, not an (n, d, d) gather
            idx = comp == k
            z[idx] = self.means[k] + eps[idx] @ self.scale_tril[k].T  # z = μ_k + L_k ε
        return z

    def log_likelihood(self, codes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact log Σ_k π_k N(z; μ_k, Σ_k) (N,) float64."""
        if self.weights is None or self.means is None or self.scale_tril is None:
            raise RuntimeError("GMMSampler.log_likelihood called before fit")
        return torch.logsumexp(self.log_joint(check_codes(codes, min_n=1, dim=self.means.shape[1])), dim=1)

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """log π_k + log N(z; μ_k, Σ_k) (N, K) float64, differentiable in z (N, d): log p(z) is its logsumexp
        over k, and log p(k | z), the responsibility of component k, its log-softmax (PPGN's chains condition on a
        component with it, aegan.samplers.chains)."""
        if self.weights is None or self.means is None or self.scale_tril is None:
            raise RuntimeError("GMMSampler.log_joint called before fit")
        log_pi = self.weights.double().clamp_min(1e-300).log()  # (K,)
        return torch.stack([log_pi[k] + gaussian_log_density(z, self.means[k], self.scale_tril[k])
                            for k in range(len(self.weights))], dim=1)  # (N, K)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        assert self.weights is not None and self.means is not None and self.scale_tril is not None, "fit first"
        tensors = {"weights": self.weights, "means": self.means, "scale_tril": self.scale_tril}
        meta = {"n_components": int(self.means.shape[0]), "dim": int(self.means.shape[1]), "max_fit": self.max_fit,
                "max_iter": self.max_iter, "reg_covar": self.reg_covar, "converged": self.converged}
        return tensors, meta

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> GMMSampler:
        k, d = int(meta["n_components"]), int(meta["dim"])
        sampler = cls(n_components=k, max_fit=int(meta["max_fit"]), max_iter=int(meta["max_iter"]),
                      reg_covar=float(meta["reg_covar"]))
        sampler.weights = need(tensors, "weights", (k,))
        sampler.means = need(tensors, "means", (k, d))
        sampler.scale_tril = need(tensors, "scale_tril", (k, d, d))
        sampler.converged = meta.get("converged")
        if not (torch.isfinite(sampler.weights).all() and (sampler.weights >= 0).all() and sampler.weights.sum() > 0):
            raise ValueError("mixture weights are not a probability vector")
        return sampler


class CodeGANSampler:
    """A small GAN on the codes: G: ε (noise_dim) -> z, D a DensityRatio classifier (real codes = class 1),
    both MLPs, trained with the non-saturating loss on standardized codes (Goodfellow et al. 2014, §3):
        D: −log σ(D(z)) − log(1 − σ(D(G(ε))))        G: −log σ(D(G(ε)))
    Only G and the standardization are kept."""

    name: ClassVar[str] = "codegan"
    likelihood: ClassVar[str | None] = None  # a GAN has no density: never a candidate for the default

    def __init__(self, steps: int = 3000, batch_size: int = 256, width: int = 128, depth: int = 3,
                 lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), noise_dim: int | None = None) -> None:
        self.steps, self.batch_size, self.width, self.depth = steps, batch_size, width, depth
        self.lr, self.betas = lr, betas
        self.noise_dim = noise_dim  # None = the code dimension d
        self.G: MLP | None = None
        self.mu: torch.Tensor | None = None  # (d,) code mean
        self.std: torch.Tensor | None = None  # (d,) code std; G makes standardized codes

    def fit(self, codes: torch.Tensor, seed: int = 0, progress: bool = False) -> CodeGANSampler:
        z = check_codes(codes)  # (N, d), float64
        d = z.shape[1]
        self.noise_dim = self.noise_dim or d
        self.mu, self.std = z.mean(0).float(), z.std(0).clamp_min(1e-8).float()
        z = ((z.float() - self.mu) / self.std)  # (N, d), standardized
        with torch.random.fork_rng(devices=[]):  # initial weights from `seed`; the caller's RNG is untouched
            torch.manual_seed(seed)
            G = MLP(self.noise_dim, d, self.width, self.depth)
            D = DensityRatio(net=MLP(d, 1, self.width, self.depth))
        g = torch.Generator().manual_seed(seed)  # minibatches and noise
        opt_g = torch.optim.Adam(G.parameters(), lr=self.lr, betas=self.betas)
        opt_d = torch.optim.Adam(D.parameters(), lr=self.lr, betas=self.betas)
        b = min(self.batch_size, len(z))
        with torch.enable_grad():
            for _ in range(self.steps):
                z_real = z[torch.randint(len(z), (b,), generator=g)]  # (b, d)
                z_fake = G(torch.randn(b, self.noise_dim, generator=g))  # (b, d), G(ε)
                # D step: real codes are class 1 of the density-ratio classifier
                loss_d = D.loss(z_real, z_fake.detach())  # −log σ(D(z)) − log(1 − σ(D(G(ε))))
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                # G step, on the same fakes: non-saturating
                loss_g = F.softplus(-D(z_fake)).mean()  # −log σ(D(G(ε)))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
        self.G = G.eval().requires_grad_(False)
        return self

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.G is None or self.mu is None or self.std is None:
            raise RuntimeError("CodeGANSampler.sample called before fit")
        check_n(n)
        eps = torch.randn(n, self.noise_dim, generator=generator)  # (n, noise_dim)
        return self.G(eps) * self.std + self.mu  # (n, d), back in code units

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        assert self.G is not None and self.mu is not None and self.std is not None, "fit the sampler first"
        tensors = {f"G.{k}": v.contiguous() for k, v in self.G.state_dict().items()}
        meta = {"dim": len(self.mu), "noise_dim": self.noise_dim, "width": self.width, "depth": self.depth,
                "steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, "betas": list(self.betas),
                "mu": self.mu.tolist(), "std": self.std.tolist()}
        return tensors, meta

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> CodeGANSampler:
        d = int(meta["dim"])
        sampler = cls(steps=int(meta["steps"]), batch_size=int(meta["batch_size"]), width=int(meta["width"]),
                      depth=int(meta["depth"]), lr=float(meta["lr"]), betas=tuple(meta["betas"]),
                      noise_dim=int(meta["noise_dim"]))
        sampler.mu = torch.tensor(meta["mu"], dtype=torch.float32)
        sampler.std = torch.tensor(meta["std"], dtype=torch.float32)
        if sampler.mu.shape != (d,) or sampler.std.shape != (d,):
            raise ValueError(f"the standardization does not have {d} entries")
        G = MLP(sampler.noise_dim, d, sampler.width, sampler.depth)
        weights = {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}
        G.load_state_dict(weights)  # RuntimeError on missing, unexpected or mis-shaped tensors
        sampler.G = G.eval().requires_grad_(False)
        return sampler
