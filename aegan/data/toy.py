"""Toy 2-D mixtures with known modes: the standard mode-collapse benchmarks.

`ring8`: 8 Gaussians on the unit circle, std 0.01; `grid25`: 25 Gaussians on {-4,-2,0,2,4}^2, std 0.05
(as used by e.g. Metz et al., "Unrolled Generative Adversarial Networks", 2016, arXiv:1611.02163, and
Srivastava et al., "VEEGAN", 2017, arXiv:1705.07761). Mixture weights are equal.
`grid100`: 100 Gaussians on {-9,-7,...,9}^2, std 0.05: our harder case of the grid, same spacing and std.
`synthetic1200`: VEEGAN's 1,200-D mixture of 10 modes (its Table 1), built as the released code of PacGAN (Lin et
al. 2018) builds it: see synthetic1200().

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


def _sample_mixture(centres: torch.Tensor, std: float | torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n points from an equal-weight Gaussian mixture. centres: (K, D), std: a number or one per coordinate (D,)
    -> (n, D) float32."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, len(centres), (n,), generator=g)  # mode of each point, uniform over K
    return centres[k] + std * torch.randn(n, centres.shape[1], generator=g)


def _mixture_dataset(name: str, centres: torch.Tensor, std: float | torch.Tensor, n_train: int = N_TRAIN
                     ) -> Dataset:
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


# VEEGAN's 1,200-D set: "a mixture of ten 700 dimensional Gaussian distributions embedded in a 1200 dimensional
# space" (Srivastava et al. 2017, arXiv:1705.07761, §5.1 and the project page of its released code). The text gives no
# centres; PacGAN's released code (Lin et al. 2018, arXiv:1712.04086, github.com/fjxmlzn/PacGAN,
# synthetic_data_experiments/PacGAN/pacgan/datasets.py, VEEGAN1200DPackingMixture) builds it so, and so do we: mode k
# is m_k on every one of the 1,200 coordinates, plus N(0, 1) noise on the first 700 and none on the other 500.
SYNTHETIC_DIM, SYNTHETIC_NOISY = 1200, 700
SYNTHETIC_MEANS = (-1.0, -0.5, 0.0, 0.5, -2.0, -2.5, 10.0, 0.25, -13.0, -5.5)  # m_k, as in that code
VEEGAN_1200_RADIUS = 10.0  # VEEGAN's stated rule on this set: high quality "within 10 standard deviations" (std 1)


def synthetic1200() -> Dataset:
    """VEEGAN's mixture of ten 700-D Gaussians in 1,200 dimensions: centre k is m_k·(1, …, 1), m_k from
    SYNTHETIC_MEANS, std 1 on the first 700 coordinates and 0 on the last 500 (the construction of PacGAN's released
    code; the sources are above). Equal weights; 20,000 train points (1,200-D rows are 24 times the size of 2-D
    ones), 10,000 test points.

    The nearest centres (m = 0, 0.25, 0.5) lie 0.25·√1200 ≈ 8.7 apart against a mode's own spread of √700 ≈ 26.5,
    yet a sample's nearest centre is its mode (the 500 constant coordinates and the mean over all of them decide
    it; held-out points: 100%). High quality is the 2-D rule carried over by probability in the 700 dimensions a
    mode spreads in (aegan.metrics.modes.quality_radius: 28.0 std). VEEGAN states "within 10 standard deviations"
    for this set (VEEGAN_1200_RADIUS); read as a Euclidean distance in data units, as PacGAN's released metric code
    computes it, that counts none of the data's own points (they lie about 26.5 from their centre), so the bench
    reports it beside ours as `high_quality_10std` rather than in its place."""
    centres = torch.tensor(SYNTHETIC_MEANS).unsqueeze(1).repeat(1, SYNTHETIC_DIM)  # (10, 1200)
    std = torch.zeros(SYNTHETIC_DIM)
    std[:SYNTHETIC_NOISY] = 1.0
    return _mixture_dataset("synthetic1200", centres, std, n_train=20_000)
