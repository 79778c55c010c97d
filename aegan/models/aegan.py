"""AE-GAN: an autoencoder with a data discriminator on its reconstructions and on decoded prior samples.

The discriminator sharpens what a pixel-wise reconstruction loss blurs, as in Larsen, Sønderby, Larochelle &
Winther, "Autoencoding beyond pixels using a learned similarity metric", 2016, arXiv:1512.09300, and Rosca,
Lakshminarayanan, Warde-Farley & Mohamed, "Variational Approaches for Auto-Encoding Generative Adversarial
Networks", 2017, arXiv:1706.04987, without their code-space terms.
Networks: encoder E: x -> ẑ, generator G: z -> x, data discriminator D: x -> logit.

One training step, in the order the loop runs it; both phases run every step (phase.every = 1):
  shared:  z ~ N(0, I),  x̂ = G(E(x)),  x' = G(z)                once, before the phases (begin_step)
  1. D   updates D:     −log σ(D(x)) − log(1 − σ(D(x̂))) − log(1 − σ(D(x')))     x̂ and x' detached
  2. AE  updates E, G:  λ · 1/(N·D) Σ_n Σ_d err(x_nd, x̂_nd)    reconstruction, λ = model_args.lam,
                                                                 err = model_args.recon: l1 |·| | mse (·)² | bce
                        + W · 1/(N·F) Σ_n ‖φ(x_n) − φ(x̂_n)‖²    perceptual term, W = model_args.perceptual (0 = off)
                        − log σ(D(x̂))            x̂ should look real: reaches E and G
                        − log σ(D(x'))           x' should look real: reaches G only
D in phase 2 is the D just updated in phase 1. tricks.feature_matching applies to the x' term only.
The reconstruction is a mean over the D elements of each example and the N of the batch, so λ means the same on
2-D points and on 28×28 images (DESIGN §1). The perceptual term (images only) compares x and x̂ in features φ:
model_args.perceptual_net=D, D's penultimate layer, the learned similarity of Larsen et al. 2016 (D as updated in
phase 1; φ(x) without gradient; phase 2 trains E and G only, so no gradient reaches D), or features, a separate
feature network trained on the data set (Dosovitskiy & Brox 2016, "Generating Images with Perceptual Similarity
Metrics based on Deep Networks", arXiv:1602.02644).
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
    PERCEPTUAL_NETS,
    Logs,
    Model,
    Phase,
    check_bernoulli_data,
    encoder_image_defaults,
)
from aegan.nets import build_encoder


class AEGAN(Model):
    name = "aegan"
    paper = "autoencoder + data discriminator (cf. Larsen et al. 2016, arXiv:1512.09300)"
    has_D = True
    samplers = ENCODER_SAMPLERS
    args = {
        "lam": 10.0,  # λ, weight of the reconstruction, a per-element mean err(x, x̂)
        "recon": "l1",  # err: l1 | mse | bce
        "perceptual": 0.0,  # W, weight of the perceptual term mean ‖φ(x) − φ(x̂)‖²; 0 = off; images only
        "perceptual_net": "D",  # φ: D (D's penultimate layer) | features (a separate feature network)
    }
    choices = {"recon": losses.RECONSTRUCTIONS, "perceptual_net": PERCEPTUAL_NETS}
    positive = ("lam",)  # λ = 0 would drop the reconstruction, and with it what E learns
    nonnegative = ("perceptual",)

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["E"] = build_encoder(self.shape, self.latent_dim, width, depth)
        self.nets["G"] = self.build_G(width, depth)
        self.nets["D"] = self.build_D(width, depth)

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        if kind != "vector":
            # λ = 50 on images: at λ = 10 the GAN terms outweigh the reconstruction (held-out MSE 0.40, fd_recon 128 on
            # fashion-mnist, 4 min); at 50: MSE 0.22, fd_recon 53 (the ae's: 63), fd through the code model 59.
            # Adam 1.6e-3, the gan's rate: at 10 minutes, seeds 0 and 1 each beside 8e-4, the code model's fd 35.8 and
            # 32.5 against 38.6 and 41.6, fd_check 5.33 and 5.37 against 6.40 and 6.38, recall and fd_recon better too
            # (benchmarks/README.md, aegan and vaegan at the gan's rate)
            return {**encoder_image_defaults(channels, lr=1.6e-3), "model_args": {"lam": 50.0}}
        # λ = 20 on the mean of 2-D data: the λ = 10 on the summed L1 this preset had before the mean (DESIGN §1)
        return {**ENCODER_VECTOR_DEFAULTS, "model_args": {"lam": 20.0}}

    def check_data(self, ds: Any) -> None:
        if self.arg["recon"] == "bce":
            check_bernoulli_data(ds, "model_args.recon=bce", "model_args.recon=l1 or mse")

    def phases(self) -> list[Phase]:
        return [Phase("D", ("D",), self.loss_D), Phase("AE", ("E", "G"), self.loss_AE)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        z = self.prior(len(x), x.device)
        x_rec = self.nets["G"](self.nets["E"](x))  # x̂ = G(E(x))
        x_gen = self.nets["G"](z)  # x' = G(z)
        return SimpleNamespace(x=x, z=z, x_rec=x_rec, x_gen=x_gen)

    def loss_D(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        d_real = self.nets["D"](s.x)
        d_rec = self.nets["D"](s.x_rec.detach())
        d_gen = self.nets["D"](s.x_gen.detach())
        loss = self.d_loss(d_real, d_rec, d_gen)  # −log D(x) − log(1 − D(x̂)) − log(1 − D(x'))
        return loss, {"d_real": d_real.mean(), "d_gen": d_gen.mean()}

    def loss_AE(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        rec = losses.reconstruction(s.x, s.x_rec, self.arg["recon"])  # mean err(x, x̂) over elements and batch
        perceptual = self.perceptual(s)  # W·mean ‖φ(x) − φ(x̂)‖², Larsen 2016 (φ = D) / Dosovitskiy & Brox 2016
        rec_adv = losses.adversarial(self.nets["D"](s.x_rec))  # −log D(x̂)
        gen_adv = self.g_adversarial(s.x_gen, s.x)  # −log D(x')
        return self.arg["lam"] * rec + rec_adv + gen_adv + perceptual, {"rec": rec, **self.perceptual_logs(s)}
