"""Mode coverage on data with known modes (ring8, grid25, any Gaussian mixture with known centres), and the
same histogram statistics for samples whose modes a classifier assigns (images, via the evaluator).

The protocol of VEEGAN (Srivastava et al. 2017, arXiv:1705.07761) and PacGAN (Lin et al. 2018,
arXiv:1712.04086): a sample is *high quality* if it lies within 3 standard deviations of its nearest
mode centre; a mode is *covered* if at least one high-quality sample is assigned to it; `kl_modes` is
KL(p_gen || p_true) between the histogram of high-quality samples over modes and the true mode weights.
In D > 2 dimensions "within 3 std" would count almost nothing (a mode's own samples lie about std·√D from its
centre), so the radius is the one that keeps the same share of a mode's own samples as 3 std does in 2-D
(quality_radius): exactly 3 std in 2-D, std·√(χ²_D quantile of 1 − e^{-4.5}) in general, D the dimensions in
which a mode spreads (700 of synthetic1200's 1,200, whose other 500 are constant within a mode: 28 std). A mode's
std is one number (isotropic) or one per coordinate, 0 where a mode does not vary; the distance is Euclidean in
data units either way. `radius=` replaces the rule, e.g. VEEGAN's stated "within 10 std" for its 1,200-D set.
`within_mode_spread` tells subtle collapse inside the modes: the RMS distance of the high-quality samples to their
centre over a mode's own, std·√D (about 1 for the data; 0 for samples piled on the centres, which the high-quality
rule counts as perfect).

`kl_modes` is one formula on both kinds of data (histogram_stats): KL(p ‖ q) = Σ_k p_k log(p_k / q_k), natural
log, p the generated histogram normalised over the samples it counts, q the true weights normalised; modes with
p_k = 0 add nothing (0 log 0 = 0), nothing is smoothed, and with no counted sample it is log(1 / min q), the worst
case of a point mass. Two things differ, by what each kind of data offers:
- which samples are counted: on vectors (mode_stats) only the high-quality ones (finite, within 3 std of their
  nearest centre), so samples between modes lower high_quality_fraction, not kl_modes; on images every sample
  counts, in the evaluator's argmax class (class tuple on stacked data), however poor: there is no quality cut.
  So modes_covered on images means "≥ 1 sample classified as it".
- q: on vectors the mixture's weights (uniform on ring8 and grid25); on images the class frequencies of the
  training labels (on stacked data their product over the channels), so the evaluator's own mistakes make
  kl_modes of real images slightly above 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

TWO_D_SHARE = 1.0 - math.exp(-4.5)  # share of a 2-D isotropic Gaussian within 3 std of its centre: P(χ²₂ ≤ 9)


def quality_radius(std: float, dim: int) -> float:
    """The high-quality radius of a mode of `std` in `dim` dimensions: 3·std in 1 or 2 dimensions (the papers'
    rule), else the radius holding the same share of the mode's own samples, std·√(χ²_dim quantile of TWO_D_SHARE)."""
    if dim <= 2:
        return 3.0 * std
    from scipy.stats import chi2

    return std * math.sqrt(float(chi2.ppf(TWO_D_SHARE, dim)))


def mode_spread(std: float | torch.Tensor | np.ndarray, dim: int) -> tuple[float, int]:
    """(σ, the number of dimensions a mode spreads in) of a mode's std: a number (isotropic in all `dim`), or one
    per coordinate (D,), 0 where the mode is constant; the non-zero ones must be equal."""
    s = torch.as_tensor(np.asarray(std), dtype=torch.float64)
    if s.ndim == 0:
        return float(s), dim
    if s.shape != (dim,) or not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
        raise ValueError(f"a per-coordinate std must be ({dim},), finite and non-negative, got {tuple(s.shape)}")
    spread = s[s > 0]
    if len(spread) == 0 or not bool((spread == spread[0]).all()):
        raise ValueError("a per-coordinate std must have one non-zero value (a mode isotropic where it varies)")
    return float(spread[0]), len(spread)


def mode_stats(samples: torch.Tensor | np.ndarray, centres: torch.Tensor | np.ndarray,
               std: float | torch.Tensor | np.ndarray, weights: torch.Tensor | np.ndarray | None = None,
               radius: float | None = None) -> dict[str, Any]:
    """samples (N, D), centres (K, D) in the same units, std of each mode (a number, or one per coordinate:
    mode_spread), weights (K,) (default uniform), radius: the high-quality radius in data units (default
    quality_radius of the mode's spread).

    Returns modes_total, modes_covered, high_quality_fraction, kl_modes, within_mode_spread (the high-quality
    samples' RMS distance to their centre over std·√D; 0 with none) and mode_counts (high-quality samples per mode,
    the histogram the benchmark reports draw). With no high-quality sample at all, kl_modes is the worst case for a
    point mass, log(1 / min weight), so the number stays finite and large.
    """
    x = torch.as_tensor(np.asarray(samples), dtype=torch.float64)
    c = torch.as_tensor(np.asarray(centres), dtype=torch.float64)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1]:
        raise ValueError(f"mode_stats expects samples (N, D) and centres (K, D), got {tuple(x.shape)} and "
                         f"{tuple(c.shape)}")
    q = torch.full((len(c),), 1.0, dtype=torch.float64) if weights is None else np.asarray(weights)
    finite = torch.isfinite(x).all(dim=1)
    dist, nearest = torch.cdist(x[finite], c).min(dim=1)  # distance to and index of the nearest centre
    sigma, dim = mode_spread(std, c.shape[1])
    good = dist <= (quality_radius(sigma, dim) if radius is None else radius)
    hist, counts = _histogram(nearest[good], q)
    spread = float(dist[good].square().mean().sqrt()) / (sigma * math.sqrt(dim)) if bool(good.any()) else 0.0
    return {"modes_total": hist["modes_total"], "modes_covered": hist["modes_covered"],
            "high_quality_fraction": int(good.sum()) / len(x) if len(x) else 0.0, "kl_modes": hist["kl_modes"],
            "within_mode_spread": spread, "mode_counts": [int(c) for c in counts]}


def histogram_stats(assigned: torch.Tensor | np.ndarray, weights: torch.Tensor | np.ndarray) -> dict[str, float]:
    """modes_total, modes_covered and kl_modes of samples assigned to modes (M,) (ints in 0..K-1, e.g. a
    classifier's predictions), against the true mode weights (K,).

    With no sample at all, kl_modes is the worst case for a point mass, log(1 / min weight)."""
    return _histogram(assigned, weights)[0]


def _histogram(assigned: torch.Tensor | np.ndarray, weights: torch.Tensor | np.ndarray
               ) -> tuple[dict[str, float], torch.Tensor]:
    q = torch.as_tensor(np.asarray(weights), dtype=torch.float64)
    q = q / q.sum()
    k = len(q)
    counts = torch.bincount(torch.as_tensor(np.asarray(assigned), dtype=torch.long), minlength=k).double()
    if len(counts) > k:
        raise ValueError(f"mode index {len(counts) - 1} is out of range for {k} modes")
    n = float(counts.sum())
    if n:
        p = counts / n
        nz = p > 0
        kl = float((p[nz] * (p[nz] / q[nz]).log()).sum())
    else:
        kl = float(math.log(1.0 / float(q.min())))
    return {"modes_total": k, "modes_covered": int((counts > 0).sum()), "kl_modes": max(kl, 0.0)}, counts
