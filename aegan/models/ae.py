"""Autoencoder: encoder E and decoder G trained on reconstruction alone.

Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural Networks", Science 313, 2006
(no arXiv version). Networks: encoder E: x -> ẑ, decoder G: z -> x.

One training step: one phase, run every step (phase.every = 1):
  1. AE  updates E and G:  1/(N·D) Σ_n Σ_d err(x_nd, x̂_nd),  x̂ = G(E(x))      model_args.recon: l1 |x − x̂| |
                                                                             mse (x − x̂)² | bce (Bernoulli NLL, images)
                           + W · 1/(N·F) Σ_n ‖φ(x_n) − φ(x̂_n)‖²              perceptual term, images only
The reconstruction is a mean over the D elements of each example and the N of the batch (aegan.losses.
reconstruction), so its size does not depend on the number of pixels. The perceptual term (W = model_args.perceptual,
0 = off, the default) compares x and x̂ in the features φ of a separate feature network trained on the data set
(model_args.perceptual_net=features, the only choice without a discriminator; aegan.models.base.Model.perceptual):
Dosovitskiy & Brox 2016, "Generating Images with Perceptual Similarity Metrics based on Deep Networks",
arXiv:1602.02644.

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


class AE(Model):
    name = "ae"
    paper = "Hinton & Salakhutdinov 2006, Reducing the Dimensionality of Data with Neural Networks, Science 313"
    samplers = ENCODER_SAMPLERS
    prior_trained = False  # nothing draws E(x) towards N(0, I): `prior` decodes codes G was never trained on
    args = {
        "recon": "l1",  # err of the per-element mean reconstruction: l1 | mse | bce
        "perceptual": 0.0,  # W, weight of the perceptual term mean ‖φ(x) − φ(x̂)‖²; 0 = off; images only
        "perceptual_net": "features",  # φ: features (a separate feature network; there is no D to use)
    }
    choices = {"recon": losses.RECONSTRUCTIONS, "perceptual_net": PERCEPTUAL_NETS_WITHOUT_D}
    nonnegative = ("perceptual",)

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["E"] = build_encoder(self.shape, self.latent_dim, width, depth)
        self.nets["G"] = build_decoder(self.latent_dim, self.shape, width, depth, stem_norm=False)

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        return ENCODER_VECTOR_DEFAULTS if kind == "vector" else encoder_image_defaults(channels)

    def check_data(self, ds: Any) -> None:
        if self.arg["recon"] == "bce":
            check_bernoulli_data(ds, "model_args.recon=bce", "model_args.recon=l1 or mse")

    def phases(self) -> list[Phase]:
        return [Phase("AE", ("E", "G"), self.loss_AE)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(x=x)

    def loss_AE(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        s.x_rec = self.nets["G"](self.nets["E"](s.x))  # x̂ = G(E(x))
        rec = losses.reconstruction(s.x, s.x_rec, self.arg["recon"])  # mean err(x, x̂) over elements and batch
        perceptual = self.perceptual(s)  # W·mean ‖φ(x) − φ(x̂)‖², Dosovitskiy & Brox 2016; 0 when W = 0
        return rec + perceptual, self.perceptual_logs(s)
