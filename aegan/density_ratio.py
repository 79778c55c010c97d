"""The density-ratio trick: a binary classifier's logit estimates log p(x)/q(x).

Train r(x) to tell samples of p (class 1) from samples of q (class 0) with the balanced logistic loss

    L(r) = E_p[-log σ(r(x))] + E_q[-log(1 - σ(r(x)))]

Its minimiser is σ(r*(x)) = p(x) / (p(x) + q(x)), i.e. r*(x) = log p(x)/q(x) (Sugiyama et al., Density
Ratio Estimation in Machine Learning, Cambridge University Press 2012, ch. 4 "probabilistic classification";
Mohamed & Lakshminarayanan, Learning in Implicit Generative Models, 2016, arXiv:1610.03483, §2.1 "class
probability estimation"). Hence

    KL(p ‖ q) = E_p[log p(x)/q(x)] ≈ mean of r(x) over held-out samples of p.

`DensityRatio` is the classifier on its own, small enough to be α-GAN's code discriminator C (prior codes as
class 1, encoder codes as class 0) or its data discriminator D. `estimate_kl` trains one from scratch;
`estimate_kl(z_hat, z_prior)` is the `code_kl` metric, KL(q(z) ‖ p(z)) of the aggregate posterior to the prior.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aegan.nets.mlp import MLP

MIN_SAMPLES = 50  # per sample set: fewer cannot train a classifier and keep a held-out part


class DensityRatio(nn.Module):
    """r: x (N, dim) -> logit (N,), an estimate of log p(x)/q(x) once trained with `loss` (p = class 1).

    `net` may be any module mapping (N, ...) to (N, 1) or (N,); by default an MLP(dim, 1, width, depth).
    """

    def __init__(self, dim: int | None = None, width: int = 64, depth: int = 2, net: nn.Module | None = None) -> None:
        super().__init__()
        if net is None:
            if dim is None:
                raise ValueError("DensityRatio needs either the input dimension `dim` or a classifier `net`")
            net = MLP(dim, 1, width, depth)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_ratio(x)

    def log_ratio(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, ...) -> r(x) (N,), the estimated log p(x)/q(x)."""
        logit = self.net(x)
        if logit.ndim == 2 and logit.shape[1] == 1:
            logit = logit.squeeze(1)
        assert logit.shape == (len(x),), f"the classifier must return one logit per sample, got {tuple(logit.shape)}"
        return logit

    def loss(self, p_samples: torch.Tensor, q_samples: torch.Tensor) -> torch.Tensor:
        """Balanced logistic loss on p_samples (class 1) and q_samples (class 0): each class's mean counts equally,
        whatever the batch sizes, so its minimiser is r* = log p/q."""
        loss_p = F.softplus(-self.log_ratio(p_samples)).mean()  # E_p[-log σ(r(x))]
        loss_q = F.softplus(self.log_ratio(q_samples)).mean()  # E_q[-log(1 - σ(r(x)))]
        return loss_p + loss_q


def _as_matrix(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """Samples as a float32 CPU tensor (N, D), a copy outside any autograd graph or inference mode."""
    x = x.detach().cpu().clone() if isinstance(x, torch.Tensor) else torch.as_tensor(np.array(x))
    if x.ndim == 1:
        x = x[:, None]  # (N,) -> (N, 1): one-dimensional samples
    if x.ndim != 2:
        raise ValueError(f"{name} must be an array of shape (N, D), got shape {tuple(x.shape)}")
    if len(x) < MIN_SAMPLES:
        raise ValueError(f"{name} has {len(x)} samples; estimate_kl needs at least {MIN_SAMPLES} per set")
    x = x.to(torch.float32)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def estimate_kl(p_samples: torch.Tensor | np.ndarray, q_samples: torch.Tensor | np.ndarray, *,
                steps: int = 1000, width: int = 64, depth: int = 2, lr: float = 5e-3, batch_size: int = 512,
                seed: int = 0, holdout: float = 0.2) -> float:
    """KL(p ‖ q) ≈ E_p[r(x)] on held-out samples of p, with r a `DensityRatio` trained on the rest.

    p_samples (N, D), q_samples (M, D): tensors or arrays, N, M ≥ 50. Both are standardized with the pooled
    mean and std (KL is invariant under an invertible map applied to both). A fraction `holdout` of p is kept
    out of training to score the estimate; the classifier (an MLP of `depth` hidden layers of `width` units)
    trains for `steps` Adam steps on minibatches of `batch_size` samples per class, with learning rate `lr`
    decayed to 0 on a cosine. Deterministic for a given `seed`; the caller's global RNG is left untouched,
    and it trains even when called under torch.no_grad(). The cost grows with steps × batch_size, not with
    N: about 1.5 s on one CPU core with the defaults.

    Accuracy (50k samples per set, 2-8 dims): within ~5% of the closed form for Gaussians whose q covers p
    (tests/test_density_ratio.py). Biased low where q is much narrower than p in some direction: there the
    log-ratio keeps growing in p's tails, where there are no q samples and the logistic loss saturates (the
    "density chasm" of Rhodes, Xu & Gutmann, Telescoping Density-Ratio Estimation, NeurIPS 2020,
    arXiv:2006.12204).
    """
    p = _as_matrix(p_samples, "p_samples")  # (N, D)
    q = _as_matrix(q_samples, "q_samples")  # (M, D)
    if p.shape[1] != q.shape[1]:
        raise ValueError(f"p_samples and q_samples must have the same dimension, got {p.shape[1]} and {q.shape[1]}")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout is the fraction of p_samples kept out of training, in (0, 1); got {holdout}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be at least 1, got {steps} and {batch_size}")

    pooled = torch.cat([p, q])  # (N + M, D)
    mu, std = pooled.mean(0), pooled.std(0).clamp_min(1e-8)
    p, q = (p - mu) / std, (q - mu) / std

    g = torch.Generator().manual_seed(seed)  # the split and the minibatches
    p = p[torch.randperm(len(p), generator=g)]
    n_test = max(1, round(holdout * len(p)))
    p_test, p_train = p[:n_test], p[n_test:]  # (n_test, D), (N - n_test, D)

    with torch.random.fork_rng(devices=[]):  # weight init from `seed`, without moving the caller's RNG
        torch.manual_seed(seed)
        r = DensityRatio(p.shape[1], width=width, depth=depth)
    opt = torch.optim.Adam(r.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    b_p, b_q = min(batch_size, len(p_train)), min(batch_size, len(q))
    with torch.enable_grad():
        for _ in range(steps):
            x_p = p_train[torch.randint(len(p_train), (b_p,), generator=g)]  # (b_p, D), class 1
            x_q = q[torch.randint(len(q), (b_q,), generator=g)]  # (b_q, D), class 0
            loss = r.loss(x_p, x_q)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
    with torch.no_grad():
        return float(r.log_ratio(p_test).mean())  # KL(p ‖ q) = E_p[log p/q], on held-out p
