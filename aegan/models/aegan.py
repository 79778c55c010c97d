"""AE-GAN: an autoencoder with a data discriminator on its reconstructions and on decoded prior samples.

The discriminator sharpens what a pixel-wise reconstruction loss blurs, as in Larsen, Sønderby, Larochelle &
Winther, "Autoencoding beyond pixels using a learned similarity metric", 2016, arXiv:1512.09300, and Rosca,
Lakshminarayanan, Warde-Farley & Mohamed, "Variational Approaches for Auto-Encoding Generative Adversarial
Networks", 2017, arXiv:1706.04987, without their code-space terms.
Networks: encoder E: x -> ẑ, generator G: z -> x, data discriminator D: x -> logit.

One training step, in the order the loop runs it; both phases run every step (phase.every = 1):
  shared:  z ~ N(0, I),  x̂ = G(E(x)),  x' = G(z)                once, before the phases (begin_step)
  1. D   updates D:     −log σ(D(x)) − log(1 − σ(D(x̂))) − log(1 − σ(D(x')))     x̂ and x' detached
  2. AE  updates E, G:  λ‖x − x̂‖                 reconstruction, model_args.lam and model_args.recon (l1 | mse | bce)
                        − log σ(D(x̂))            x̂ should look real: reaches E and G
                        − log σ(D(x'))           x' should look real: reaches G only
D in phase 2 is the D just updated in phase 1. tricks.feature_matching applies to the x' term only.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from aegan import losses
from aegan.config import Config
from aegan.models.base import ENCODER_SAMPLERS, ENCODER_VECTOR_DEFAULTS, Logs, Model, Phase, check_bernoulli_data
from aegan.nets import build_encoder


class AEGAN(Model):
    name = "aegan"
    paper = "autoencoder + data discriminator (cf. Larsen et al. 2016, arXiv:1512.09300)"
    has_D = True
    samplers = ENCODER_SAMPLERS
    args = {
        "lam": 10.0,  # λ, weight of ‖x − x̂‖ (summed over dimensions)
        "recon": "l1",  # l1 | mse | bce
    }
    choices = {"recon": losses.RECONSTRUCTIONS}
    positive = ("lam",)  # λ = 0 would drop the reconstruction, and with it what E learns

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["E"] = build_encoder(self.shape, self.latent_dim, width, depth)
        self.nets["G"] = self.build_G(width, depth)
        self.nets["D"] = self.build_D(width, depth)

    @staticmethod
    def defaults(kind: str) -> dict[str, Any]:
        return ENCODER_VECTOR_DEFAULTS if kind == "vector" else {}

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
        rec = losses.reconstruction(s.x, s.x_rec, self.arg["recon"])  # ‖x − x̂‖
        rec_adv = losses.adversarial(self.nets["D"](s.x_rec))  # −log D(x̂)
        gen_adv = self.g_adversarial(s.x_gen, s.x)  # −log D(x')
        return self.arg["lam"] * rec + rec_adv + gen_adv, {"rec": rec}
