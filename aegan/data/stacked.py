"""Stacked data: three images of a labelled data set as the three channels of one image, so 10³ = 1,000 modes.

The benchmark of Metz et al. 2017 (unrolled GANs, "stacked MNIST") used by VEEGAN and PacGAN to count modes:
a generator that covers the data produces every class triple; a collapsed one misses many. Modes are counted by
the base data set's evaluator applied channel by channel (aegan.metrics.evaluator).

Each split stacks images of the base data set's own split, drawn independently and uniformly with a fixed seed,
so the train and test splits never share an image and the class triple of a stacked image is known: its label is
c₀·K² + c₁·K + c₂ for K base classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from aegan.data.base import Dataset, Transform

STACK = 3
STACK_SEED = 4_242  # fixed: every run of a stacked data set sees the same images
MIN_TRAIN = 10_000  # small base sets (digits: 1,500 images) still give enough triples to cover 1,000 modes
MIN_TEST = 2_000


@dataclass
class StackedDataset(Dataset):
    """A Dataset whose examples stack STACK images of `base`; the evaluator reads it through `base`."""

    base: Dataset | None = None


def _stack(x: torch.Tensor, y: torch.Tensor, n: int, classes: int,
           g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n stacked images (n, STACK, H, W) from single-channel x (N, 1, H, W), and their class-triple labels (n,)."""
    idx = torch.randint(len(x), (n, STACK), generator=g)
    images = x[idx, 0]  # (n, STACK, H, W)
    labels = torch.zeros(n, dtype=torch.long)
    for i in range(STACK):
        labels = labels * classes + y[idx[:, i]]
    return images, labels


def stacked(base_loader: Callable[[], Dataset], name: str) -> StackedDataset:
    """Stack the images of the labelled single-channel data set that base_loader returns."""
    base = base_loader()
    assert base.labels_train is not None and base.labels_test is not None and base.shape[0] == 1
    classes = int(base.labels_train.max()) + 1
    g = torch.Generator().manual_seed(STACK_SEED)
    train, labels_train = _stack(base.train, base.labels_train, max(len(base.train), MIN_TRAIN), classes, g)
    test, labels_test = _stack(base.test, base.labels_test, max(len(base.test), MIN_TEST), classes, g)
    t = base.transform
    transform = Transform(kind="image", layout="NCHW", dtype=t.dtype, scale=t.scale)
    return StackedDataset(name=name, kind="image", train=train, test=test, transform=transform,
                          labels_train=labels_train, labels_test=labels_test, base=base)


def stacked_digits() -> StackedDataset:
    """3 scikit-learn digits per image: (10,000 train / 2,000 test, 3, 8, 8), 1,000 modes."""
    from aegan.data.images import digits

    return stacked(digits, "stacked-digits")


def stacked_fashion_mnist() -> StackedDataset:
    """3 Fashion-MNIST images per image: (60,000 train / 10,000 test, 3, 28, 28), 1,000 modes."""
    from aegan.data.images import fashion_mnist

    return stacked(fashion_mnist, "stacked-fashion-mnist")
