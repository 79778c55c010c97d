"""Variational autoencoder: the negative ELBO with a Gaussian encoder and the analytic KL to N(0, I).

Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.
Networks: encoder E: x -> (μ, log σ²), decoder G: z -> x.

One training step: one phase, run every step (phase.every = 1); the loss per example is Eq. (10):
  1. VAE  updates E and G:  −ELBO = −log p(x|z) + KL(q(z|x) ‖ N(0, I)),  z = μ + σ ⊙ ε, ε ~ N(0, I)   (§2.4)
      −log p(x|z) = ‖x − G(z)‖² / 2σ_x² + const    model_args.likelihood=gaussian, σ_x = model_args.sigma (fixed)
                  = BCE(x, G(z))                   model_args.likelihood=bernoulli (images)
      KL          = ½ Σ (μ² + σ² − log σ² − 1)     Appendix B, analytic; σ² the posterior's variance
One ε per example, drawn inside the phase (begin_step only passes x on).

Unlike the reconstruction weights of ae, aegan, aae and alphagan (per-element means, DESIGN §1), −log p(x|z) here is
summed over the D dimensions of each example (aegan.losses.reconstruction_nll), then averaged over the batch, as is
the KL over the code dimensions: the likelihood of an example is the product of its pixels' likelihoods, so the
sum is what the ELBO is, and a mean would not be a bound on log p(x) any more. The balance of the two terms is set
by the likelihood's own scale, σ_x = model_args.sigma (Gaussian; a smaller σ_x weighs the reconstruction more).
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
    Logs,
    Model,
    Phase,
    check_bernoulli_data,
    encoder_image_defaults,
)
from aegan.nets import build_decoder, build_encoder


class VAE(Model):
    name = "vae"
    paper = "Kingma & Welling 2014, Auto-Encoding Variational Bayes, arXiv:1312.6114"
    samplers = ENCODER_SAMPLERS
    args = {
        "likelihood": "gaussian",  # gaussian (fixed std `sigma`) | bernoulli (images)
        "sigma": 0.1,  # std of the Gaussian likelihood, on the model's scale
    }
    choices = {"likelihood": ("gaussian", "bernoulli")}
    positive = ("sigma",)

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["E"] = build_encoder(self.shape, 2 * self.latent_dim, width, depth)  # -> (μ, log σ²)
        self.nets["G"] = build_decoder(self.latent_dim, self.shape, width, depth, stem_norm=False)

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        if kind == "vector":
            return ENCODER_VECTOR_DEFAULTS
        # σ_x = 1 on images ([-1, 1]): with σ_x = 0.1 the summed likelihood outweighs the KL and the codes miss the
        # prior (code_kl 13.4, prior fd 496 on fashion-mnist, 4 min); with σ_x = 1: code_kl 4.7, prior fd 303
        return {**encoder_image_defaults(channels), "model_args": {"sigma": 1.0}}

    def check_data(self, ds: Any) -> None:
        if self.arg["likelihood"] == "bernoulli":
            check_bernoulli_data(ds, "model_args.likelihood=bernoulli", "model_args.likelihood=gaussian")

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.nets["E"](x).chunk(2, dim=1)
        return mu, log_var.clamp(-20.0, 10.0)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]  # the posterior mean μ

    def phases(self) -> list[Phase]:
        return [Phase("VAE", ("E", "G"), self.loss_VAE)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(x=x)

    def loss_VAE(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        mu, log_var = self.posterior(s.x)
        z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)  # z = μ + σ ⊙ ε, ε ~ N(0, I)  (§2.4)
        x_rec = self.nets["G"](z)
        if self.arg["likelihood"] == "bernoulli":
            nll = losses.reconstruction_nll(s.x, x_rec, "bce")  # −log p(x|z) = −Σ_d log Bernoulli(x_d; x̂_d)
        else:
            nll = losses.reconstruction_nll(s.x, x_rec, "mse") / (2 * self.arg["sigma"] ** 2)  # Σ_d (x_d − x̂_d)²/2σ²
        kl = losses.kl_normal(mu, log_var)  # Eq. (10), analytic KL(q(z|x) ‖ N(0, I))
        return nll + kl, {"nll": nll, "kl": kl}
