"""`diffusion`: a small denoising-diffusion model on the standardized codes.

A variance-preserving diffusion (Ho, Jain & Abbeel, Denoising Diffusion Probabilistic Models, NeurIPS 2020,
arXiv:2006.11239) in continuous time (Kingma, Salimans, Poole & Ho, Variational Diffusion Models, NeurIPS 2021,
arXiv:2107.00630), on the standardized codes x = (z − μ)/σ (stored with the model). Its schedule is the cosine
schedule of Nichol & Dhariwal (Improved DDPM, ICML 2021, arXiv:2102.09672) written in log-SNR λ = log(ᾱ/(1 − ᾱ))
and truncated to [λ_min, λ_max] (Kingma & Gao, Understanding Diffusion Objectives, NeurIPS 2023, arXiv:2303.00848):

    λ(t) = −2 log tan(a t + b),  b = arctan(e^(−λ_max/2)),  a = arctan(e^(−λ_min/2)) − b,   t ∈ [0, 1]
    x_t = √ᾱ_t x + √(1 − ᾱ_t) ε,  ᾱ_t = sigmoid(λ(t)),  ε ~ N(0, I)
    loss  ‖ε − ε_θ(x_t, t)‖²   (Ho Eq. 14, L_simple)

with t drawn half the time uniformly (the cosine schedule's weighting, for samples) and half so that λ is uniform
on [λ_min, λ_max] (the weighting of the likelihood bound below); ε_θ is an MLP of [x_t, sinusoidal features of t]
with residual blocks.

Sampling: `sample_steps` S ancestral steps t_S = 1 > … > t_1 = 1/S (DDPM's sampler in the form of Song, Meng & Ermon,
Denoising Diffusion Implicit Models, ICLR 2021, arXiv:2010.02502, Eq. 12 and 16; `eta` = 1 is DDPM's posterior
variance, 0 the deterministic DDIM sampler), then x̂ = (x_t1 − √(1 − ᾱ) ε_θ)/√ᾱ at t_1:

    x̂ = (x_t − √(1 − ᾱ_t) ε_θ) / √ᾱ_t,   x_s = √ᾱ_s x̂ + √(1 − ᾱ_s − σ²) ε_θ + σ ε,
    σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)

Held-out log-likelihood: the continuous-time variational bound of VDM, with the Gaussian decoder
p(x|z_0) = N(z_0/α_0, e^(−λ_max) I) of VDM's continuous-data case:

    −log p(x) ≤ KL(q(z_1|x) ‖ N(0, I)) + E[−log p(x|z_0)] + ½ ∫_{λ_min}^{λ_max} E_ε ‖ε − ε_θ(x_λ, t(λ))‖² dλ

the integral estimated with `bound_draws` stratified draws of λ per code (unbiased), the reconstruction term in
closed form, (d/2)(log 2π − λ_max + 1). For a perfect ε_θ the bound is tight up to the truncation of λ (in VDM's
words, the continuous-time bound has no discretization error; tests/test_code_models.py checks it on Gaussian
codes). It
bounds the density of the continuous-time model, which the S-step sampler discretizes, not the density of the
S-step chain itself: that chain's discrete bound (Ho Eq. 5) is looser even for a perfect ε_θ by about
½ Σ_i (r_i − 1 − log r_i) per dimension, r_i the ratio of the noise variances of consecutive steps, which the
cosine schedule's first steps make several-fold: about 0.7 nats per dimension at S = 100. Reported as a BOUND.

Default sizes: λ ∈ [−10, 10], S = 100 sampling steps, ε_θ of width 128 with 3 residual blocks, 3,000 Adam steps of
512 codes (lr 1e-3, cosine decay to 0), 32 draws of λ per held-out code. On 20,000 codes of the 8-D test mixture
this fit took 17 s on one core of a busy 2-core machine and ended 0.03 nats per dimension below the true held-out
log-likelihood (width 256 and 4,000 steps: 0.015, in 61 s).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from aegan.samplers.base import BOUND, Standardize, check_codes, check_n, fit_network, load_net, net_tensors

BATCH = 10_000  # codes per pass when sampling or scoring
LOG_2PI = math.log(2 * math.pi)


class CosineLogSNR:
    """λ(t) = −2 log tan(a t + b) on t ∈ [0, 1], from λ_max at t = 0 to λ_min at t = 1, and its inverse."""

    def __init__(self, log_snr_min: float, log_snr_max: float) -> None:
        self.lo, self.hi = log_snr_min, log_snr_max
        self.b = math.atan(math.exp(-log_snr_max / 2))
        self.a = math.atan(math.exp(-log_snr_min / 2)) - self.b

    def log_snr(self, t: torch.Tensor) -> torch.Tensor:
        return -2 * torch.log(torch.tan(self.a * t + self.b))

    def t_of(self, log_snr: torch.Tensor) -> torch.Tensor:
        return (torch.atan(torch.exp(-log_snr / 2)) - self.b) / self.a


class NoisePredictor(nn.Module):
    """ε_θ(x_t, t): (N, d), (N,) times in [0, 1] -> (N, d). Input layer on [x_t, 32 sinusoidal features of t],
    `blocks` residual blocks h += W₂ SiLU(W₁ SiLU(LayerNorm(h))), then a linear head."""

    def __init__(self, d: int, width: int = 256, blocks: int = 3, t_features: int = 32) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.exp(torch.linspace(0, math.log(1000.0), t_features // 2)),
                             persistent=False)
        self.inp = nn.Linear(d + t_features, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                                  nn.Linear(width, width)) for _ in range(blocks))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, d))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        angle = t.to(x_t.dtype)[:, None] * self.freqs  # (N, t_features / 2)
        h = self.inp(torch.cat([x_t, angle.sin(), angle.cos()], dim=1))
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)


class DiffusionSampler:
    """A continuous-time VP diffusion on standardized codes; S-step ancestral sampling; the VDM bound."""

    name: ClassVar[str] = "diffusion"
    likelihood: ClassVar[str | None] = BOUND

    def __init__(self, sample_steps: int = 100, eta: float = 1.0, log_snr_min: float = -10.0,
                 log_snr_max: float = 10.0, width: int = 128, blocks: int = 3, steps: int = 3000,
                 batch_size: int = 512, lr: float = 1e-3, bound_draws: int = 32) -> None:
        self.sample_steps = sample_steps  # S, a setting of sampling only: change it on a fitted model at will
        self.eta = eta  # 1 = DDPM's ancestral sampler, 0 = deterministic DDIM
        self.log_snr_min, self.log_snr_max = log_snr_min, log_snr_max
        self.width, self.blocks = width, blocks
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.bound_draws = bound_draws  # stratified draws of λ per code for the bound's integral
        self.net: NoisePredictor | None = None
        self.standardize: Standardize | None = None
        self.dim: int | None = None
        self.fit_loss: list[float] = []  # mean ‖ε − ε_θ‖² per dimension of each tenth of the fit

    @property
    def schedule(self) -> CosineLogSNR:
        return CosineLogSNR(self.log_snr_min, self.log_snr_max)

    def _check_settings(self) -> None:
        if not (self.sample_steps >= 1 and 0.0 <= self.eta <= 1.0 and self.log_snr_min < self.log_snr_max
                and self.bound_draws >= 1):
            raise ValueError(f"diffusion needs sample_steps >= 1, 0 <= eta <= 1, log_snr_min < log_snr_max and "
                             f"bound_draws >= 1; got sample_steps={self.sample_steps}, eta={self.eta}, "
                             f"log-SNR [{self.log_snr_min}, {self.log_snr_max}], bound_draws={self.bound_draws}")

    def fit(self, codes: torch.Tensor, seed: int = 0, progress: bool = False) -> DiffusionSampler:
        self._check_settings()
        z = check_codes(codes)  # (N, d), float64
        self.dim = d = z.shape[1]
        self.standardize = Standardize.fit(z)
        x = self.standardize.to_unit(z)  # (N, d) float32
        schedule = self.schedule
        with torch.random.fork_rng(devices=[]):  # initial weights from `seed`; the caller's RNG is untouched
            torch.manual_seed(seed)
            net = NoisePredictor(d, self.width, self.blocks)

        def loss(x_batch: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            b = len(x_batch)
            t = torch.rand(b, generator=g)  # t ~ U(0, 1): the cosine schedule's weighting
            lam_uniform = self.log_snr_min + (self.log_snr_max - self.log_snr_min) * torch.rand(b, generator=g)
            t = torch.where(torch.arange(b) % 2 == 0, t, schedule.t_of(lam_uniform))  # half: λ ~ U, the bound's
            alpha_bar = torch.sigmoid(schedule.log_snr(t))[:, None]
            eps = torch.randn(x_batch.shape, generator=g)  # ε ~ N(0, I)
            x_t = alpha_bar.sqrt() * x_batch + (1 - alpha_bar).sqrt() * eps  # x_t ~ q(x_t | x)
            return (eps - net(x_t, t)).square().mean()  # L_simple (Ho Eq. 14), per dimension

        self.fit_loss = fit_network(net.parameters(), loss, x, steps=self.steps, batch_size=self.batch_size,
                                    lr=self.lr, seed=seed, desc=f"code model {self.name}", progress=progress)
        self.net = net.eval().requires_grad_(False)
        return self

    def _fitted(self) -> tuple[NoisePredictor, Standardize]:
        if self.net is None or self.standardize is None:
            raise RuntimeError("DiffusionSampler used before fit")
        return self.net, self.standardize

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        net, std = self._fitted()
        self._check_settings()
        check_n(n)
        S = self.sample_steps
        alpha_bar = torch.sigmoid(self.schedule.log_snr(torch.arange(S + 1, dtype=torch.float64) / S)).tolist()
        out = []
        for start in range(0, n, BATCH):
            m = min(BATCH, n - start)
            x = torch.randn(m, self.dim, generator=generator)  # x_1 ~ N(0, I) (KL to q(x_1|x) is ~ e^λ_min)
            for i in range(S, 0, -1):
                a, a_prev = alpha_bar[i], alpha_bar[i - 1]
                eps = net(x, torch.full((m,), i / S))  # ε_θ(x_t, t)
                x_hat = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)  # x̂ = (x_t − √(1 − ᾱ_t) ε_θ) / √ᾱ_t
                if i == 1:
                    x = x_hat  # the last step returns x̂
                    break
                sigma = self.eta * math.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))  # DDIM Eq. 16
                x = (math.sqrt(a_prev) * x_hat + math.sqrt(max(1 - a_prev - sigma ** 2, 0.0)) * eps
                     + sigma * torch.randn(m, self.dim, generator=generator))  # DDIM Eq. 12
            out.append(x)
        u = torch.cat(out) if out else torch.empty(0, self.dim)
        return std.from_unit(u)  # (n, d), code units

    @torch.no_grad()
    def log_likelihood(self, codes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """VDM's continuous-time lower bound on log p(z) (N,) float64, its λ-integral estimated with
        `bound_draws` stratified draws per code."""
        net, std = self._fitted()
        self._check_settings()
        x = std.to_unit(check_codes(codes, min_n=1, dim=self.dim)).double()  # (N, d)
        d, K, lo, hi = self.dim, self.bound_draws, self.log_snr_min, self.log_snr_max
        schedule = self.schedule
        a1 = 1 / (1 + math.exp(-lo))  # ᾱ at t = 1
        prior_kl = 0.5 * (a1 * x.square().sum(1) - d * a1 - d * math.log(1 - a1))  # KL(q(z_1|x) ‖ N(0, I))
        recon = 0.5 * d * (LOG_2PI - hi + 1)  # E[−log N(x; z_0/α_0, e^(−λ_max) I)], closed form
        diffusion = torch.zeros(len(x), dtype=torch.float64)
        for k in range(K):  # stratum k of [λ_min, λ_max]
            u = (k + torch.rand(len(x), generator=generator, dtype=torch.float64)) / K
            lam = lo + (hi - lo) * u
            alpha_bar = torch.sigmoid(lam)[:, None]
            eps = torch.randn(x.shape, generator=generator, dtype=torch.float64)
            x_t = alpha_bar.sqrt() * x + (1 - alpha_bar).sqrt() * eps
            t = schedule.t_of(lam).float()
            eps_hat = torch.cat([net(x_t[i:i + BATCH].float(), t[i:i + BATCH]) for i in range(0, len(x), BATCH)])
            diffusion += 0.5 * (hi - lo) * (eps - eps_hat.double()).square().sum(1) / K  # ½ ∫ ‖ε − ε_θ‖² dλ
        return -(prior_kl + recon + diffusion) + std.log_det

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        net, std = self._fitted()
        tensors = {**net_tensors(net, "net."), **std.tensors()}
        meta = {"dim": self.dim, "sample_steps": self.sample_steps, "eta": self.eta, "log_snr_min": self.log_snr_min,
                "log_snr_max": self.log_snr_max, "width": self.width, "blocks": self.blocks, "steps": self.steps,
                "batch_size": self.batch_size, "lr": self.lr, "bound_draws": self.bound_draws,
                "fit_loss": self.fit_loss}
        return tensors, meta

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> DiffusionSampler:
        d = int(meta["dim"])
        sampler = cls(sample_steps=int(meta["sample_steps"]), eta=float(meta["eta"]),
                      log_snr_min=float(meta["log_snr_min"]), log_snr_max=float(meta["log_snr_max"]),
                      width=int(meta["width"]), blocks=int(meta["blocks"]), steps=int(meta["steps"]),
                      batch_size=int(meta["batch_size"]), lr=float(meta["lr"]), bound_draws=int(meta["bound_draws"]))
        sampler._check_settings()
        sampler.dim, sampler.fit_loss = d, list(meta.get("fit_loss", []))
        sampler.standardize = Standardize.from_tensors(tensors, d)
        sampler.net = load_net(NoisePredictor(d, sampler.width, sampler.blocks), tensors, "net.")
        return sampler
