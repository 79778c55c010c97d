"""Image-quality and mode-collapse metrics against closed forms, reference values, an independent
implementation (the `prdc` package) and deliberately collapsed sample sets."""

import importlib
import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.metrics.pairwise import polynomial_kernel

from aegan.metrics._features import knn_sq_radii
from aegan.metrics.birthday import birthday_support, birthday_threshold
from aegan.metrics.classifier_score import classifier_score
from aegan.metrics.diversity import msssim, msssim_config, msssim_diversity
from aegan.metrics.fid import frechet_distance, frechet_distance_from_moments, kid
from aegan.metrics.ndb import ndb
from aegan.metrics.prdc import prdc, precision_recall


def _random_cov(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ---------------------------------------------------------------- Fréchet distance


def test_fd_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 64))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fd_closed_form_for_diagonal_gaussians():
    # ‖μ1 − μ2‖² + Σ_i (σ1_i − σ2_i)²: (1, 1, 1) and std (1, 2, 3) vs (2, 1, 1) -> 3 + 1 + 1 + 4
    fd = frechet_distance_from_moments(np.zeros(3), np.diag([1.0, 4.0, 9.0]), np.ones(3), np.diag([4.0, 1.0, 1.0]))
    assert fd == pytest.approx(9.0, abs=1e-10)


def test_fd_exact_moments_match_pytorch_fid_formula():
    rng = np.random.default_rng(1)
    d = 16
    mu1, mu2, s1, s2 = rng.normal(size=d), rng.normal(size=d), _random_cov(rng, d), _random_cov(rng, d)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real  # pytorch-fid's calculate_frechet_distance
    ref = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance_from_moments(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9)


def test_fd_estimate_on_large_samples_approaches_closed_form():
    rng = np.random.default_rng(2)
    d = 8
    mu1, s1, s2 = rng.normal(size=d), _random_cov(rng, d), _random_cov(rng, d)
    mu2 = mu1 + 0.5
    exact = frechet_distance_from_moments(mu1, s1, mu2, s2)
    xa, xb = rng.multivariate_normal(mu1, s1, size=100_000), rng.multivariate_normal(mu2, s2, size=100_000)
    assert frechet_distance(xa, xb) == pytest.approx(exact, rel=0.02)


def test_fd_with_singular_covariances_is_finite():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(20, 64)), rng.normal(size=(20, 64)) + 1.0  # N < D: rank-deficient covariances
    fd = frechet_distance(a, b)
    assert math.isfinite(fd) and fd > 64 * 0.5  # mean shift alone contributes 64


# ---------------------------------------------------------------- KID


def test_kid_on_whole_sets_matches_the_direct_formula():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(300, 32)), rng.normal(size=(300, 32)) + 0.2
    kxx, kyy, kxy = (polynomial_kernel(u, v, degree=3, coef0=1) for u, v in ((x, x), (y, y), (x, y)))  # γ = 1/d
    m = len(x)
    ref = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
    mean, std = kid(x, y, subsets=1, subset_size=10_000)  # clipped to 300: the whole sets
    assert mean == pytest.approx(ref, rel=1e-9) and std == 0.0


def test_kid_is_near_zero_for_one_distribution_and_positive_for_shifted_ones():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(1000, 64)), rng.normal(size=(1000, 64))
    same, same_std = kid(a, b, subsets=20, subset_size=500)
    shifted, shifted_std = kid(a, b + 0.3, subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 0.1 and shifted > 10 * shifted_std


# ---------------------------------------------------------------- precision, recall, density, coverage


@pytest.mark.parametrize("k", [3, 5])
def test_prdc_matches_the_prdc_package(k):
    ref_prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(6)
    real = rng.normal(size=(1500, 64)).astype(np.float32)
    for fake in (rng.normal(size=(1200, 64)), 1.2 * rng.normal(size=(1200, 64)) + 0.1):
        fake = fake.astype(np.float32)
        ref = ref_prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
        ours = prdc(real, fake, k=k)
        for key in ("precision", "recall", "density", "coverage"):
            assert ours[key] == pytest.approx(float(ref[key]), abs=0.02), key


def test_precision_and_recall_are_not_swapped():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(1000, 8))
    narrow = 0.3 * rng.normal(size=(1000, 8))  # fakes inside the real manifold, covering a small part of it
    out = precision_recall(real, narrow)
    assert out["precision"] > 0.9 and out["recall"] < 0.3


def test_prdc_of_identical_sets():
    real = np.random.default_rng(8).normal(size=(1000, 16))
    out = prdc(real, real.copy(), k=5)
    assert out["coverage"] == 1.0 and out["precision"] == 1.0 and out["recall"] == 1.0
    assert out["density"] == pytest.approx(1.0, abs=0.1)


def test_prdc_of_a_collapsed_fake_set():
    real = np.random.default_rng(9).normal(size=(1000, 16))
    fake = np.repeat(real[:1], 500, axis=0)  # one real point, repeated
    out = prdc(real, fake, k=5)
    assert out["recall"] < 0.01 and out["coverage"] < 0.01
    assert out["precision"] == 1.0  # the one point is realistic: precision cannot see collapse


