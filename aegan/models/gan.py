"""Generative adversarial network with the non-saturating generator loss.

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, arXiv:1406.2661.
Networks: generator G: z -> x, discriminator D: x -> logit. MLPs for vectors, DCGAN conv nets for images.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F

from aegan.config import Config
from aegan.models.base import Logs, Model, Phase
from aegan.nets import build_decoder, build_encoder


class GAN(Model):
    name = "gan"
    paper = "Goodfellow et al. 2014, Generative Adversarial Nets, arXiv:1406.2661"

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["G"] = build_decoder(self.latent_dim, self.shape, width, depth)
        self.nets["D"] = build_encoder(self.shape, 1, width, depth)

    @staticmethod
    def defaults(kind: str) -> dict[str, Any]:
        return {"net": {"latent_dim": 8}} if kind == "vector" else {}

    def phases(self) -> list[Phase]:
        return [Phase("D", ("D",), self.loss_D), Phase("G", ("G",), self.loss_G)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        z = self.prior(len(x), x.device)
        x_fake = self.nets["G"](z)  # x' = G(z), shared by both phases: D sees it detached, G backpropagates through it
        return SimpleNamespace(x=x, z=z, x_fake=x_fake)

    def loss_D(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        d_real = self.nets["D"](s.x)
        d_fake = self.nets["D"](s.x_fake.detach())
        loss_real = F.softplus(-d_real).mean()  # -log σ(D(x))
        loss_fake = F.softplus(d_fake).mean()  # -log(1 - σ(D(G(z))))
        return loss_real + loss_fake, {"d_real": d_real.mean(), "d_fake": d_fake.mean()}

    def loss_G(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        d_fake = self.nets["D"](s.x_fake)
        loss = F.softplus(-d_fake).mean()  # -log σ(D(G(z))): non-saturating, Goodfellow 2014 §3
        return loss, {}
