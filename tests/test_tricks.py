"""Known answers for the improved-GAN techniques (Salimans 2016) and the modern stabilisers, one test per trick."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from aegan import losses, tricks
from aegan.nets import MLP, ConvDecoder, ConvEncoder
from aegan.nets.minibatch import MinibatchDiscrimination, with_minibatch_discrimination
from aegan.nets.vbn import (
    VBNGenerator,
    VirtualBatchNorm,
    convert_batchnorm_to_vbn,
    insert_vbn_after_hidden_linears,
    reference_rows,
)


def test_minibatch_discrimination_collapsed_vs_diverse_batch():
    torch.manual_seed(0)
    mbd = MinibatchDiscrimination(6, kernels=7, kernel_dim=3)
    n = 5
    same = torch.randn(1, 6).expand(n, 6)
    out = mbd(same)
    assert out.shape == (n, 6 + 7)  # A + B
    assert torch.equal(out[:, :6], same)
    assert torch.equal(out[:, 6:], torch.full((n, 7), n - 1.0))  # every c_b(x_i, x_j) = 1, j ≠ i
    far = 1000.0 * torch.randn(n, 6)
    assert mbd(far)[:, 6:].abs().max().item() < 1e-6  # ‖M_i − M_j‖₁ huge: no neighbours
    net = with_minibatch_discrimination(MLP(6, 1, width=8, depth=2), kernels=7, kernel_dim=3)
    assert net(far).shape == (n, 1) and net.features(far).shape == (n, 8)
    with pytest.raises(ValueError):
        with_minibatch_discrimination(nn.Sequential(nn.Linear(2, 1)))


def _vbn_reference(x_ref, x_i, gamma, beta, eps=1e-5):
    """Explicit VBN of one example: statistics of the reference batch combined with the example (weight 1/(n+1))."""
    n = len(x_ref)
    dims = (0, *range(2, x_ref.dim()))
    mu = (n * x_ref.mean(dims) + x_i.reshape(len(x_i), -1).mean(1)) / (n + 1)
    sq = (n * x_ref.square().mean(dims) + x_i.square().reshape(len(x_i), -1).mean(1)) / (n + 1)
    shape = (-1,) + (1,) * (x_i.dim() - 1)
    out = (x_i - mu.view(shape)) / (sq - mu.square() + eps).sqrt().view(shape)
    return out * gamma.view(shape) + beta.view(shape)


@pytest.mark.parametrize("shape", [(4,), (3, 2, 2)])
def test_virtual_batch_norm_matches_explicit_combined_statistics(shape):
    torch.manual_seed(0)
    vbn = VirtualBatchNorm(shape[0])
    with torch.no_grad():
        vbn.weight.uniform_(0.5, 2.0)
        vbn.bias.normal_()
    x_ref, x = torch.randn(6, *shape) * 3 + 1, torch.randn(3, *shape)
    with pytest.raises(RuntimeError):  # no reference batch declared
        vbn(x)
    with reference_rows(vbn, 6):
        out = vbn(torch.cat([x_ref, x]))
    for i in range(3):
        torch.testing.assert_close(out[6 + i], _vbn_reference(x_ref, x[i], vbn.weight, vbn.bias))
    # the reference rows are normalised by their own statistics (batch norm of the reference batch)
    bn = nn.BatchNorm1d(shape[0]) if len(shape) == 1 else nn.BatchNorm2d(shape[0])
    bn.weight.data, bn.bias.data = vbn.weight.data, vbn.bias.data
    torch.testing.assert_close(out[:6], bn.train()(x_ref))


def test_vbn_generator_reference_fixed_and_rows_independent():
    torch.manual_seed(0)
    mlp = MLP(3, 2, width=8, depth=2)
    with pytest.raises(ValueError):  # no batch norm to take the reference batch
        VBNGenerator(MLP(3, 2, width=8, depth=2), torch.randn(16, 3))
    assert insert_vbn_after_hidden_linears(mlp) == 2
    g = VBNGenerator(mlp, torch.randn(16, 3))
    assert "z_ref" in g.state_dict()
    seen = []  # the reference rows entering the first VBN layer, call after call
    g.generator.body[1].register_forward_hook(lambda m, inp, out: seen.append(inp[0][:16].detach().clone()))
    z = torch.randn(10, 3)
    out_all = g(z)
    out_other = g(torch.cat([z[:1], 5 * torch.randn(30, 3)]))  # same first row, different companions
    out_alone = g(z[:1])
    assert out_all.shape == (10, 2)
    torch.testing.assert_close(seen[0], seen[1])
    torch.testing.assert_close(seen[0], seen[2])
    torch.testing.assert_close(out_all[:1], out_other[:1])
    torch.testing.assert_close(out_all[:1], out_alone)
    torch.testing.assert_close(g.eval()(z[:1]), out_alone)  # no running statistics: eval mode is the same


def test_vbn_replaces_batch_norm_in_conv_generator():
    torch.manual_seed(0)
    dec = ConvDecoder(4, (1, 8, 8), width=4)
    n_bn = sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in dec.modules())
    g = VBNGenerator(dec, torch.randn(8, 4))
    assert n_bn >= 2 and sum(isinstance(m, VirtualBatchNorm) for m in g.modules()) == n_bn
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert convert_batchnorm_to_vbn(g) == 0
    z = torch.randn(5, 4)
    out = g(z)
    assert out.shape == (5, 1, 8, 8)
    torch.testing.assert_close(g(z[2:3]), out[2:3])


def test_historical_average_is_mean_of_past_values():
    p = nn.Parameter(torch.tensor([1.0, 2.0]))
    q = nn.Parameter(torch.tensor([[0.0]]))
    ha = tricks.HistoricalAverage()
    assert ha.penalty([p, q]).item() == 0.0  # nothing to average yet
    values = [([1.0, 2.0], 0.0), ([3.0, -2.0], 3.0), ([5.0, 6.0], -6.0)]
    for pv, qv in values:
        p.data, q.data = torch.tensor(pv), torch.tensor([[qv]])
        ha.update([p, q])
    torch.testing.assert_close(ha.means[0], torch.tensor([3.0, 2.0]))  # mean of the 3 values
    torch.testing.assert_close(ha.means[1], torch.tensor([[-1.0]]))
    p.data, q.data = torch.tensor([0.0, 0.0]), torch.tensor([[1.0]])
    pen = ha.penalty([p, q])
    assert pen.item() == pytest.approx((3**2 + 2**2) + 2**2)  # Σ ‖θ − θ̄‖²
    pen.backward()
    torch.testing.assert_close(p.grad, 2 * (p.data - ha.means[0]))
    other = tricks.HistoricalAverage()
    other.load_state_dict(ha.state_dict())
    assert other.count == 3 and other.penalty([p, q]).item() == pytest.approx(pen.item())
    with pytest.raises(ValueError):
        ha.update([p])


def test_one_sided_label_smoothing_is_bce_with_target_09():
    real, fake_a, fake_b = torch.randn(7), torch.randn(7), torch.randn(7)
    expected = (F.binary_cross_entropy_with_logits(real, torch.full_like(real, 0.9))
                + F.binary_cross_entropy_with_logits(fake_a, torch.zeros(7))
                + F.binary_cross_entropy_with_logits(fake_b, torch.zeros(7)))
    torch.testing.assert_close(tricks.smoothed_discriminator_loss(real, fake_a, fake_b), expected)
    torch.testing.assert_close(tricks.smoothed_discriminator_loss(real, fake_a, real_target=1.0),
                               losses.discriminator(real, fake_a))


def test_feature_matching_is_squared_distance_of_means():
    f_real = torch.tensor([[1.0, 0.0], [3.0, 2.0]])  # mean (2, 1)
    f_fake = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 4.0]], requires_grad=True)  # mean (0, 2)
    loss = tricks.feature_matching(f_real.requires_grad_(True), f_fake)
    assert loss.item() == pytest.approx(2.0**2 + 1.0**2)
    loss.backward()
    assert f_real.grad is None and f_fake.grad is not None


def test_packing_puts_k_consecutive_samples_in_one_input():
    k = 3
    x = torch.arange(6 * 2 * 2 * 2, dtype=torch.float32).view(6, 2, 2, 2)
    seen = []
    d = ConvEncoder(tricks.packed_shape((2, 2, 2), k), 1, width=4)
    assert d.shape == (6, 2, 2)
    d.body[0].register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    out = tricks.Pack(d, k)(x)
    assert out.shape == (2, 1)
    assert torch.equal(seen[0][0], torch.cat([x[0], x[1], x[2]]))  # samples 0..k−1 along channels
    assert torch.equal(seen[0][1], torch.cat([x[3], x[4], x[5]]))
    v = torch.randn(4, 3)
    packed = tricks.Pack(MLP(6, 1, width=4, depth=1), 2)
    assert packed.pack(v).tolist() == [v[0].tolist() + v[1].tolist(), v[2].tolist() + v[3].tolist()]
    assert packed.features(v).shape == (2, 4)
    with pytest.raises(ValueError, match="divisible by 2"):
        packed(torch.randn(5, 3))


def test_ema_follows_explicit_formula():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = tricks.EMA(net, decay=0.9)
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    w0 = net[0].weight.detach().clone()
    w1, w2 = torch.randn(2, 3), torch.randn(2, 3)
    for w in (w1, w2):
        net[0].weight.data.copy_(w)
        net(torch.randn(8, 3))  # moves the running statistics
        ema.update(net)
    torch.testing.assert_close(ema.module[0].weight, 0.9 * (0.9 * w0 + 0.1 * w1) + 0.1 * w2)
    torch.testing.assert_close(ema.module[1].running_mean, net[1].running_mean)  # buffers copied


def test_r1_penalty_known_gradients():
    w = torch.tensor([[1.0, -2.0, 2.0]])
    linear = nn.Linear(3, 1)
    linear.weight.data.copy_(w)
    x = torch.randn(5, 3)
    assert tricks.r1_penalty(linear, x).item() == pytest.approx(0.5 * 9.0)  # D(x) = w·x + b: ½‖w‖²

    class HalfSquare(nn.Module):  # D(x) = s·½‖x‖², ∇ = s·x
        def __init__(self):
            super().__init__()
            self.s = nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return self.s * 0.5 * x.square().flatten(1).sum(1, keepdim=True)

    d = HalfSquare()
    x_img = torch.randn(4, 1, 2, 2)
    r1 = tricks.r1_penalty(d, x_img)
    assert r1.item() == pytest.approx(0.5 * x_img.flatten(1).square().sum(1).mean().item(), rel=1e-5)
    r1.backward()  # create_graph: R1 = ½ s² E‖x‖² trains D, dR1/ds = s E‖x‖²
    assert d.s.grad.item() == pytest.approx(x_img.flatten(1).square().sum(1).mean().item(), rel=1e-5)
    assert x_img.grad is None


def test_spectral_norm_unit_sigma_and_safetensors_round_trip(tmp_path):
    torch.manual_seed(0)

    def build():
        net = with_minibatch_discrimination(ConvEncoder((1, 8, 8), 1, width=4), kernels=3, kernel_dim=2)
        assert tricks.apply_spectral_norm(net) == 3  # 2 convs (8 -> 4 -> 2) and the head after MBD
        return net

    net = build()
    assert tricks.apply_spectral_norm(net) == 0  # idempotent
    x = torch.randn(6, 1, 8, 8)
    for _ in range(10):  # one power iteration per training forward
        net.train()(x)
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
            assert sigma == pytest.approx(1.0, abs=1e-2)
    save_file(net.state_dict(), str(tmp_path / "d.safetensors"))
    fresh = build()
    fresh.load_state_dict(load_file(str(tmp_path / "d.safetensors")))
    net.eval(), fresh.eval()
    torch.testing.assert_close(fresh(x), net(x))
