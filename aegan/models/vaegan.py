"""VAE-GAN: a VAE whose reconstruction error is measured in a discriminator's feature space.

Larsen, Sønderby, Larochelle & Winther, "Autoencoding beyond pixels using a learned similarity metric", 2016,
arXiv:1512.09300. Networks: encoder E: x -> (μ, log σ²), decoder G: z -> x, discriminator D: x -> logit with
features D_l (its penultimate layer).

One training step, in the order the loop runs it; all three phases run every step (phase.every = 1):
  shared:  μ, log σ² = E(x),  z̃ = μ + σ ⊙ ε,  x̃ = G(z̃),  z_p ~ N(0, I),  x_p = G(z_p),
           L_prior = KL(q(z|x) ‖ N(0, I))                               once, before the phases (begin_step)
  1. D  updates D:  L_GAN = −log σ(D(x)) − log(1 − σ(D(x̃))) − log(1 − σ(D(x_p)))     x̃ and x_p detached
  2. E  updates E:  L_prior                                               analytic KL, §2.1
                    + L_llike = ½‖D_l(x) − D_l(x̃)‖²                       Eq. (6) up to a constant, D_l(x) detached
  3. G  updates G:  γ·L_llike                                             γ = model_args.gamma, §2.3
                    − log σ(D(x̃)) − log σ(D(x_p))                         −L_GAN, non-saturating
The GAN loss does not reach E. Algorithm 1 takes all three gradients at the same weights; here phases 2 and 3
compute D_l and D with the D just updated in phase 1. tricks.feature_matching applies to the x_p term only.

L_llike is summed over D_l's features, not averaged (the per-element means of DESIGN §1 are for the pixel
reconstructions of ae, aegan, aae and alphagan): it is the negative log-likelihood of a unit-variance Gaussian in
feature space, Eq. (6), and E minimises L_prior + L_llike, an ELBO with that likelihood, whose two terms are sums
(over features and over code dimensions) as in the VAE. A mean over D_l's thousands of features (6,272 on 28×28
images at net.width 64) would let the KL outweigh the reconstruction and collapse the posterior.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from aegan import losses
from aegan.config import Config
from aegan.models.base import ENCODER_SAMPLERS, ENCODER_VECTOR_DEFAULTS, Logs, Model, Phase, encoder_image_defaults
from aegan.nets import build_encoder


class VAEGAN(Model):
    name = "vaegan"
    paper = "Larsen et al. 2016, Autoencoding beyond pixels using a learned similarity metric, arXiv:1512.09300"
    has_D = True
    samplers = ENCODER_SAMPLERS
    args = {"gamma": 1.0}  # γ, weight of L_llike in G's loss (content vs style, §2.3)
    nonnegative = ("gamma",)  # γ = 0: G learns from the GAN loss alone

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["E"] = build_encoder(self.shape, 2 * self.latent_dim, width, depth)  # -> (μ, log σ²)
        self.nets["G"] = self.build_G(width, depth)
        self.nets["D"] = self.build_D(width, depth)

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        return ENCODER_VECTOR_DEFAULTS if kind == "vector" else encoder_image_defaults(channels)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.nets["E"](x).chunk(2, dim=1)
        return mu, log_var.clamp(-20.0, 10.0)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def phases(self) -> list[Phase]:
        return [Phase("D", ("D",), self.loss_D), Phase("E", ("E",), self.loss_E), Phase("G", ("G",), self.loss_G)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        mu, log_var = self.posterior(x)
        z_tilde = mu + (0.5 * log_var).exp() * torch.randn_like(mu)  # z̃ ~ q(z|x), reparameterised
        x_tilde = self.nets["G"](z_tilde)  # x̃ = G(z̃)
        z_p = self.prior(len(x), x.device)
        x_p = self.nets["G"](z_p)  # x_p = G(z_p)
        kl = losses.kl_normal(mu, log_var)  # L_prior
        return SimpleNamespace(x=x, x_tilde=x_tilde, x_p=x_p, kl=kl)

    def llike(self, s: SimpleNamespace) -> torch.Tensor:
        f_real = self.nets["D"].features(s.x).detach()
        f_tilde = self.nets["D"].features(s.x_tilde)
        return 0.5 * (f_real - f_tilde).square().sum(1).mean()  # L_llike^{Dis_l}, Eq. (6) up to a constant

    def loss_D(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        d_real = self.nets["D"](s.x)
        d_tilde = self.nets["D"](s.x_tilde.detach())
        d_p = self.nets["D"](s.x_p.detach())
        loss = self.d_loss(d_real, d_tilde, d_p)  # L_GAN: log D(x) + log(1 − D(x̃)) + log(1 − D(x_p))
        return loss, {"d_real": d_real.mean()}

    def loss_E(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        llike = self.llike(s)
        return s.kl + llike, {"kl": s.kl, "llike": llike}  # L_prior + L_llike

    def loss_G(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        llike = self.llike(s)
        tilde_adv = losses.adversarial(self.nets["D"](s.x_tilde))  # −log D(x̃)
        p_adv = self.g_adversarial(s.x_p, s.x)  # −log D(x_p)
        return self.arg["gamma"] * llike + tilde_adv + p_adv, {}