def test_prdc_k_pr_uses_its_own_radii_for_precision_and_recall():
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(600, 8)), 1.3 * rng.normal(size=(500, 8))
    both = prdc(real, fake, k=5, k_pr=3)
    pr3, dc5 = precision_recall(real, fake, k=3), prdc(real, fake, k=5)
    assert both == {**dc5, "precision": pr3["precision"], "recall": pr3["recall"]}


@pytest.mark.slow
def test_prdc_published_example():
    # compute_prdc's README: two samples of one 1000-D Gaussian, N = M = 10,000, k = 5 gave precision 0.4772,
    # recall 0.4705, density 1.0555, coverage 0.9616 for one unseeded draw. Density varies most between draws:
    # 0.91, 0.97, 0.99, 1.07, 0.96 over five seeded draws (the package agrees with ours to 1e-4 on a draw),
    # so it is checked against its expectation for identical distributions, 1 (Naeem et al., Sec. 4), ± 0.1.
    rng = np.random.default_rng(0)
    real = rng.normal(size=(10_000, 1000)).astype(np.float32)
    fake = rng.normal(size=(10_000, 1000)).astype(np.float32)
    out = prdc(real, fake, k=5)
    assert out["precision"] == pytest.approx(0.48, abs=0.03)
    assert out["recall"] == pytest.approx(0.47, abs=0.03)
    assert out["coverage"] == pytest.approx(0.97, abs=0.03)
    assert out["density"] == pytest.approx(1.0, abs=0.1)


# ---------------------------------------------------------------- NDB


def test_ndb_is_near_alpha_for_a_perfect_model():
    ndb_k = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        real, fake = rng.normal(size=(5000, 8)), rng.normal(size=(5000, 8))
        ndb_k.append(ndb(real, fake, k=50, alpha=0.05, seed=seed)["ndb_k"])
    assert 0.0 <= np.mean(ndb_k) <= 0.15


def test_ndb_of_a_collapsed_model_is_near_one():
    rng = np.random.default_rng(11)
    real = rng.normal(size=(5000, 8))
    fake = np.repeat(real[:1], 5000, axis=0) + 0.01 * rng.normal(size=(5000, 8))
    out = ndb(real, fake, k=50)
    assert out["ndb_k"] > 0.95 and out["ndb"] == round(out["ndb_k"] * 50)


def test_ndb_fits_the_bins_of_the_same_real_samples_once(monkeypatch):
    ndb_module = importlib.import_module("aegan.metrics.ndb")

    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8)) + 0.3
    fits = []
    fit = ndb_module.KMeans.fit
    monkeypatch.setattr(ndb_module.KMeans, "fit", lambda self, x: fits.append(len(x)) or fit(self, x))
    monkeypatch.setattr(ndb_module, "_BINS", type(ndb_module._BINS)())
    first = ndb(real, fake, k=20, seed=1)
    assert ndb(real.copy(), fake, k=20, seed=1) == first and fits == [2000]
    ndb(real, fake, k=20, seed=2)  # another seed, another k, other real samples: fitted anew
    ndb(real, fake, k=10, seed=1)
    ndb(real[1:], fake, k=20, seed=1)
    assert fits == [2000, 2000, 2000, 1999]
    assert first["ndb"] > 0  # and the bins still tell the shifted set apart


# ---------------------------------------------------------------- classifier score


def test_classifier_score_of_confident_uniform_predictions_is_k():
    k = 10
    probs = np.eye(k)[np.arange(1000) % k]  # each split of 100 holds every class 10 times
    mean, std = classifier_score(probs, splits=10)
    assert mean == pytest.approx(k) and std == pytest.approx(0.0, abs=1e-9)


def test_classifier_score_of_one_repeated_class_is_one():
    probs = torch.zeros(1000, 10)
    probs[:, 3] = 1.0
    assert classifier_score(probs)[0] == pytest.approx(1.0)


def test_classifier_score_of_uninformative_predictions_is_one():
    assert classifier_score(np.full((500, 7), 1 / 7))[0] == pytest.approx(1.0)


def test_classifier_score_rejects_logits():
    with pytest.raises(ValueError, match="softmax"):
        classifier_score(np.random.default_rng(0).normal(size=(100, 10)))


# ---------------------------------------------------------------- MS-SSIM diversity


def test_msssim_scales_for_small_images():
    window, sigma, weights = msssim_config(28, 28)
    assert (window, sigma, len(weights)) == (11, 1.5, 2) and sum(weights) == pytest.approx(1.0)
    assert weights[0] == pytest.approx(0.0448 / (0.0448 + 0.2856))
    assert msssim_config(8, 8)[:1] == (7,) and msssim_config(8, 8)[2] == (1.0,)
    assert len(msssim_config(256, 256)[2]) == 5


