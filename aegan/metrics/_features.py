"""What the sample metrics (fid, ndb, prdc, birthday) share: checking a set of samples or features (N, D), and
squared Euclidean distances between sets, in row blocks, and each point's k-th nearest-neighbour radius.

Distances are ‖x‖² + ‖y‖² − 2 xᵀy: a float32 matrix product, which is what makes 10,000 × 10,000 pairs cheap.
Its round-off grows with ‖x‖², so callers centre their features first (distances are translation invariant).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

BLOCK = 2**25  # distance entries per block: 128 MiB in float32


def as_2d(x: np.ndarray | torch.Tensor, name: str, what: str = "features", dtype: type = np.float64) -> np.ndarray:
    """x as a finite NumPy array (N, D) of `dtype` (no copy where it already is one); ValueError naming `name`
    otherwise. `what` says what the rows are in the message ("features", "samples")."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        odd = t.is_floating_point() and t.dtype not in (torch.float16, torch.float32, torch.float64)  # bfloat16
        a = (t.float() if odd else t).numpy()
    else:
        a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be {what} of shape (N, D), got shape {a.shape}; flatten images first")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf; check the generator's samples before scoring them")
    return a.astype(dtype, copy=False)


def as_pair(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, names: tuple[str, str],
            what: str = "features", dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """as_2d of two sets that must share their D."""
    x, y = as_2d(a, names[0], what, dtype), as_2d(b, names[1], what, dtype)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{what} of different sizes: {names[0]} has D={x.shape[1]}, {names[1]} has D={y.shape[1]}")
    return x, y


def to_tensor(a: np.ndarray) -> torch.Tensor:
    """A checked array as a tensor for the distance functions below (shares memory where it can)."""
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a if a.flags.writeable else a.copy())  # torch will not share read-only memory


def row_blocks(n_rows: int, n_cols: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive row blocks of an (n_rows, n_cols) matrix, each at most BLOCK entries."""
    step = max(1, BLOCK // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)


def sq_dists(x: torch.Tensor, y: torch.Tensor, y_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Euclidean distances (n, m) = ‖x‖² + ‖y‖² − 2 xᵀy between x (n, D) and y (m, D), clamped at 0.

    y_sq: (y * y).sum(1) when the caller already has it (y is reused over many blocks of x)."""
    y_sq = (y * y).sum(1) if y_sq is None else y_sq
    d2 = torch.addmm(y_sq[None, :], x, y.T, alpha=-2.0)  # ‖y‖² − 2 xᵀy in one BLAS call
    return d2.add_((x * x).sum(1, keepdim=True)).clamp_min_(0.0)


def knn_sq_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance (N,) from each row of x (N, D) to its k-th nearest neighbour in x, excluding itself.

    An exact duplicate of a point is a neighbour (at distance 0 up to round-off); the point itself is not.
    scikit-learn's exact search (`NearestNeighbors.kneighbors()` without a query, which leaves each point out of
    its own neighbours): brute force in float64 for D > 15, a k-d tree below; faster than a blocked float32 search
    here, and its round-off for duplicates is ~1e-6 instead of ~1e-2 at feature norms of 100."""
    n = len(x)
    if k >= n:
        raise ValueError(f"k={k} nearest neighbours need more than k samples per set, got {n}")
    dist, _ = NearestNeighbors(n_neighbors=k).fit(x.numpy()).kneighbors()  # (N, k), ascending
    return torch.from_numpy(dist[:, -1] ** 2).float()
