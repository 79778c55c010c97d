"""PPGN: a generator trained with image, feature and GAN losses on the codes of an encoder trained with it, sampled by
a Markov chain in code space.

Nguyen, Clune, Bengio, Dosovitskiy & Yosinski, "Plug & Play Generative Networks: Conditional Iterative Generation of
Images in Latent Space", CVPR 2017, arXiv:1612.00005. The paper's generator G inverts a *pretrained* classifier's
code h = E(x) with

    λ_img ‖x − G(h)‖² + λ_feat ‖φ(x) − φ(G(h))‖² + λ_adv · GAN(G(h))

(φ an intermediate layer of a classifier), and samples by the chain of aegan.samplers.chains with a DAE on h as the
prior term. Here nothing is pretrained elsewhere: E is trained with G, end to end, on the data alone, and the DAE
(aegan.samplers.dae, noise model_args.dae_sigma) is fitted on the trained encoder's codes when a chain first asks.
The chains (`aegan sample RUN --sampler ppgn|mala --label K | --cluster K`) work on every run of the family that has an
encoder; this model is the one trained for them.

One training step; both phases run every step (phase.every = 1):
  shared:  x̂ = G(E(x))                                         once, before the phases (begin_step)
  1. D   updates D:     −log σ(D(x)) − log(1 − σ(D(x̂)))          x̂ detached
  2. AE  updates E, G:  λ · mean err(x, x̂)                       image loss, err = model_args.recon (mse, the paper's)
                        + W · mean ‖φ(x) − φ(x̂)‖²                 feature loss, φ = model_args.perceptual_net
                        + a · (−log σ(D(x̂)))                      GAN loss, a = model_args.adv
φ is, by default on images, the separate feature network (aegan.metrics.feature_net: trained on the data set, never
the evaluator that scores the samples, nor the condition network the chains climb). There is no prior: G only ever
decodes encoder codes, and samples come through a model of the codes (`gmm` by default) or a chain.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from aegan import losses
from aegan.models.aegan import AEGAN
from aegan.models.base import ENCODER_SAMPLERS, ENCODER_VECTOR_DEFAULTS, PERCEPTUAL_NETS, Logs, encoder_image_defaults


class PPGN(AEGAN):
    """AE-GAN's networks (E, G, D), phases (D, then E and G) and data checks, with PPGN's losses: no prior draw."""

    name = "ppgn"
    paper = "Nguyen et al. 2017, arXiv:1612.00005 (end to end: the encoder trained with G)"
    samplers = tuple(s for s in ENCODER_SAMPLERS if s != "prior")  # no prior: codes come from a code model
    args = {
        "lam": 10.0,  # λ_img, weight of the image loss, a per-element mean err(x, x̂)
        "recon": "mse",  # err: mse (the paper's) | l1 | bce
        "perceptual": 0.0,  # λ_feat, weight of the feature loss mean ‖φ(x) − φ(x̂)‖²; images only
        "perceptual_net": "features",  # φ: features (a separate feature network) | D (D's penultimate layer)
        "adv": 1.0,  # λ_adv, weight of the GAN loss on x̂
        "dae_sigma": 0.3,  # σ of the DAE fitted to the codes for the chains, in code standard deviations
    }
    choices = {"recon": losses.RECONSTRUCTIONS, "perceptual_net": PERCEPTUAL_NETS}
    positive = ("lam", "dae_sigma")
    nonnegative = ("perceptual", "adv")

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        if kind != "vector":
            # aegan's image preset (λ = 50, 16-D codes per channel) with the feature loss of the paper on
            return {**encoder_image_defaults(channels), "model_args": {"lam": 50.0, "perceptual": 1.0}}
        return {**ENCODER_VECTOR_DEFAULTS, "model_args": {"lam": 20.0}}

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(x=x, x_rec=self.nets["G"](self.nets["E"](x)))  # x̂ = G(E(x))

    def loss_D(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        d_real = self.nets["D"](s.x)
        d_rec = self.nets["D"](s.x_rec.detach())
        return self.d_loss(d_real, d_rec), {"d_real": d_real.mean(), "d_gen": d_rec.mean()}

    def loss_AE(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        rec = losses.reconstruction(s.x, s.x_rec, self.arg["recon"])  # image loss
        feature = self.perceptual(s)  # feature loss, Dosovitskiy & Brox 2016 as in PPGN
        adv = self.g_adversarial(s.x_rec, s.x) if self.arg["adv"] > 0 else 0.0  # GAN loss on x̂
        return self.arg["lam"] * rec + feature + self.arg["adv"] * adv, {"rec": rec, **self.perceptual_logs(s)}
