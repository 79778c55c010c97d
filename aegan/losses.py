"""Loss primitives shared by the models. The models write each paper term on its own line with these."""

from __future__ import annotations

import torch
import torch.nn.functional as F

RECONSTRUCTIONS = ("l1", "mse", "bce")  # the `kind`s of `reconstruction`
ADVERSARIAL_FORMS = ("nonsaturating", "ratio")  # the `form`s of `adversarial`


def reconstruction_errors(x: torch.Tensor, x_rec: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """The error of every element, shape of x: |x − x̂| ("l1"), (x − x̂)² ("mse"), or the Bernoulli NLL ("bce")
    −[t log p + (1 − t) log(1 − p)] of images in [−1, 1] read as Bernoulli means t = (x + 1)/2, p = (x̂ + 1)/2."""
    if kind == "l1":
        return (x - x_rec).abs()
    if kind == "mse":
        return (x - x_rec).square()
    if kind == "bce":
        p = ((x_rec + 1) / 2).clamp(1e-6, 1 - 1e-6)
        return F.binary_cross_entropy(p, ((x + 1) / 2).clamp(0, 1), reduction="none")
    raise ValueError(f"unknown reconstruction loss {kind!r}: use one of {', '.join(RECONSTRUCTIONS)}")


def reconstruction(x: torch.Tensor, x_rec: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """1/(N·D) Σ_n Σ_d err(x_nd, x̂_nd): the mean over elements and batch (DESIGN §1), so that a weight λ on it
    means the same on 2-D points, 8×8 and 28×28 images. kind: "l1" |x − x̂|, "mse" (x − x̂)², "bce" (images)."""
    return reconstruction_errors(x, x_rec, kind).mean()


def reconstruction_nll(x: torch.Tensor, x_rec: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """1/N Σ_n Σ_d err(x_nd, x̂_nd): summed over each example's D dimensions, batch mean. A log-likelihood of a
    whole example is this sum (the pixels' log-likelihoods add up), which is what an ELBO needs (the VAE)."""
    return reconstruction_errors(x, x_rec, kind).flatten(1).sum(1).mean()


def perceptual(f_x: torch.Tensor, f_rec: torch.Tensor) -> torch.Tensor:
    """1/(N·F) Σ_n ‖φ(x_n) − φ(x̂_n)‖²: squared feature distance, a mean over the F features and the batch.

    A distance in a network's features instead of pixels: Larsen et al. 2016, arXiv:1512.09300 (φ a layer of
    the GAN's own discriminator, a learned similarity); Dosovitskiy & Brox 2016, "Generating Images with
    Perceptual Similarity Metrics based on Deep Networks", arXiv:1602.02644 (φ a fixed feature network; PPGN's
    generator is trained with it, Nguyen et al. 2017). f_x, f_rec: (N, F) features of x and x̂.
    """
    if f_x.shape != f_rec.shape:
        raise ValueError(f"perceptual: features of x {tuple(f_x.shape)} and of x̂ {tuple(f_rec.shape)} differ")
    return (f_x - f_rec).square().mean()


IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # WAE-MMD's kernel scales, times 2·d (Tolstikhin et al. 2018)


def mmd_imq(x: torch.Tensor, y: torch.Tensor, scales: tuple[float, ...] = IMQ_SCALES) -> torch.Tensor:
    """Unbiased MMD² between codes x (n, d) and y (m, d) with a sum of inverse multiquadratic kernels
    k(a, b) = c / (c + ‖a − b‖²), c = s · 2d for each scale s (2d = 2·d·σ² of a standard normal prior), differentiable.

    The code penalty of WAE-MMD (Tolstikhin, Bousquet, Gelly & Schölkopf, "Wasserstein Auto-Encoders", 2018,
    arXiv:1711.01558, §3 and Algorithm 2): the IMQ's heavy tails keep a gradient for codes far from the prior's
    samples, where a Gaussian kernel's vanishes; the unbiased estimate of Gretton et al. 2012 (diagonals left out)."""
    n, m, d = len(x), len(y), x.shape[1]
    if n < 2 or m < 2:
        raise ValueError(f"MMD needs at least 2 codes per set, got {n} and {m}")
    dxx, dyy, dxy = torch.cdist(x, x).square(), torch.cdist(y, y).square(), torch.cdist(x, y).square()
    off_x, off_y = 1 - torch.eye(n, dtype=x.dtype, device=x.device), 1 - torch.eye(m, dtype=y.dtype, device=y.device)
    total = x.new_zeros(())
    for s in scales:
        c = 2.0 * d * s
        total = total + ((c / (c + dxx)) * off_x).sum() / (n * (n - 1)) + ((c / (c + dyy)) * off_y).sum() / (
            m * (m - 1)) - 2 * (c / (c + dxy)).mean()
    return total


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
