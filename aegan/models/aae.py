"""Adversarial autoencoder: an autoencoder whose code distribution is matched to a prior by a code discriminator.

Makhzani, Shlens, Jaitly, Goodfellow & Frey, "Adversarial Autoencoders", 2015, arXiv:1511.05644.
Networks: encoder E: x -> ẑ, decoder G: z -> x, code discriminator C: z -> logit.

One training step, in the order the loop runs it; all three phases run every step (phase.every = 1):
  shared:  z ~ p(z),  ẑ = E(x)   (posterior=deterministic, the default)
                      ẑ = μ(x) + σ(x) ⊙ ε, ε ~ N(0, I)   (posterior=gaussian: E outputs μ, log σ²; §2.1),
           x̂ = G(ẑ),
           rec = 1/(N·D) Σ_n Σ_d err(x_nd, x̂_nd)          once, before the phases (begin_step)
  1. C  updates C:  −log σ(C(z)) − log(1 − σ(C(ẑ)))     regularization phase (§2): prior codes real, ẑ detached
  2. E  updates E:  λ·rec                                reconstruction phase
                    + W · 1/(N·F) Σ_n ‖φ(x_n) − φ(x̂_n)‖²  perceptual term (0 = off, the default)
                    − log σ(C(ẑ))                        regularization phase: E fools C (C as updated in 1)
                    + M · MMD²_IMQ(ẑ, z)                   WAE-MMD's code penalty (M = model_args.mmd; 0 = off)
  3. G  updates G:  λ·rec                                reconstruction phase, decoder
                    + W · 1/(N·F) Σ_n ‖φ(x_n) − φ(x̂_n)‖²  perceptual term
The paper runs the reconstruction phase (E and G) and then the regularization phase (C, then E); here E's two
updates are one Adam step on their sum, which keeps one encoder forward pass per step, and G's update uses rec
as computed before the phases, i.e. through E as it was before phase 2.
λ = model_args.lam, err = model_args.recon (l1 |·| | mse (·)² | bce). The reconstruction is a mean over the D
elements of each example and the N of the batch, so λ means the same at any data size (DESIGN §1). The prior
p(z) = model_args.prior: `gaussian` N(0, I), `mog` (10 Gaussians on a circle, §2.1, Fig. 4) or `uniform` on
[−1, 1]; register more in `PRIORS`. The perceptual term (W = model_args.perceptual, images only) compares x and x̂
in the features φ of a separate feature network trained on the data set (model_args.perceptual_net=features;
Dosovitskiy & Brox 2016, "Generating Images with Perceptual Similarity Metrics based on Deep Networks",
arXiv:1602.02644), computed once a step and shared by phases 2 and 3 like rec.
The encoder q(z|x) = model_args.posterior: `deterministic` (ẑ = E(x)) or `gaussian` (the paper's second choice,
§2.1: q(z|x) = N(μ(x), σ²(x)), sampled by the reparameterisation trick; the noise spreads each example's code over
a neighbourhood that G learns to decode, so fewer holes are left between the codes that prior draws fall into).
The code models are fitted to μ(x).
model_args.mmd = M adds the code penalty of WAE-MMD (Tolstikhin et al. 2018, arXiv:1711.01558; aegan.losses.mmd_imq)
beside C's adversarial one: a kernel two-sample distance between the batch's codes and the step's prior draws, which
needs no network and gives E a gradient even where C is fooled. Off by default: at 10 minutes on fashion-mnist it
lowered code_kl but did not bring the prior's samples near the code model's (benchmarks/README.md, Image presets:
the measurements that chose them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import torch

from aegan import losses
from aegan.config import Config
from aegan.models.base import (
    ENCODER_SAMPLERS,
    ENCODER_VECTOR_DEFAULTS,
    PERCEPTUAL_NETS_WITHOUT_D,
    Logs,
    Model,
    Phase,
    check_bernoulli_data,
    encoder_image_defaults,
)
from aegan.nets import build_decoder, build_encoder


def _gaussian(n: int, d: int, g: torch.Generator | None) -> torch.Tensor:
    return torch.randn(n, d, generator=g)


def _mog(n: int, d: int, g: torch.Generator | None, k: int = 10, radius: float = 2.0, std: float = 0.5) -> torch.Tensor:
    """k Gaussians with centres on a circle of `radius` in the first two code dimensions (Makhzani 2015, Fig. 4)."""
    idx = torch.randint(k, (n,), generator=g)
    centres = torch.zeros(k, d)
    angle = 2 * math.pi * torch.arange(k) / k
    centres[:, 0] = radius * angle.cos()
    if d > 1:
        centres[:, 1] = radius * angle.sin()
    return centres[idx] + std * torch.randn(n, d, generator=g)


def _uniform(n: int, d: int, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, d, generator=g) * 2 - 1


PRIORS: dict[str, Callable[[int, int, torch.Generator | None], torch.Tensor]] = {
    "gaussian": _gaussian, "mog": _mog, "uniform": _uniform}


class AAE(Model):
    name = "aae"
    paper = "Makhzani et al. 2015, Adversarial Autoencoders, arXiv:1511.05644"
    samplers = ENCODER_SAMPLERS
    args = {
        "lam": 10.0,  # λ, weight of the reconstruction, a per-element mean err(x, x̂)
        "recon": "l1",  # err: l1 | mse | bce
        "prior": "gaussian",  # gaussian | mog | uniform | any name registered in aegan.models.aae.PRIORS
        "perceptual": 0.0,  # W, weight of the perceptual term mean ‖φ(x) − φ(x̂)‖²; 0 = off; images only (preset 1)
        "perceptual_net": "features",  # φ: features (a separate feature network; there is no D to use)
        "posterior": "deterministic",  # q(z|x): deterministic ẑ = E(x) | gaussian N(μ(x), σ²(x)) (§2.1)
        "mmd": 0.0,  # weight of WAE-MMD's code penalty MMD²(ẑ, z) in E's loss, beside C's; 0 = off
    }
    choices = {"recon": losses.RECONSTRUCTIONS, "prior": PRIORS,  # PRIORS: the names registered when checked
               "perceptual_net": PERCEPTUAL_NETS_WITHOUT_D, "posterior": ("deterministic", "gaussian")}
    positive = ("lam",)  # λ = 0 would leave G with no loss at all
    nonnegative = ("perceptual", "mmd")

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.gaussian = self.arg["posterior"] == "gaussian"
        out = 2 * self.latent_dim if self.gaussian else self.latent_dim  # gaussian: -> (μ, log σ²)
        self.nets["E"] = build_encoder(self.shape, out, width, depth)
        self.nets["G"] = build_decoder(self.latent_dim, self.shape, width, depth, stem_norm=False)
        self.nets["C"] = self.build_C(width, depth)

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        if kind != "vector":
            # the perceptual term with W = 1 on images: at equal wall time (10 min, one core, fashion-mnist) it takes
            # a third of the steps but sharpens the decoder: fd through the code model 83.5 -> 52, fd_recon 74 -> 41
            # (the check classifier's fd 9.7 -> 5.2); through the prior about the same, 112 -> 116 (README, Image
            # presets). Adam 1.6e-3, measured for the aae alone: against the encoder models' 8e-4, means of seeds 0-2
            # (10 min, one core) fd through the code model 36.0 against 42.7, through the prior 68.6 against 80.5,
            # the check classifier's 4.15 and 8.91 against 4.83 and 11.4 (README, The learning rate)
            return {**encoder_image_defaults(channels, lr=1.6e-3), "model_args": {"perceptual": 1.0}}
        # λ = 60 on the mean of 2-D data (= 30 on the summed L1 it was measured as): the sharper reconstruction
        # lifted a ring8 seed from 89% to 99.8% high quality
        return {**ENCODER_VECTOR_DEFAULTS, "model_args": {"lam": 60.0}}

    def check_data(self, ds: Any) -> None:
        if self.arg["recon"] == "bce":
            check_bernoulli_data(ds, "model_args.recon=bce", "model_args.recon=l1 or mse")

    def prior(self, n: int, device: torch.device | str = "cpu",
              generator: torch.Generator | None = None) -> torch.Tensor:
        return PRIORS[self.arg["prior"]](n, self.latent_dim, generator).to(device)

    @property
    def gaussian_prior(self) -> bool:
        return self.arg["prior"] == "gaussian"

    def posterior_sample(self, x: torch.Tensor) -> torch.Tensor:
        """ẑ ~ q(z|x): E(x), or μ + σ ⊙ ε with ε ~ N(0, I) for the gaussian posterior (§2.1)."""
        if not self.gaussian:
            return self.nets["E"](x)
        mu, log_var = self.nets["E"](x).chunk(2, dim=1)
        return mu + (0.5 * log_var.clamp(-20.0, 10.0)).exp() * torch.randn_like(mu)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets["E"](x).chunk(2, dim=1)[0] if self.gaussian else self.nets["E"](x)  # μ(x) or E(x)

    def phases(self) -> list[Phase]:
        return [Phase("C", ("C",), self.loss_C), Phase("E", ("E",), self.loss_E), Phase("G", ("G",), self.loss_G)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        z = self.prior(len(x), x.device)
        z_hat = self.posterior_sample(x)  # ẑ = E(x), or ẑ ~ N(μ(x), σ²(x))
        x_rec = self.nets["G"](z_hat)  # x̂ = G(ẑ)
        rec = losses.reconstruction(x, x_rec, self.arg["recon"])  # mean err(x, x̂): reconstruction, shared by E, G
        return SimpleNamespace(x=x, z=z, z_hat=z_hat, x_rec=x_rec, rec=rec)

    def loss_C(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        c_prior = self.nets["C"](s.z)
        c_post = self.nets["C"](s.z_hat.detach())
        loss = losses.discriminator(c_prior, c_post)  # −log C(z) − log(1 − C(ẑ)): regularization phase, C
        return loss, {"c_prior": c_prior.mean(), "c_post": c_post.mean()}

    def loss_E(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        perceptual = self.perceptual(s)  # W·mean ‖φ(x) − φ(x̂)‖², Dosovitskiy & Brox 2016; 0 when W = 0
        code_adv = losses.adversarial(self.nets["C"](s.z_hat))  # −log C(ẑ): regularization phase, E fools C
        loss, logs = self.arg["lam"] * s.rec + code_adv + perceptual, {"rec": s.rec, **self.perceptual_logs(s)}
        if self.arg["mmd"] > 0:  # WAE-MMD's penalty on the batch's codes against the step's prior draws
            logs["mmd"] = losses.mmd_imq(s.z_hat, s.z)
            loss = loss + self.arg["mmd"] * logs["mmd"]
        return loss, logs

    def loss_G(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        perceptual = self.perceptual(s)  # the same term, computed once a step (in phase E)
        return self.arg["lam"] * s.rec + perceptual, {}  # reconstruction phase, decoder