def test_ssim_of_one_window_matches_the_formula():
    rng = np.random.default_rng(12)
    a, b = rng.random((11, 11)), rng.random((11, 11))
    t = np.arange(11) - 5.0
    g = np.exp(-t**2 / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()  # 11×11 image, 11-tap window: one window position, one scale
    mu_a, mu_b = (w * a).sum(), (w * b).sum()
    var_a, var_b = (w * a * a).sum() - mu_a**2, (w * b * b).sum() - mu_b**2
    cov = (w * a * b).sum() - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    ref = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    ours = msssim(torch.tensor(a).view(1, 1, 11, 11), torch.tensor(b).view(1, 1, 11, 11))
    assert float(ours) == pytest.approx(max(ref, 0.0), abs=1e-5)


@pytest.mark.parametrize("size", [28, 8])
def test_msssim_is_one_for_equal_images_and_lower_for_different_ones(size):
    g = torch.Generator().manual_seed(13)
    x = torch.rand(8, 3, size, size, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    same, near, far = msssim(x, x), msssim(x, y), msssim(x, torch.rand(x.shape, generator=g))
    assert same.shape == (8,) and torch.allclose(same, torch.ones(8), atol=1e-5)
    assert (near < 0.99).all() and (far < near).all()


def test_msssim_diversity_of_collapsed_and_noise_sets():
    g = torch.Generator().manual_seed(14)
    one = torch.rand(1, 1, 28, 28, generator=g).repeat(50, 1, 1, 1)
    assert msssim_diversity(one, pairs=200) == pytest.approx(1.0, abs=1e-5)
    assert msssim_diversity(torch.rand(200, 1, 28, 28, generator=g), pairs=200) < 0.2


def test_msssim_rejects_images_outside_unit_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        msssim(torch.full((1, 1, 28, 28), -1.0), torch.zeros(1, 1, 28, 28))


# ---------------------------------------------------------------- birthday paradox


@pytest.mark.parametrize("support", [100, 1000])
def test_birthday_support_recovers_a_discrete_support(support):
    rng = np.random.default_rng(support)
    points = 10.0 * rng.normal(size=(support, 16))  # far apart: nearest pairs several units away
    feats = points[rng.integers(0, support, size=20 * support)] + 0.01 * rng.normal(size=(20 * support, 16))
    est = birthday_support(feats, threshold=1.0, n_batches=200)
    assert support / 2 <= est <= 2 * support


def test_birthday_support_of_a_diverse_set_is_a_lower_bound():
    rng = np.random.default_rng(15)
    real = rng.normal(size=(2000, 16))
    threshold = birthday_threshold(real)  # 1% of real nearest-neighbour distances fall below it
    assert 0 < threshold < np.sqrt(2 * 16)
    with pytest.warns(UserWarning, match="lower bound"):
        est = birthday_support(rng.normal(size=(2000, 16)), threshold=threshold, batch_size=256, n_batches=20)
    assert est == 256**2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        collapsed = birthday_support(np.repeat(real[:5], 400, axis=0), threshold=threshold)
    assert collapsed < 25


# ---------------------------------------------------------------- shared checks and neighbours


@pytest.mark.parametrize("metric", [
    lambda a, b: frechet_distance(a, b), lambda a, b: kid(a, b), lambda a, b: prdc(a, b, k=2),
    lambda a, b: ndb(a, b, k=2), lambda a, b: birthday_threshold(a), lambda a, b: birthday_support(a, threshold=1.0),
], ids=["fd", "kid", "prdc", "ndb", "birthday_threshold", "birthday_support"])
def test_sample_metrics_refuse_bad_arrays_alike(metric):
    good = np.random.default_rng(17).normal(size=(10, 3))
    with pytest.raises(ValueError, match=r"of shape \(N, D\), got shape \(10, 3, 1\); flatten images first"):
        metric(good[:, :, None], good)
    nan = good.copy()
    nan[4, 1] = np.nan
    with pytest.raises(ValueError, match="contains NaN or inf"):
        metric(nan, good)
    with pytest.raises(ValueError, match="NaN or inf"):
        metric(torch.tensor(nan, dtype=torch.bfloat16), good)  # tensors, bfloat16 included, are checked alike


@pytest.mark.parametrize("metric", [frechet_distance, kid, prdc, ndb], ids=["fd", "kid", "prdc", "ndb"])
def test_pair_metrics_refuse_different_feature_sizes(metric):
    rng = np.random.default_rng(18)
    with pytest.raises(ValueError, match="of different sizes: .* has D=3, .* has D=4"):
        metric(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))


def test_knn_radii_leave_the_point_out_and_count_duplicates():
    rng = np.random.default_rng(19)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    x[20] = x[10]  # an exact duplicate is a neighbour at distance 0
    d = np.sqrt(((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)  # the point itself is not its own neighbour
    for k in (1, 3):
        ours = knn_sq_radii(torch.from_numpy(x), k).sqrt().numpy()
        np.testing.assert_allclose(ours, np.sort(d, 1)[:, k - 1], rtol=1e-5, atol=1e-5)
    assert knn_sq_radii(torch.from_numpy(x), 1)[[10, 20]].max() < 1e-8
    with pytest.raises(ValueError, match="more than k samples"):
        knn_sq_radii(torch.from_numpy(x[:3]), 3)
