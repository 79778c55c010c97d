"""DCGAN-style convolutional nets sized from the image shape (Radford et al. 2016, arXiv:1511.06434).

The spatial size is halved by stride-2 convolutions `n` times, as often as both sides stay even and
at least 4 (at most 4 times; tiny images go to 2): 28x28 -> 14 -> 7, 8x8 -> 4 -> 2, 32x32 -> 16 -> 8 -> 4.
Channels double at each halving, starting from `width`. Odd or tiny sizes get stride-1 3x3 convolutions instead.
The decoder mirrors the encoder with transposed convolutions and ends in tanh (images live in [-1, 1]).
"""

from __future__ import annotations

import torch
from torch import nn


def n_halvings(h: int, w: int, most: int = 4) -> int:
    """How many stride-2 stages fit: halve while both sides stay even and >= 4; images too small for two
    such stages may go down to 2 (8x8 -> 4 -> 2)."""
    n = 0
    while n < most and h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= (4 if n >= 1 or min(h, w) >= 16 else 2):
        h, w, n = h // 2, w // 2, n + 1
    if n == 1 and h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= 2:
        n += 1
    return n


class ConvEncoder(nn.Module):
    """x (N, C, H, W) -> (N, out_dim). Conv(4, 2, 1) -> [BN] -> LeakyReLU(0.2) per halving, then a linear head.

    As a discriminator (out_dim = 1) the first block has no batch norm, as in DCGAN.
    """

    def __init__(self, shape: tuple[int, int, int], out_dim: int, width: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        c, h, w = shape
        n = n_halvings(h, w)
        layers: list[nn.Module] = []
        ch = c
        if n == 0:  # odd or tiny images: two stride-1 blocks
            for _ in range(2):
                layers += [nn.Conv2d(ch, width, 3, 1, 1), nn.LeakyReLU(0.2)]
                ch = width
        for i in range(n):
            out = width * 2**i
            layers.append(nn.Conv2d(ch, out, 4, 2, 1, bias=not (batch_norm and i > 0)))
            if batch_norm and i > 0:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2))
            ch, h, w = out, h // 2, w // 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(ch * h * w, out_dim)
        self.shape, self.out_dim = tuple(shape), out_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, C'·H'·W'): what feature matching compares."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ConvDecoder(nn.Module):
    """z (N, latent_dim) -> x (N, C, H, W) in [-1, 1]. Linear -> BN -> ReLU, then ConvTranspose(4, 2, 1) -> BN -> ReLU
    per doubling; the last doubling outputs the image channels directly, followed by tanh.

    `stem_norm=False` (the decoders of the encoder models): the first Linear has a bias and no batch norm after it.
    Batch norm there subtracts the batch's mean code, so in training a decoder cannot see where the batch of codes
    lies: an encoder's codes may drift as a whole (measured: mean |ẑ| 0.5–0.8 for the aae and α-GAN on
    fashion-mnist) without changing any reconstruction, while sampling, in eval mode, uses running averages that no
    longer fit them (held-out reconstruction error 0.29 in eval mode against 0.05 in training mode). A GAN's codes
    come from the fixed prior, so its generator keeps DCGAN's batch norm."""

    def __init__(self, latent_dim: int, shape: tuple[int, int, int], width: int = 64, stem_norm: bool = True) -> None:
        super().__init__()
        c, h, w = shape
        n = n_halvings(h, w)
        h0, w0 = h // 2**n, w // 2**n
        ch = width * 2 ** max(n - 1, 0)
        stem: list[nn.Module] = [nn.Linear(latent_dim, ch * h0 * w0, bias=not stem_norm)]
        if stem_norm:
            stem.append(nn.BatchNorm1d(ch * h0 * w0))
        self.stem = nn.Sequential(*stem, nn.ReLU(), nn.Unflatten(1, (ch, h0, w0)))
        layers: list[nn.Module] = []
        if n == 0:
            layers += [nn.Conv2d(ch, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.Conv2d(width, c, 3, 1, 1)]
        for i in reversed(range(n)):
            if i == 0:
                layers.append(nn.ConvTranspose2d(ch, c, 4, 2, 1))
            else:
                out = width * 2 ** (i - 1)
                layers += [nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
                ch = out
        self.body = nn.Sequential(*layers, nn.Tanh())
        self.latent_dim, self.shape = latent_dim, tuple(shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(z))
