"""Toy 2-D mixtures with known modes: the standard mode-collapse benchmarks.

`ring8`: 8 Gaussians on the unit circle, std 0.01; `grid25`: 25 Gaussians on {-4,-2,0,2,4}^2, std 0.05
(as used by e.g. Metz et al., "Unrolled Generative Adversarial Networks", 2016, arXiv:1611.02163, and
Srivastava et al., "VEEGAN", 2017, arXiv:1705.07761). Mixture weights are equal.
`grid100`: 100 Gaussians on {-9,-7,...,9}^2, std 0.05: our harder case of the grid, same spacing and std.
`synthetic1200`: 10 Gaussians in 1,200 dimensions (the size and mode count of VEEGAN's high-dimensional synthetic
set, its Table 1): see synthetic1200() for the construction, which is ours.

The points come from fixed data seeds, independent of any training seed, so every run and every
benchmark sees the same 50,000 train and 10,000 test points. The model sees them standardized per
feature (statistics of the train split); `Dataset.modes` keeps the centres and std in data units.
"""

from __future__ import annotations

import math

import torch

from aegan.data.base import Dataset, Transform

N_TRAIN = 50_000
N_TEST = 10_000
TRAIN_SEED = 20_160_611  # data seeds: constants, never the training seed
TEST_SEED = 20_170_522


def _sample_mixture(centres: torch.Tensor, std: float, n: int, seed: int) -> torch.Tensor:
    """n points from an equal-weight isotropic Gaussian mixture. centres: (K, 2) -> (n, 2) float32."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, len(centres), (n,), generator=g)  # mode of each point, uniform over K
    return centres[k] + std * torch.randn(n, centres.shape[1], generator=g)


def _mixture_dataset(name: str, centres: torch.Tensor, std: float, n_train: int = N_TRAIN) -> Dataset:
    """Train/test points of the mixture, standardized with the train split's per-feature mean and std."""
    train = _sample_mixture(centres, std, n_train, TRAIN_SEED)  # (50000, D), data units
    test = _sample_mixture(centres, std, N_TEST, TEST_SEED)  # (10000, D)
    transform = Transform(kind="standardize", layout="ND", dtype="float32",
                          mean=train.mean(0).tolist(), std=train.std(0, correction=0).tolist())
    return Dataset(name=name, kind="vector", train=transform.to_model(train), test=transform.to_model(test),
                   transform=transform, modes=(centres, std))


def ring8() -> Dataset:
    """8 Gaussians, radius 1, std 0.01, centres (cos 2πi/8, sin 2πi/8) for i = 0..7."""
    angles = 2.0 * math.pi * torch.arange(8, dtype=torch.float64) / 8  # not linspace(0, 2π, 8): it repeats a mode
    centres = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1).float()  # (8, 2)
    return _mixture_dataset("ring8", centres, 0.01)


def grid25() -> Dataset:
    """25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05."""
    ticks = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    centres = torch.cartesian_prod(ticks, ticks)  # (25, 2)
    return _mixture_dataset("grid25", centres, 0.05)


def grid100() -> Dataset:
    """100 Gaussians at {-9, -7, ..., 9}^2, std 0.05: grid25's spacing and std on a 10×10 grid."""
    ticks = torch.arange(-9.0, 10.0, 2.0)
    centres = torch.cartesian_prod(ticks, ticks)  # (100, 2)
    return _mixture_dataset("grid100", centres, 0.05)


SYNTHETIC_DIM, SYNTHETIC_MODES, SYNTHETIC_STD = 1200, 10, 0.1
CENTRE_SEED = 17_050_776  # data seed of synthetic1200's centres


def synthetic1200() -> Dataset:
    """10 equal-weight isotropic Gaussians in 1,200 dimensions, std 0.1, centres drawn once from N(0, I) (fixed data
    seed): neighbouring centres lie about 49 apart against a mode's own spread of 0.1·√1200 ≈ 3.5, so every mode
    is separate and a sample's nearest centre is its mode. 20,000 train points (1,200-D rows are 24 times the size
    of 2-D ones), 10,000 test points.

    VEEGAN (Srivastava et al. 2017, arXiv:1705.07761, Table 1) reports a 1,200-D mixture of 10 modes; neither its
    text nor released code for that set was available to us offline, so the centres, the std and the size here are
    our own, and its numbers are an anchor rather than a like-for-like comparison. High quality in 1,200-D is the
    2-D rule carried over by probability (aegan.metrics.modes.quality_radius), not "within 3 std"."""
    g = torch.Generator().manual_seed(CENTRE_SEED)
    centres = torch.randn(SYNTHETIC_MODES, SYNTHETIC_DIM, generator=g)
    return _mixture_dataset("synthetic1200", centres, SYNTHETIC_STD, n_train=20_000)
