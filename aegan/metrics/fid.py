"""Fréchet distance (FD/FID) and kernel distance (KID) between two sets of features.

- FD: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
  Equilibrium", arXiv:1706.08500. Matches pytorch-fid's `calculate_frechet_distance` (mean and unbiased
  covariance of each set, float64). The trace of the matrix square root is taken from the eigenvalues of the
  symmetric PSD product sqrt(S1) S2 sqrt(S1), which has the same spectrum as S1 S2; this needs no complex
  arithmetic and handles near-singular covariances (negative round-off eigenvalues are clipped to 0), where
  pytorch-fid's `scipy.linalg.sqrtm` must drop imaginary parts and retry with `eps` added to the diagonals.
- KID: Bińkowski et al. 2018, "Demystifying MMD GANs", arXiv:1801.01401. Matches the authors' reference
  `polynomial_mmd_averages` (also torch-fidelity's and torchmetrics' KID): the unbiased MMD² estimate
  (`mmd_est='unbiased'`) with the kernel k(x, y) = (xᵀy / d + 1)³, averaged over random subsets drawn without
  replacement; the std is over subsets (ddof 0).
"""

from __future__ import annotations

import numpy as np
import torch

from aegan.metrics._features import as_pair


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; round-off negative eigenvalues become 0."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_from_moments(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                                  eps: float = 1e-6) -> float:
    """d² = ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}), Eq. (6) of Heusel et al., between N(μ1, Σ1) and N(μ2, Σ2).

    eps is added to both diagonals only if the product's spectrum is not finite (pytorch-fid's fallback).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"moments do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    root1 = _sqrt_psd(sigma1)
    eig = np.linalg.eigvalsh(root1 @ sigma2 @ root1)  # same spectrum as Σ1 Σ2, but symmetric PSD
    if not np.isfinite(eig).all():
        offset = eps * np.eye(len(mu1))
        root1 = _sqrt_psd(sigma1 + offset)
        eig = np.linalg.eigvalsh(root1 @ (sigma2 + offset) @ root1)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()  # tr (Σ1 Σ2)^{1/2}
    fd = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean
    return float(max(fd, 0.0))  # FD ≥ 0; only round-off (~1e-14) is clipped


def frechet_distance(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor) -> float:
    """FD between Gaussians fitted to feats_a (N, D) and feats_b (M, D): sample means, unbiased covariances."""
    a, b = as_pair(feats_a, feats_b, ("feats_a", "feats_b"))
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"FD needs at least 2 samples per set to estimate a covariance, got {len(a)} and {len(b)}")
    return frechet_distance_from_moments(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int) -> float:
    """Unbiased MMD² of two equal-size sets (m, d) with k(x, y) = (xᵀy / d + 1)^degree."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1.0) ** degree
    k_yy = (y @ y.T / d + 1.0) ** degree
    k_xy = (x @ y.T / d + 1.0) ** degree
    kt_xx = k_xx.sum() - np.trace(k_xx)  # off-diagonal sums: the U-statistic terms
    kt_yy = k_yy.sum() - np.trace(k_yy)
    return float((kt_xx + kt_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor, subsets: int = 100,
        subset_size: int = 1000, degree: int = 3, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD² over `subsets` random subsets of m = min(subset_size, N, M) per set."""
    a, b = as_pair(feats_a, feats_b, ("feats_a", "feats_b"))
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    mmds = np.array([
        _mmd2_unbiased(a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)], degree)
        for _ in range(subsets)
    ])
    return float(mmds.mean()), float(mmds.std())
