"""Classifier score: the Inception-score formula applied to the class probabilities of any classifier.

Salimans et al. 2016, "Improved Techniques for Training GANs", arXiv:1606.03498, Section 4:

    score = exp( E_x KL( p(y|x) ‖ p(y) ) ),   p(y) = E_x p(y|x) estimated within each split.

Matches the reference `get_inception_score` of openai/improved-gan (and pytorch-fid-era ports such as
sbarratt/inception-score-pytorch): the N samples are cut in order into `splits` parts of N // splits rows
(a remainder is dropped), the score is computed per part, and (mean, std) over parts is returned with
numpy's ddof 0. The classifier here is our evaluator network, not Inception, so scores compare only
between models scored by the same evaluator; the score lies between 1 (one class) and K (all K classes,
each sample confidently classified).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import rel_entr


def classifier_score(probs: np.ndarray | torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over splits of exp(mean_x KL(p(y|x) ‖ p(y))) for probs (N, K), rows summing to 1."""
    p_yx = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    p_yx = p_yx.astype(np.float64, copy=False)
    if p_yx.ndim != 2:
        raise ValueError(f"classifier_score expects class probabilities (N, K), got shape {p_yx.shape}")
    if (p_yx < 0).any() or not np.allclose(p_yx.sum(1), 1.0, atol=1e-3):
        raise ValueError("classifier_score expects probabilities (non-negative rows summing to 1); "
                         "apply softmax to the evaluator's logits first")
    n = len(p_yx) // splits
    if n < 1:
        raise ValueError(f"classifier_score needs at least splits={splits} samples, got {len(p_yx)}")
    scores = []
    for i in range(splits):
        part = p_yx[i * n:(i + 1) * n]  # (n, K)
        p_y = part.mean(0, keepdims=True)  # marginal p(y) of this split
        kl = rel_entr(part, p_y).sum(1)  # KL(p(y|x) ‖ p(y)) per sample, with 0 log 0 = 0
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
