"""Multilayer perceptron for vector data: Linear -> LeakyReLU(0.2), `depth` hidden layers of `width` units."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """(N, in_dim) -> (N, out_dim). The last layer is linear: callers add tanh, sigmoid or nothing."""

    def __init__(self, in_dim: int, out_dim: int, width: int = 128, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.LeakyReLU(0.2)]
            d = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(d, out_dim)
        self.in_dim, self.out_dim = in_dim, out_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, width): what feature matching compares."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
