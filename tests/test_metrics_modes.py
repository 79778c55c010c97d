"""mode_stats against known answers, including collapsed sample sets."""

import math

import numpy as np
import pytest
import torch

from aegan.data import load
from aegan.metrics import mode_stats


@pytest.fixture(scope="module")
def grid():
    ds = load("grid25")
    return ds.modes


def test_real_data_scores_perfectly(grid):
    centres, std = grid
    x = load("grid25").transform.to_data(load("grid25").test)
    s = mode_stats(x, centres, std)
    assert s["modes_total"] == 25 and s["modes_covered"] == 25
    assert s["high_quality_fraction"] > 0.98  # within 3 std: 98.9% of a 2-D Gaussian
    assert s["kl_modes"] < 0.01


def test_total_collapse_onto_one_mode(grid):
    centres, std = grid
    x = centres[7].repeat(1000, 1) + 0.01 * torch.randn(1000, 2)
    s = mode_stats(x, centres, std)
    assert s["modes_covered"] == 1 and s["high_quality_fraction"] == 1.0
    assert s["kl_modes"] == pytest.approx(math.log(25))


def test_samples_between_modes_are_not_high_quality(grid):
    centres, std = grid
    x = centres[:4] + torch.tensor([1.0, 1.0])  # midway between modes
    s = mode_stats(x, centres, std)
    assert s["modes_covered"] == 0 and s["high_quality_fraction"] == 0.0
    assert s["kl_modes"] == pytest.approx(math.log(25))  # worst case, still a finite number


def test_partial_coverage_histogram():
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    x = np.concatenate([np.zeros((75, 2)), np.full((25, 2), [10.0, 0.0]), np.full((100, 2), 5.0)])
    s = mode_stats(x, centres, 0.1)
    assert s["modes_covered"] == 2 and s["high_quality_fraction"] == pytest.approx(0.5)
    p = np.array([0.75, 0.25])
    assert s["kl_modes"] == pytest.approx(float((p * np.log(p / 0.5)).sum()))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="samples"):
        mode_stats(np.zeros((5, 3)), np.zeros((2, 2)), 0.1)
