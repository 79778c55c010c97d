"""Known answers for the loss primitives: analytic KL against Monte Carlo, reconstruction means and sums, perceptual
distances, GAN terms."""

import math

import pytest
import torch

from aegan import losses


def test_kl_of_standard_normal_to_itself_is_zero():
    assert losses.kl_normal(torch.zeros(4, 3), torch.zeros(4, 3)).item() == 0.0


def test_analytic_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 2.0]])
    log_var = torch.tensor([[0.3, -0.7, 1.2]])
    std = (0.5 * log_var).exp()
    z = mu + std * torch.randn(400_000, 3, generator=g)
    log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    mc = (log_q - log_p).mean().item()  # E_q[log q(z) − log p(z)]
    assert losses.kl_normal(mu, log_var).item() == pytest.approx(mc, rel=0.01)


def test_reconstruction_is_a_mean_over_elements_and_batch():
    x = torch.zeros(2, 3)
    x_rec = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.5, 0.5]])
    # |x − x̂| sums to 3 and 1.5 in the two rows: 4.5 over 2·3 elements; (x − x̂)²: 5 and 0.75 over 6
    assert losses.reconstruction(x, x_rec, "l1").item() == pytest.approx(4.5 / 6)
    assert losses.reconstruction(x, x_rec, "mse").item() == pytest.approx(5.75 / 6)
    img = torch.full((1, 1, 2, 2), 1.0)  # white pixels; a perfect Bernoulli mean costs ~0
    assert losses.reconstruction(img, img, "bce").item() < 1e-4
    with pytest.raises(ValueError):
        losses.reconstruction(x, x_rec, "l3")


def test_reconstruction_weight_means_the_same_at_any_size():
    """DESIGN §1: the same error per pixel gives the same loss on 8×8 and 28×28 images (the sum grows 12-fold)."""
    for side in (8, 28):
        x = torch.zeros(4, 1, side, side)
        assert losses.reconstruction(x, x + 0.25, "l1").item() == pytest.approx(0.25)
        assert losses.reconstruction_nll(x, x + 0.25, "l1").item() == pytest.approx(0.25 * side * side)


def test_reconstruction_nll_sums_each_example():
    """The VAE's −log p(x|z): per-example sums over dimensions, batch mean (a log-likelihood adds over pixels)."""
    x = torch.zeros(2, 3)
    x_rec = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.5, 0.5]])
    assert losses.reconstruction_nll(x, x_rec, "l1").item() == pytest.approx((3 + 1.5) / 2)
    assert losses.reconstruction_nll(x, x_rec, "mse").item() == pytest.approx((5 + 0.75) / 2)
    t, p = torch.tensor([[1.0, -1.0]]), torch.tensor([[0.0, 0.0]])  # Bernoulli means 1, 0 predicted as ½, ½
    assert losses.reconstruction_nll(t, p, "bce").item() == pytest.approx(2 * math.log(2), rel=1e-5)
    assert losses.reconstruction(t, p, "bce").item() == pytest.approx(math.log(2), rel=1e-5)


def test_perceptual_is_a_mean_squared_feature_distance():
    f_x = torch.tensor([[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]])
    f_rec = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 3.0]])
    assert losses.perceptual(f_x, f_rec).item() == pytest.approx((1 + 4 + 9 + 4) / 8)  # Σ‖·‖² over N·F = 8
    assert losses.perceptual(f_x, f_x).item() == 0.0
    with pytest.raises(ValueError, match="differ"):
        losses.perceptual(f_x, f_rec[:, :3])


def test_mmd_imq_known_answer_and_gradient():
    """One scale, d = 1 (c = 2): x = {0, 1}, y = {0, 3}: k_xx = 2/3, k_yy = 2/11, the cross pairs 1, 2/11, 2/3, 1/3."""
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [3.0]])
    want = 2 / 3 + 2 / 11 - 2 * (1 + 2 / 11 + 2 / 3 + 1 / 3) / 4
    assert losses.mmd_imq(x, y, scales=(1.0,)).item() == pytest.approx(want)
    g = torch.Generator().manual_seed(0)
    same = [losses.mmd_imq(torch.randn(64, 16, generator=g), torch.randn(64, 16, generator=g)).item()
            for _ in range(20)]
    shifted = losses.mmd_imq(torch.randn(64, 16, generator=g) + 0.5, torch.randn(64, 16, generator=g)).item()
    assert abs(sum(same) / 20) < 0.01 and shifted > 0.2  # unbiased: near 0 for one distribution; a shift is seen
    codes = (torch.randn(64, 16, generator=g) + 1.0).requires_grad_()
    losses.mmd_imq(codes, torch.randn(64, 16, generator=g)).backward()
    assert (codes.grad.mean(0) > 0).all()  # descending the gradient moves the codes toward the prior's mean 0
    with pytest.raises(ValueError, match="at least 2 codes"):
        losses.mmd_imq(x[:1], y)


def test_adversarial_forms_and_discriminator():
    logit = torch.tensor([0.0, 2.0])
    assert losses.adversarial(logit).item() == pytest.approx((math.log(2) + math.log(1 + math.exp(-2))) / 2)
    assert losses.adversarial(logit, "ratio").item() == pytest.approx(-1.0)
    # D's cross-entropy with one real and two kinds of fakes, all at logit 0: 3 log 2
    zero = torch.zeros(5)
    assert losses.discriminator(zero, zero, zero).item() == pytest.approx(3 * math.log(2))
