"""Generative adversarial network with the non-saturating generator loss.

Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville & Bengio, "Generative Adversarial Nets",
NeurIPS 2014, arXiv:1406.2661. Networks: generator G: z -> x, discriminator D: x -> logit (MLPs for vectors,
DCGAN conv nets for images).

One training step, in the order the loop runs it; both phases run every step (phase.every = 1):
  shared:  z ~ N(0, I),  x' = G(z)                      once, before the phases (begin_step)
  1. D  updates D:  −log σ(D(x)) − log(1 − σ(D(x')))    Eq. (1), x' detached
  2. G  updates G:  −log σ(D(x'))                        non-saturating form, §3; D as just updated in phase 1
tricks.label_smoothing changes D's real target; tricks.feature_matching adds ‖mean f(x) − mean f(x')‖² to G's
term (or replaces it, tricks.feature_matching_only). When those tricks are on, the loop adds R1 to D's phase
(every tricks.r1_every steps) and historical averaging to both phases.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from aegan.config import Config
from aegan.models.base import Logs, Model, Phase


class GAN(Model):
    name = "gan"
    paper = "Goodfellow et al. 2014, Generative Adversarial Nets, arXiv:1406.2661"
    has_D = True

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["G"] = self.build_G(width, depth)
        self.nets["D"] = self.build_D(width, depth)

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        if kind == "vector":
            return {"net": {"latent_dim": 8}}
        # Adam 1.6e-3 on images, measured for the gan alone: over seeds 0-2 on fashion-mnist (10 min, one core) fd
        # 36.0 against 39.4 at 8e-4 (lower in every seed) and 77.0 at DCGAN's 2e-4 (README, The learning rate)
        return {"optim": {"lr": 1.6e-3}}

    def phases(self) -> list[Phase]:
        return [Phase("D", ("D",), self.loss_D), Phase("G", ("G",), self.loss_G)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        z = self.prior(len(x), x.device)
        x_fake = self.nets["G"](z)  # x' = G(z), shared by both phases: D sees it detached, G backpropagates through it
        return SimpleNamespace(x=x, z=z, x_fake=x_fake)

    def loss_D(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        d_real = self.nets["D"](s.x)
        d_fake = self.nets["D"](s.x_fake.detach())
        loss = self.d_loss(d_real, d_fake)  # −log σ(D(x)) − log(1 − σ(D(G(z)))), Goodfellow 2014 Eq. (1)
        return loss, {"d_real": d_real.mean(), "d_fake": d_fake.mean()}

    def loss_G(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        loss = self.g_adversarial(s.x_fake, s.x)  # −log σ(D(G(z))): non-saturating, Goodfellow 2014 §3
        return loss, {}
