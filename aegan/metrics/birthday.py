"""Birthday-paradox estimate of the support size of a generator.

Arora & Zhang 2017, "Do GANs actually learn the distribution? An empirical study", arXiv:1706.08224:
if a batch of s samples contains a near-duplicate pair with probability about 1/2, the support size is
about s². The paper finds near-duplicates by inspecting the closest pairs by eye; here a pair is a
near-duplicate when its Euclidean distance is below `threshold`, and `birthday_threshold` calibrates that
threshold on real data (a distance that almost no pair of distinct real samples falls under).

Estimator. Let T be the size of the smallest prefix of a random ordering of the samples that contains a
near-duplicate pair. A batch of s samples drawn without replacement is such a prefix, so
P(batch of size s has a near-duplicate) = P(T ≤ s) for every s at once; the s where it crosses 1/2 is the
median of T, estimated from `n_batches` independent orderings (linear interpolation between order
statistics, `np.quantile`), and the estimate is s². For a uniform distribution on S points
P(T ≤ s) ≈ 1 − exp(−s(s − 1) / 2S), so s² ≈ 2 ln 2 · S ≈ 1.39 S: the rule is an order-of-magnitude
estimate, as in the paper; non-uniform distributions collide sooner and read as smaller supports.
No reference code was published; the orderings are processed in blocks and stop as soon as more than half
have collided, which fixes the median without looking further.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from aegan.metrics._features import as_2d, knn_sq_radii, sq_dists, to_tensor

_BLOCK = 64  # samples added to every ordering per step


def _centred(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    t = to_tensor(as_2d(x, name, dtype=np.float32))
    return t - t.mean(0)  # centring reduces round-off in ‖x‖² + ‖y‖² − 2xᵀy


def birthday_threshold(real_feats: np.ndarray | torch.Tensor, quantile: float = 0.01, max_samples: int = 5000,
                       seed: int = 0) -> float:
    """Near-duplicate distance: the `quantile` of real samples' distances to their nearest other real sample.

    Pairs of generated samples closer than this are closer than (1 − quantile) of real nearest-neighbour pairs.
    At most max_samples real samples are used (drawn at random), so the cost is max_samples² distances.
    Exact duplicates in the real data (distance 0, up to round-off) make the threshold 0 or nearly: deduplicate
    the data first.
    """
    x = _centred(real_feats, "real_feats")
    if len(x) < 2:
        raise ValueError(f"birthday_threshold needs at least 2 real samples, got {len(x)}")
    if len(x) > max_samples:
        x = x[torch.from_numpy(np.random.default_rng(seed).choice(len(x), max_samples, replace=False))]
    nn_sq = knn_sq_radii(x, 1)  # squared distance to the nearest other sample
    return float(np.quantile(nn_sq.sqrt().numpy(), quantile))


def birthday_support(feats: np.ndarray | torch.Tensor, *, threshold: float, batch_size: int = 1024,
                     n_batches: int = 200, seed: int = 0) -> float:
    """Support-size estimate s² of the distribution of feats (N, D), samples from one generator.

    threshold: pairs closer than this (Euclidean, in feats' units) are near-duplicates; see birthday_threshold.
    batch_size: the largest batch examined (clipped to N); the cost is up to n_batches · batch_size² / 2
    distances. If half the batches of this size hold no near-duplicate, the crossing lies beyond it and
    batch_size² is returned as a lower bound, with a warning.
    n_batches: independent random orderings used to estimate the collision probabilities.
    """
    x = _centred(feats, "feats")
    n = len(x)
    s_max = min(batch_size, n)
    if s_max < 2 or threshold <= 0 or n_batches < 1:
        raise ValueError(f"birthday_support needs batch_size >= 2 and N >= 2 (got {s_max}), threshold > 0 "
                         f"(got {threshold}) and n_batches >= 1 (got {n_batches})")
    rng = np.random.default_rng(seed)
    order = torch.from_numpy(np.stack([rng.permutation(n)[:s_max] for _ in range(n_batches)]))  # random orderings
    first = np.full(n_batches, np.inf)  # T: size of the first prefix that holds a near-duplicate
    thr_sq = float(threshold) ** 2
    x_sq = (x * x).sum(1)
    for start in range(0, s_max, _BLOCK):
        stop = min(start + _BLOCK, s_max)
        earlier = torch.arange(stop)[None, :] < torch.arange(start, stop)[:, None]  # pairs (i, j) with i < j
        for b in np.flatnonzero(np.isinf(first)):  # orderings without a near-duplicate so far
            prefix, new = order[b][:stop], order[b][start:stop]
            d2 = sq_dists(x[new], x[prefix], x_sq[prefix])  # (stop - start, stop)
            hit = ((d2 < thr_sq) & earlier).any(1)  # sample j is a near-duplicate of an earlier one
            if hit.any():
                first[b] = start + int(hit.nonzero()[0]) + 1  # prefix size = index of the first hit + 1
        if np.isfinite(first).sum() * 2 > n_batches:
            break  # more than half collided: the median of T is known
    if np.isfinite(first).sum() * 2 <= n_batches:
        warnings.warn(f"birthday_support: no near-duplicate in half of the batches of size {s_max}; "
                      f"returning the lower bound {s_max}² (raise batch_size or threshold)", stacklevel=2)
        return float(s_max) ** 2
    s = float(np.quantile(np.minimum(first, s_max + 1), 0.5))  # P(T <= s) crosses 1/2
    return s * s
