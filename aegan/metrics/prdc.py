"""Precision, recall, density and coverage of generated features against real features, from k-NN balls.

- precision and recall: Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
  Generative Models", arXiv:1904.06991.
- density and coverage: Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models",
  arXiv:2002.09797.

Matches the `prdc` package (clovaai/generative-evaluation-prdc, `compute_prdc`) definition for definition:
the radius of a point is the distance to its k-th nearest neighbour in its own set, excluding itself (the
(k+1)-th smallest distance counting the zero to itself), and balls are open (strict `<`):

    precision = 1/M Σ_j 1[∃ i: d(X_i, Y_j) < r_k(X_i)]          fake samples inside the real manifold
    recall    = 1/N Σ_i 1[∃ j: d(X_i, Y_j) < r_k(Y_j)]          real samples inside the fake manifold
    density   = 1/(kM) Σ_j Σ_i 1[d(X_i, Y_j) < r_k(X_i)]        Eq. (1) of Naeem et al.
    coverage  = 1/N Σ_i 1[min_j d(X_i, Y_j) < r_k(X_i)]         Eq. (2) of Naeem et al.

with X the N real and Y the M fake features. The radii come from scikit-learn's exact nearest-neighbour search
(float64 distances, as the package's `sklearn.metrics.pairwise_distances`). Unlike the package, no N×M (let alone
N×N×D) array is held: real-to-fake distances are computed in row blocks of at most `_features.BLOCK` entries
(float32 matrix products on centred features).
"""

from __future__ import annotations

import numpy as np
import torch

from aegan.metrics._features import as_pair, knn_sq_radii, row_blocks, sq_dists, to_tensor


def _prdc(real: torch.Tensor, fake: torch.Tensor, k_pr: int, k_dc: int) -> dict[str, float]:
    centre = real.mean(0)  # distances are translation invariant; centring reduces round-off in ‖x‖² + ‖y‖² − 2xᵀy
    real, fake = real - centre, fake - centre
    r_real_pr, r_fake_pr = knn_sq_radii(real, k_pr), knn_sq_radii(fake, k_pr)
    r_real_dc = r_real_pr if k_dc == k_pr else knn_sq_radii(real, k_dc)
    fake_sq = (fake * fake).sum(1)
    fake_in_real = torch.zeros(len(fake), dtype=torch.bool)  # precision: Y_j in some real ball
    real_in_fake = torch.zeros(len(real), dtype=torch.bool)  # recall: X_i in some fake ball
    balls_per_fake = torch.zeros(len(fake), dtype=torch.float64)  # density: number of real balls holding Y_j
    real_covered = torch.zeros(len(real), dtype=torch.bool)  # coverage: nearest fake inside X_i's ball
    for start, stop in row_blocks(len(real), len(fake)):
        d2 = sq_dists(real[start:stop], fake, fake_sq)  # (n_block, M)
        fake_in_real |= (d2 < r_real_pr[start:stop, None]).any(0)
        real_in_fake[start:stop] = (d2 < r_fake_pr[None, :]).any(1)
        balls_per_fake += (d2 < r_real_dc[start:stop, None]).sum(0)
        real_covered[start:stop] = d2.min(1).values < r_real_dc[start:stop]
    return {
        "precision": float(fake_in_real.double().mean()),
        "recall": float(real_in_fake.double().mean()),
        "density": float(balls_per_fake.mean() / k_dc),
        "coverage": float(real_covered.double().mean()),
    }


def prdc(real_feats: np.ndarray | torch.Tensor, fake_feats: np.ndarray | torch.Tensor, k: int = 5,
         k_pr: int | None = None) -> dict[str, float]:
    """precision, recall, density, coverage of fake_feats (M, D) against real_feats (N, D).

    k: neighbours for the radii (5 as in Naeem et al.). k_pr: neighbours for precision and recall only;
    None = k, exactly as `prdc.compute_prdc`; 3 = Kynkäänniemi's setting, computed in the same pass.
    """
    real, fake = map(to_tensor, as_pair(real_feats, fake_feats, ("real_feats", "fake_feats"), dtype=np.float32))
    return _prdc(real, fake, k if k_pr is None else k_pr, k)


def precision_recall(real_feats: np.ndarray | torch.Tensor, fake_feats: np.ndarray | torch.Tensor,
                     k: int = 3) -> dict[str, float]:
    """Kynkäänniemi et al.'s precision and recall with k = 3 (their default)."""
    out = prdc(real_feats, fake_feats, k=k)
    return {"precision": out["precision"], "recall": out["recall"]}
