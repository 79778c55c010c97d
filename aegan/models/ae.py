"""Autoencoder: encoder E and decoder G trained on reconstruction alone.

Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural Networks", Science 313, 2006
(no arXiv version). Networks: encoder E: x -> ẑ, decoder G: z -> x.

One training step: one phase, run every step (phase.every = 1):
  1. AE  updates E and G:  ‖x − G(E(x))‖     model_args.recon: l1 ‖·‖₁ | mse ‖·‖² | bce (Bernoulli NLL, images)
Each norm is summed over dimensions and averaged over the batch (aegan.losses.reconstruction).

Sampling needs a model of the codes ("work on the code, not the data"): the default sampler fits a
Gaussian mixture to the encoder's codes after training (aegan/samplers/codes.py); `prior` decodes
N(0, I), which an unregularized code space does not follow.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from aegan import losses
from aegan.config import Config
from aegan.models.base import ENCODER_SAMPLERS, ENCODER_VECTOR_DEFAULTS, Logs, Model, Phase, check_bernoulli_data
from aegan.nets import build_decoder, build_encoder


class AE(Model):
    name = "ae"
    paper = "Hinton & Salakhutdinov 2006, Reducing the Dimensionality of Data with Neural Networks, Science 313"
    samplers = ENCODER_SAMPLERS
    args = {"recon": "l1"}  # ‖x − x̂‖ summed over dimensions
    choices = {"recon": losses.RECONSTRUCTIONS}  # l1 | mse | bce

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["E"] = build_encoder(self.shape, self.latent_dim, width, depth)
        self.nets["G"] = build_decoder(self.latent_dim, self.shape, width, depth)

    @staticmethod
    def defaults(kind: str) -> dict[str, Any]:
        return ENCODER_VECTOR_DEFAULTS if kind == "vector" else {}

    def check_data(self, ds: Any) -> None:
        if self.arg["recon"] == "bce":
            check_bernoulli_data(ds, "model_args.recon=bce", "model_args.recon=l1 or mse")

    def phases(self) -> list[Phase]:
        return [Phase("AE", ("E", "G"), self.loss_AE)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(x=x)

    def loss_AE(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        x_rec = self.nets["G"](self.nets["E"](s.x))  # x̂ = G(E(x))
        rec = losses.reconstruction(s.x, x_rec, self.arg["recon"])  # ‖x − x̂‖
        return rec, {}
