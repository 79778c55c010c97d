"""VEEGAN: a GAN with a reconstructor network F: x -> z that autoencodes the noise, and a joint discriminator.

Srivastava, Valkov, Russell, Gutmann & Sutton, "VEEGAN: Reducing Mode Collapse in GANs using Implicit Variational
Learning", NeurIPS 2017, arXiv:1705.07761. Networks: generator G: z -> x, reconstructor F: x -> z (the model's encoder:
codes for the code-model samplers, reconstructions G(F(x))), joint discriminator D: (x, z) -> logit (the JointD of
aegan.models.bigan). Its objective O(γ, θ) = KL(q_γ(x|z)p₀(z) ‖ p_θ(z|x)p(x)) − E log p₀(z) + E d(z, F(G(z))) bounds the
cross-entropy between the prior and F's codes from above: a generator that drops modes maps its noise onto few data
points, from which F cannot recover the noise. D estimates the KL's log density ratio; d is the ℓ2 autoencoder loss of
the noise. Ô is the estimate of O that G and F minimise, O_LR the logistic loss that trains D (the paper's names).

One training step, in the order the loop runs it; both phases run every step (phase.every = 1):
  shared:  z ~ N(0, I),  x_g = G(z),  z_r = F(x_g),  z_g = F(x)      once, before the phases (begin_step)
  1. D   updates D:     −log σ(D(x, z_g)) − log(1 − σ(D(x_g, z)))     O_LR (Algorithm 1, g_ω); x_g and z_g detached
  2. GF  updates G, F:  −D(x_g, z)                                     Ô's first term D_ω(z, x_g): the KL estimate
                        + λ · 1/N Σ_n ‖z_n − z_r,n‖²                   Ô's second term d(z, F(G(z))), ℓ2; λ = 1: Ô
Algorithm 1 steps F on ∇_θ of the ℓ2 term and G on ∇_γ Ô; Ô's first term does not depend on F, so one Adam over G and
F on Ô makes exactly these two updates (Adam is per weight). Algorithm 1 takes all gradients at the same weights; here,
as in every model of the family, phase GF sees D as phase D just updated it.

Sign convention: the paper's D_ω(z, x) calls the generator pairs (z, G(z)) real and the data pairs (F(x), x) fake,
so that D_ω estimates log q_γ(x|z)p₀(z) / p_θ(z|x)p(x). Here D(x, z) = −D_ω(z, x): the data pairs are D's real class,
as for every discriminator of the family, so that tricks.label_smoothing and tricks.r1 act on data. O_LR is the same
loss (σ(−a) = 1 − σ(a)), and Ô's first term D_ω(z, x_g) is −D(x_g, z), the density-ratio form −logit of
aegan.losses.adversarial (model_args.adversarial=ratio, as published); model_args.adversarial=nonsaturating puts
−log σ(D(x_g, z)) in its place. tricks.feature_matching compares D's joint features of (x_g, z) with those of
(x, z_g) and adds to (or replaces, feature_matching_only) the adversarial term; tricks.r1 penalises ∇ of D over the
whole data pair (x, z_g).

F is deterministic by default on vectors (p_θ(z|x) a point mass at F(x)); model_args.noise=σ makes it the Gaussian
p_θ(z|x) = N(F(x), σ²I) of the authors' released 2-D code (σ = 1 there): D's data pairs take a draw z_g = F(x) + σε,
while the codes the samplers fit and the reconstruction use the mean F(x). With a noise of many more dimensions than
the data (254 in that code), a point mass F(x) lies on a data-sized manifold that D tells from N(0, I) at once; the
draw fills the space around it. On images the preset is σ = 1: with a point mass there, D won within a few hundred
steps and G collapsed (VEEGAN.defaults). The ℓ2 term is the squared norm over the code's dimensions (the paper's d),
averaged over the batch; the released code's −log N(z; F(G(z)), I) is half of it (λ = 0.5).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from aegan import losses
from aegan.config import Config
from aegan.models.base import ENCODER_SAMPLERS, Logs, Model, Phase
from aegan.models.bigan import BiGAN, build_joint_D, gaussian_draw, joint_generator_term
from aegan.nets import build_encoder


class VEEGAN(Model):
    name = "veegan"
    paper = ("Srivastava et al. 2017, VEEGAN: Reducing Mode Collapse in GANs using Implicit Variational Learning, "
             "arXiv:1705.07761")
    has_D = True
    samplers = ENCODER_SAMPLERS
    args = {
        "lam": 1.0,  # λ, weight of the noise autoencoder ‖z − F(G(z))‖²; 1 = as published (Ô)
        "adversarial": "ratio",  # G's adversarial term: ratio −logit = D_ω(z, G(z)) as published, or nonsaturating
        "noise": 0.0,  # σ of the reconstructor p_θ(z|x) = N(F(x), σ²I) that D's data pairs are drawn from; 0 = F(x)
    }
    choices = {"adversarial": losses.ADVERSARIAL_FORMS}
    positive = ("lam",)  # λ = 0 would leave F untrained
    nonnegative = ("noise",)

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["F"] = build_encoder(self.shape, self.latent_dim, width, depth)  # the reconstructor
        self.nets["G"] = self.build_G(width, depth)
        self.nets["D"] = build_joint_D(self, width, depth)

    @property
    def has_encoder(self) -> bool:
        return "F" in self.nets

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(n, *shape) -> codes F(x) (n, latent_dim): the reconstructor is the encoder."""
        return self.nets["F"](x)

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        """bigan's presets (aegan.models.bigan), and on images the Gaussian reconstructor σ = 1 of the authors' code.

        With a deterministic F(x) on fashion-mnist (10 minutes, seed 0, Adam 8e-4) D told the data pairs from the
        generator pairs within a few hundred steps (its loss 0.01 from then on) and G collapsed: fd 391 through the
        prior (fd_check 136), recall 0.00, coverage 0.05; with σ = 1 fd 51.7 (fd_check 11.0), recall 0.59, coverage
        0.53. Adam 2e-4 or 1.6e-3 and the nonsaturating form were no better on both judges (README, Image presets)."""
        preset = BiGAN.defaults(kind, channels)
        if kind == "vector":
            return preset
        return {**preset, "model_args": {**preset.get("model_args", {}), "noise": 1.0}}  # bigan's own kept

    def phases(self) -> list[Phase]:
        return [Phase("D", ("D",), self.loss_D), Phase("GF", ("G", "F"), self.loss_GF)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        z = self.prior(len(x), x.device)
        x_g = self.nets["G"](z)  # x_g = G(z): the generator pair (x_g, z)
        z_r = self.nets["F"](x_g)  # F(G(z)): the noise, reconstructed
        z_g = gaussian_draw(self.nets["F"](x), self.arg["noise"])  # z_g = F(x), or ~ N(F(x), σ²I): (x, z_g)
        return SimpleNamespace(x=x, z=z, x_g=x_g, z_r=z_r, z_g=z_g, real_pair=(x, z_g))

    def loss_D(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        d_data = self.nets["D"](s.x, s.z_g.detach())
        d_gen = self.nets["D"](s.x_g.detach(), s.z)
        loss = self.d_loss(d_data, d_gen)  # −log(1 − σ(D_ω(z_g, x))) − log σ(D_ω(z, x_g)): O_LR, Algorithm 1
        return loss, {"d_data": d_data.mean(), "d_gen": d_gen.mean()}

    def loss_GF(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        form = self.arg["adversarial"]
        kl = joint_generator_term(self, lambda logit: losses.adversarial(logit, form),  # D_ω(z, x_g) = −D(x_g, z)
                                  (s.x_g, s.z), (s.x, s.z_g))
        rec = (s.z - s.z_r).square().sum(1).mean()  # d(z, F(G(z))) = ‖z − F(G(z))‖², ℓ2: Ô's autoencoder term
        return kl + self.arg["lam"] * rec, {"rec": rec}
