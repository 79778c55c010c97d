"""The feature network φ of perceptual reconstruction losses: a network trained on the data set, never the evaluator.

A perceptual loss compares an image and its reconstruction in a network's features instead of pixel by pixel:
Dosovitskiy & Brox 2016, "Generating Images with Perceptual Similarity Metrics based on Deep Networks",
arXiv:1602.02644 (PPGN, Nguyen et al. 2017, arXiv:1612.00005, trains its generator with it). ImageNet networks are
not at hand offline, so, like the evaluator (aegan.metrics.evaluator), φ is a small network trained once per data
set and cached: the evaluator's recipe in its "features" role, with another architecture (5×5 kernels, 24 → 48 → 96
channels, 96 features) and another seed, in its own cache folder `$AEGAN_CACHE/features/<fingerprint>/`. Training a
model against the evaluator's own features would optimise the score instead of the samples (DESIGN §1).

With labels φ is the classifier's penultimate layer; without labels, the autoencoder's code. Stacked data (3 images
as channels) gets the base data set's φ on each channel, features side by side, as the evaluator does.
The models use φ through `model.phi` (models sit below metrics and never import this module): aegan.train.fit
sets `model.phi = feature_network(ds).to(device)` when `model.needs_feature_net`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import nn

from aegan.data.base import Dataset
from aegan.metrics.evaluator import network_for


class FrozenFeatures(nn.Module):
    """A feature extractor that stays frozen: no parameter requires a gradient, and it stays in eval mode (batch
    norm with its stored statistics) whatever .train() asks. Images (n, C, H, W) -> features (n, F)."""

    def __init__(self, body: nn.Module, per_channel: int = 0) -> None:
        super().__init__()
        self.body = body
        self.per_channel = per_channel  # k > 0: apply to each of k channels and put the features side by side
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FrozenFeatures:
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.per_channel:
            return self.body(x)
        assert x.shape[1] == self.per_channel, f"expected {self.per_channel} channels, got {tuple(x.shape)}"
        return torch.cat([self.body(x[:, i:i + 1]) for i in range(self.per_channel)], dim=1)  # (n, F·k)


def feature_network(ds: Dataset,
                    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> FrozenFeatures:
    """φ of image data set `ds`, frozen, on the CPU: loaded from its cache, or trained now (seconds on digits,
    a few minutes on fashion-mnist on 2 cores) and cached. Model-scale images (n, C, H, W) -> (n, 96)."""
    base = getattr(ds, "base", None)
    if base is not None:  # stacked: the base data set's φ, channel by channel
        return FrozenFeatures(feature_network(base, log).body, per_channel=ds.shape[0])
    net, _ = network_for(ds, "features", log)
    return FrozenFeatures(net.body)
