"""Minibatch discrimination: a discriminator layer that sees how close each example is to the rest of its batch.

Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498, §3.2.
With f(x_i) ∈ R^A the discriminator's features and a learned tensor T ∈ R^{A×B×C}:
    M_i = f(x_i) T ∈ R^{B×C}
    c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_{L1})
    o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j)
and the layer outputs [f(x_i), o(x_i)] ∈ R^{A+B}. A collapsed batch (all rows alike) gives o ≈ N − 1 per kernel,
a diverse one o ≈ 0, so D can tell a collapsed generator from the data.
"""

from __future__ import annotations

import torch
from torch import nn


class MinibatchDiscrimination(nn.Module):
    """f (N, A) -> [f, o(f)] (N, A + B); B = `kernels`, C = `kernel_dim` (the paper's defaults are B=100, C=5)."""

    def __init__(self, in_features: int, kernels: int = 100, kernel_dim: int = 5) -> None:
        super().__init__()
        self.in_features, self.kernels, self.kernel_dim = in_features, kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels, kernel_dim) * 0.05)  # T ∈ R^{A×B×C}
        self.twice_differentiable = False  # True: an explicit L1 (more memory) instead of cdist, for R1 penalties

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        if f.dim() != 2 or f.shape[1] != self.in_features:
            raise ValueError(f"MinibatchDiscrimination expects features (N, {self.in_features}), got {tuple(f.shape)}")
        n = f.shape[0]
        M = (f @ self.T.flatten(1)).view(n, self.kernels, self.kernel_dim)  # M_i = f_i T: (N, B, C)
        Mb = M.transpose(0, 1)  # (B, N, C): one set of rows per kernel
        if self.twice_differentiable:  # cdist has no second derivative, which the R1 penalty needs
            l1 = (Mb[:, :, None] - Mb[:, None]).abs().sum(-1)  # ‖M_{i,b} − M_{j,b}‖_{L1}: (B, N, N)
        else:
            l1 = torch.cdist(Mb, Mb, p=1)  # ‖M_{i,b} − M_{j,b}‖_{L1}: (B, N, N)
        c = torch.exp(-l1)  # c_b(x_i, x_j)
        not_self = ~torch.eye(n, dtype=torch.bool, device=f.device)
        o = (c * not_self).sum(2).transpose(0, 1)  # o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j): (N, B)
        return torch.cat([f, o], dim=1)  # (N, A + B)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, kernels={self.kernels}, kernel_dim={self.kernel_dim}"


def with_minibatch_discrimination(net: nn.Module, kernels: int = 100, kernel_dim: int = 5) -> nn.Module:
    """Put minibatch discrimination before a discriminator's last layer, in place; returns `net`.

    `net.head` (nn.Linear(A, out)) becomes Sequential(MinibatchDiscrimination(A, B, C), nn.Linear(A + B, out)).
    `net.features(x)` (the body) is unchanged, so feature matching still compares the penultimate activations.
    """
    head = getattr(net, "head", None)
    if not isinstance(head, nn.Linear):
        raise ValueError(f"with_minibatch_discrimination needs a net whose .head is an nn.Linear (MLP or ConvEncoder), "
                         f"got head {type(head).__name__}; apply it to the discriminator before wrapping it "
                         f"(e.g. in Pack)")
    a, out = head.in_features, head.out_features
    net.head = nn.Sequential(MinibatchDiscrimination(a, kernels, kernel_dim), nn.Linear(a + kernels, out))
    return net
