"""A stand-in for a user's feature network (tests only): a fixed random conv net on 16×16 RGB images, with the
attributes aegan reads to feed it (input_size, channels)."""

import torch
from torch import nn


class TinyFeatures(nn.Module):
    input_size, channels = (16, 16), 3

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.head = nn.Linear(8 * 7 * 7, 12)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, 16, 16) and x.min() >= 0 and x.max() <= 1, x.shape
        return self.head(torch.tanh(self.conv(x)).flatten(1))
