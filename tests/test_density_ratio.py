"""Known answers for the density-ratio trick: KL between Gaussians in closed form, KL(p ‖ p) = 0."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aegan.density_ratio import DensityRatio, estimate_kl

N = 50_000  # samples per set: the held-out 10k make the sampling error of E_p[r] ~1-2% at KL 0.5


def kl_gaussians(mu0: np.ndarray, cov0: np.ndarray, mu1: np.ndarray, cov1: np.ndarray) -> float:
    """KL(N0 ‖ N1) = ½[tr(Σ1⁻¹Σ0) + (μ1−μ0)ᵀΣ1⁻¹(μ1−μ0) − k + ln(det Σ1 / det Σ0)]."""
    k = len(mu0)
    inv1 = np.linalg.inv(cov1)
    d = mu1 - mu0
    return 0.5 * (np.trace(inv1 @ cov0) + d @ inv1 @ d - k + math.log(np.linalg.det(cov1) / np.linalg.det(cov0)))


def gaussian(mu: np.ndarray, cov: np.ndarray, n: int, g: torch.Generator) -> torch.Tensor:
    """n samples (n, k) of N(mu, cov): mu + L ε."""
    L = torch.linalg.cholesky(torch.as_tensor(cov, dtype=torch.float64))
    eps = torch.randn(n, len(mu), generator=g, dtype=torch.float64)
    return (torch.as_tensor(mu) + eps @ L.T).float()


I2, I4, I8 = np.eye(2), np.eye(4), np.eye(8)
CASES = {  # name: (μ0, Σ0, μ1, Σ1) for p = N(μ0, Σ0), q = N(μ1, Σ1)
    "2d-shift-kl0.5": (np.zeros(2), I2, np.array([0.6, 0.8]), I2),  # KL = |μ|²/2 = 0.5
    "4d-shift-kl3": (np.zeros(4), I4, np.array([2.0, 1.0, 1.0, 0.0]), I4),  # KL = 3
    "2d-diag-cov": (np.zeros(2), I2, np.array([1.0, 0.5]), np.diag([2.0, 0.5])),  # KL = 0.75
    "2d-correlated": (np.zeros(2), np.array([[1.0, 0.8], [0.8, 1.0]]), np.array([0.5, -0.5]), I2),  # KL ≈ 0.761
}


# Three seeds (data and classifier) for each kind of case; the correlated case once. Measured over seeds 0-5,
# the largest relative errors were 3.0% (2d-shift), 4.5% (4d-shift), 5.7% (2d-diag-cov), 1.8% (2d-correlated).
RUNS = [(case, seed) for case in ("2d-shift-kl0.5", "4d-shift-kl3", "2d-diag-cov") for seed in (0, 1, 2)]
RUNS += [("2d-correlated", 0)]


@pytest.mark.parametrize("case, seed", RUNS)
def test_kl_of_gaussians_matches_closed_form(case, seed):
    mu0, cov0, mu1, cov1 = CASES[case]
    true = kl_gaussians(mu0, cov0, mu1, cov1)
    g = torch.Generator().manual_seed(seed)
    p, q = gaussian(mu0, cov0, N, g), gaussian(mu1, cov1, N, g)
    est = estimate_kl(p, q, seed=seed)
    assert abs(est - true) < 0.1 * true, f"{case}: estimate {est:.4f}, closed form {true:.4f}"


def test_closed_form_cases_are_what_they_claim():
    kls = {name: kl_gaussians(*c) for name, c in CASES.items()}
    assert kls["2d-shift-kl0.5"] == pytest.approx(0.5) and kls["4d-shift-kl3"] == pytest.approx(3.0)
    assert kls["2d-diag-cov"] == pytest.approx(0.75)
    assert kl_gaussians(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3)) == 0


def test_kl_of_a_distribution_to_itself_is_zero():
    """Two independent samples of one 8-D Gaussian (|estimate| <= 0.002 over seeds 0-5)."""
    g = torch.Generator().manual_seed(0)
    p, q = torch.randn(20_000, 8, generator=g), torch.randn(20_000, 8, generator=g)
    assert abs(estimate_kl(p, q, seed=0)) < 0.05


def test_estimate_is_deterministic_accepts_arrays_and_leaves_the_global_rng_alone():
    g = torch.Generator().manual_seed(0)
    p, q = torch.randn(500, 3, generator=g), torch.randn(400, 3, generator=g) + 1
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = estimate_kl(p, q, steps=30, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    assert estimate_kl(p.numpy(), q.numpy(), steps=30, seed=5) == a
    assert estimate_kl(p, q, steps=30, seed=6) != a


def test_estimate_trains_under_no_grad():
    g = torch.Generator().manual_seed(0)
    p, q = torch.randn(2000, 2, generator=g), torch.randn(2000, 2, generator=g) + 2  # KL = 4
    with torch.no_grad():
        assert estimate_kl(p, q, steps=200, seed=0) > 2


def test_bad_inputs_are_refused():
    x = torch.randn(100, 2)
    with pytest.raises(ValueError, match="same dimension"):
        estimate_kl(x, torch.randn(100, 3))
    with pytest.raises(ValueError, match="at least 50"):
        estimate_kl(x, torch.randn(10, 2))
    with pytest.raises(ValueError, match="shape"):
        estimate_kl(torch.randn(100, 2, 2), x)
    with pytest.raises(ValueError, match="NaN"):
        estimate_kl(x, torch.full((100, 2), float("nan")))
    with pytest.raises(ValueError, match="holdout"):
        estimate_kl(x, x, holdout=1.0)


def test_loss_is_the_balanced_logistic_loss_and_its_optimum_is_the_log_ratio():
    r = DensityRatio(net=nn.Linear(1, 1))  # any module: r(x) = w x + b
    x_p, x_q = torch.randn(7, 1), torch.randn(5, 1)
    expected = -F.logsigmoid(r(x_p)).mean() - torch.log1p(-torch.sigmoid(r(x_q))).mean()
    assert torch.allclose(r.loss(x_p, x_q), expected, atol=1e-6)
    assert r.log_ratio(x_p).shape == (7,)
    # p = N(1, 1), q = N(0, 1): log p/q = x − ½, which a linear r can represent exactly
    g = torch.Generator().manual_seed(0)
    p, q = torch.randn(20_000, 1, generator=g) + 1, torch.randn(20_000, 1, generator=g)
    torch.manual_seed(0)
    r = DensityRatio(net=nn.Linear(1, 1))
    opt = torch.optim.LBFGS(r.parameters(), max_iter=100)

    def closure():
        opt.zero_grad()
        loss = r.loss(p, q)
        loss.backward()
        return loss

    opt.step(closure)
    w, b = r.net.weight.item(), r.net.bias.item()
    assert w == pytest.approx(1.0, abs=0.05) and b == pytest.approx(-0.5, abs=0.05)


def test_density_ratio_needs_a_dimension_or_a_net():
    with pytest.raises(ValueError, match="dim"):
        DensityRatio()
    assert DensityRatio(5, width=8, depth=1)(torch.randn(3, 5)).shape == (3,)
