"""Sample diversity as the mean MS-SSIM between random pairs of images (higher = less diverse).

- MS-SSIM: Wang, Simoncelli & Bovik 2003, "Multi-scale structural similarity for image quality assessment"
  (Asilomar Conference on Signals, Systems and Computers), with SSIM of Wang et al. 2004:
      SSIM  = l · cs,  l = (2 μa μb + C1) / (μa² + μb² + C1),  cs = (2 σab + C2) / (σa² + σb² + C2),
      MS-SSIM = ∏_{j<M} cs_j^{w_j} · SSIM_M^{w_M},
  local statistics under a Gaussian window (11 taps, σ 1.5), valid region only, C1 = (0.01 L)², C2 = (0.03 L)²
  with L = 1 (images in [0, 1]), 2×2 average pooling between scales, the standard weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), and negative cs / SSIM clipped to 0 before the powers. This is what
  pytorch_msssim (VainF) and tf.image.ssim_multiscale compute for images of 176 px and more.
- Diversity: Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs", arXiv:1610.09585,
  Section 4.2: mean MS-SSIM over random pairs of distinct samples.

Small images. Five scales need sides of at least 11 · 2⁴ = 176 px; ours are 28×28 or 8×8. So we use the
largest number of scales M ≤ 5 at which the smallest side, halved M − 1 times (floor), still holds the
window, take the first M standard weights renormalised to sum to 1, and shrink the window for images smaller
than 11 px to the largest odd size that fits, with σ = 1.5 · size / 11. 28×28: M = 2 (28, 14 px), weights
(0.1356, 0.8644), window 11. 8×8: M = 1 (plain SSIM), window 7, σ ≈ 0.95. Scores are comparable only
between images of one size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, scales fine to coarse
WINDOW, SIGMA = 11, 1.5
K1, K2 = 0.01, 0.03


def msssim_config(height: int, width: int) -> tuple[int, float, tuple[float, ...]]:
    """(window size, window σ, renormalised weights: one per scale) used for images of this size."""
    side = min(height, width)
    if side < 1:
        raise ValueError(f"msssim needs images at least 1 px wide, got {height}×{width}")
    window = min(WINDOW, side if side % 2 else side - 1)
    sigma = SIGMA * window / WINDOW
    scales = 1
    while scales < len(WEIGHTS) and side // 2**scales >= window:
        scales += 1
    w = np.asarray(WEIGHTS[:scales])
    return window, sigma, tuple(float(v) for v in w / w.sum())


def _gaussian_filter(x: torch.Tensor, window: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian filter over each channel of x (N, C, H, W); valid region (N, C, H−w+1, W−w+1)."""
    t = torch.arange(window, dtype=x.dtype) - (window - 1) / 2
    g = torch.exp(-t**2 / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, window).expand(c, 1, 1, window), groups=c)
    return F.conv2d(x, g.view(1, 1, window, 1).expand(c, 1, window, 1), groups=c)


def _ssim_cs(a: torch.Tensor, b: torch.Tensor, window: int, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean cs per image and channel, each (N, C)."""
    c1, c2 = K1**2, K2**2  # data range L = 1
    mu_a, mu_b = _gaussian_filter(a, window, sigma), _gaussian_filter(b, window, sigma)
    var_a = _gaussian_filter(a * a, window, sigma) - mu_a**2
    var_b = _gaussian_filter(b * b, window, sigma) - mu_b**2
    cov_ab = _gaussian_filter(a * b, window, sigma) - mu_a * mu_b
    cs = (2 * cov_ab + c2) / (var_a + var_b + c2)  # contrast · structure
    lum = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)  # luminance
    return (lum * cs).mean((-2, -1)), cs.mean((-2, -1))


def msssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MS-SSIM (N,) between image batches a and b (N, C, H, W) in [0, 1], averaged over channels."""
    if a.ndim != 4 or a.shape != b.shape:
        raise ValueError(f"msssim expects two image batches of one shape (N, C, H, W), got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    lo, hi = float(torch.minimum(a.min(), b.min())), float(torch.maximum(a.max(), b.max()))
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"msssim expects images in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                         "map [-1, 1] images with (x + 1) / 2 first")
    a, b = a.float(), b.float()
    window, sigma, weights = msssim_config(a.shape[-2], a.shape[-1])
    score = torch.ones(a.shape[:2])  # (N, C)
    for j, w_j in enumerate(weights):
        ssim, cs = _ssim_cs(a, b, window, sigma)
        if j < len(weights) - 1:
            score = score * cs.clamp_min(0.0) ** w_j  # cs_j^{w_j}, scales 1 .. M−1
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        else:
            score = score * ssim.clamp_min(0.0) ** w_j  # SSIM_M^{w_M}, coarsest scale
    return score.mean(1)


def msssim_diversity(images: torch.Tensor, pairs: int = 1000, seed: int = 0, batch: int = 500) -> float:
    """Mean MS-SSIM over `pairs` random pairs of distinct images from images (N, C, H, W) in [0, 1].

    1 = all images identical (total collapse); unrelated noise images score near 0.
    """
    images = torch.as_tensor(images)
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"msssim_diversity expects at least 2 images (N, C, H, W), got shape {tuple(images.shape)}")
    rng = np.random.default_rng(seed)
    n = len(images)
    i = rng.integers(0, n, size=pairs)
    j = (i + rng.integers(1, n, size=pairs)) % n  # j ≠ i
    scores = [msssim(images[i[s:s + batch]], images[j[s:s + batch]]) for s in range(0, pairs, batch)]
    return float(torch.cat(scores).mean())
