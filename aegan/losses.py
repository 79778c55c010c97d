"""Loss primitives shared by the models. The models write each paper term on its own line with these."""

from __future__ import annotations

import torch
import torch.nn.functional as F

RECONSTRUCTIONS = ("l1", "mse", "bce")  # the `kind`s of `reconstruction`
ADVERSARIAL_FORMS = ("nonsaturating", "ratio")  # the `form`s of `adversarial`


def reconstruction(x: torch.Tensor, x_rec: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Per-example reconstruction error summed over dimensions (a norm, as the papers write it), batch mean.

    kind: "l1" ‖x − x̂‖₁, "mse" ‖x − x̂‖², or "bce" for images in [−1, 1] read as Bernoulli means in [0, 1].
    """
    if kind == "l1":
        err = (x - x_rec).abs()
    elif kind == "mse":
        err = (x - x_rec).square()
    elif kind == "bce":
        p = ((x_rec + 1) / 2).clamp(1e-6, 1 - 1e-6)
        err = F.binary_cross_entropy(p, ((x + 1) / 2).clamp(0, 1), reduction="none")
    else:
        raise ValueError(f"unknown reconstruction loss {kind!r}: use one of {', '.join(RECONSTRUCTIONS)}")
    return err.flatten(1).sum(1).mean()


def kl_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(log_var)) ‖ N(0, I)) = ½ Σ (mu² + σ² − log σ² − 1), summed over dims, batch mean.

    Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114, Appendix B.
    """
    return 0.5 * (mu.square() + log_var.exp() - log_var - 1).sum(1).mean()


def adversarial(logit: torch.Tensor, form: str = "nonsaturating") -> torch.Tensor:
    """Loss of a network that wants its output classified as real by a discriminator producing `logit`.

    "nonsaturating": −log σ(logit) (Goodfellow 2014, §3); "ratio": −logit, the density-ratio form of
    α-GAN (Rosca et al. 2017, §3), since a discriminator's logit estimates log p_real / p_fake.
    """
    if form == "nonsaturating":
        return F.softplus(-logit).mean()  # −log σ(logit)
    if form == "ratio":
        return -logit.mean()  # −log(D / (1 − D))
    raise ValueError(f"unknown adversarial loss {form!r}: use one of {', '.join(ADVERSARIAL_FORMS)}")


def discriminator(real_logit: torch.Tensor, *fake_logits: torch.Tensor) -> torch.Tensor:
    """−log σ(real) − Σ log(1 − σ(fake)): the discriminator's cross-entropy, one term per kind of fake."""
    loss = F.softplus(-real_logit).mean()  # −log σ(D(real))
    for fake in fake_logits:
        loss = loss + F.softplus(fake).mean()  # −log(1 − σ(D(fake)))
    return loss
