"""The unrolled GAN, `tricks.unroll=k` (Metz et al. 2017, arXiv:1611.02163): G's loss against D unrolled k Adam steps
ahead, backpropagated through the k steps; D's own update unchanged.

Known answers: aegan.tricks.adam_step is torch.optim.Adam's update; with k = 0 the generator's loss and gradient are
the plain model's, bit for bit; with k > 0 G's gradient differs from the plain one and equals a reference unrolled by
hand (explicit Adam arithmetic, the discriminator written as matrix products) on a tiny GAN; the unrolled steps change
nothing of D; a run with unrolling resumes bit for bit; bad settings are refused in one line.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_phase_losses import BATCH, SHAPES, data  # 6 examples a batch; vectors (2,), images (1, 8, 8)

import aegan
from aegan import models, tricks
from aegan.config import Config
from aegan.errors import ConfigError
from aegan.loop.configure import make_config
from aegan.loop.tricks import LoopTricks
from aegan.train import train_step

from helpers import assert_same_weights

D_MODELS = [name for name, cls in models.MODELS.items() if cls.has_D]
LR = 0.05  # large: one Adam step moves each weight by about 0.05, so the unrolled D is far from D


def build(name: str, kind: str = "vector", unroll: int = 0, width: int = 8, depth: int = 2, latent: int = 3,
          **tricks_on):
    cfg = Config(model=name)
    cfg.net.width, cfg.net.depth, cfg.net.latent_dim = width, depth, latent
    cfg.tricks.unroll = unroll
    for key, value in tricks_on.items():
        setattr(cfg.tricks, key, value)
    torch.manual_seed(0)
    model = models.build_model(cfg, SHAPES[kind])
    nets, phases = dict(model.nets.items()), model.phases()
    optimizers = {p.name: torch.optim.Adam([q for n in p.nets for q in nets[n].parameters()], lr=LR,
                                           betas=(cfg.optim.beta1, cfg.optim.beta2)) for p in phases}
    return model, nets, phases, optimizers, LoopTricks(cfg, model, nets)


def step(model, nets, phases, optimizers, loop_tricks, kind: str, i: int) -> None:
    """One real training step, with the step's draws from a seed of its own."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1000 + i)
        train_step(model, nets, phases, optimizers, data(kind, i), i, LR, loop_tricks=loop_tricks)


def generator_phase(phases):
    return next(p for p in phases if "G" in p.nets)


def phase_grads(model, nets, phase, loss_fn, seed: int, kind: str = "vector"):
    """Gradients of the generator phase's loss (as `loss_fn(phase, s)` computes it) for the networks it trains, on a
    fresh begin_step with draws from `seed`; D and every other network frozen, as in the loop."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        s = model.begin_step(data(kind, seed))
    for name, net in nets.items():
        net.requires_grad_(name in phase.nets)
    loss, _ = loss_fn(phase, s)
    params = [p for n in phase.nets for p in nets[n].parameters()]
    grads = torch.autograd.grad(loss, params)
    for net in nets.values():
        net.requires_grad_(True)
    return loss, torch.cat([g.flatten() for g in grads])


def test_adam_step_is_torch_adam():
    """aegan.tricks.adam_step reproduces three steps of torch.optim.Adam (with L2 decay) on the same gradients."""
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    opt = torch.optim.Adam([p], lr=0.1, betas=(0.5, 0.99), eps=1e-6, weight_decay=0.01)
    theta, m, v = p.detach().clone(), torch.zeros(5), torch.zeros(5)
    for t in range(1, 4):
        g = torch.randn(5)
        theta, m, v = tricks.adam_step(theta, g, m, v, t, 0.1, (0.5, 0.99), 1e-6, 0.01)
        p.grad = g.clone()
        opt.step()
        torch.testing.assert_close(theta, p.detach(), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(m, opt.state[p]["exp_avg"])
        torch.testing.assert_close(v, opt.state[p]["exp_avg_sq"])


def test_adam_step_has_no_nan_gradient_where_no_loss_reaches():
    theta = torch.ones(3, requires_grad=True)
    g = torch.tensor([0.0, 1.0, -2.0], requires_grad=True)
    new, _, _ = tricks.adam_step(theta, g * theta, torch.zeros(3), torch.zeros(3), 1, 0.1, (0.5, 0.999), 1e-8)
    (d_theta,) = torch.autograd.grad(new.sum(), theta)
    assert torch.isfinite(d_theta).all()


def test_bad_unroll_settings_are_refused_in_one_line():
    with pytest.raises(ConfigError) as e:
        make_config("gan", "ring8", overrides=["tricks.unroll=-1"])
    assert str(e.value) == "tricks.unroll is the number of D updates G looks ahead, 0 = off (e.g. 5); got -1"
    with pytest.raises(ConfigError, match="tricks.unroll needs a data discriminator, which ae has not: use one of gan"):
        make_config("ae", "ring8", overrides=["tricks.unroll=2"])
    with pytest.raises(ConfigError, match="tricks.unroll expects an integer"):
        make_config("gan", "ring8", overrides=["tricks.unroll=1.5"])


def test_unroll_zero_runs_the_plain_loop_bit_for_bit():
    plain, unrolled = build("gan"), build("gan", unroll=0)
    for i in range(3):
        step(*plain[:4], None, "vector", i)
        step(*unrolled, "vector", i)
    for (name, a), b in zip(plain[0].state_dict().items(), unrolled[0].state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("name", D_MODELS)
@pytest.mark.parametrize("kind", list(SHAPES))
def test_the_unrolled_path_with_k_zero_is_the_plain_generator_loss_bit_for_bit(name, kind):
    model, nets, phases, optimizers, loop_tricks = build(name, kind, unroll=2)
    step(model, nets, phases, optimizers, loop_tricks, kind, 0)  # D's Adam moments are not zero
    phase = generator_phase(phases)
    want_loss, want = phase_grads(model, nets, phase, lambda p, s: p.loss(s), 7, kind)
    got_loss, got = phase_grads(model, nets, phase, lambda p, s: loop_tricks.unrolled_loss(p, s, optimizers, k=0), 7,
                                kind)
    assert torch.equal(got_loss, want_loss) and torch.equal(got, want)


def hand_unrolled_grads(G, theta, m, v, t, x, z, k, lr, betas, eps):
    """The reference: a tiny GAN's G gradient against D unrolled k Adam steps, written out by hand. D(x) =
    W₂·leaky_relu(W₁x + b₁) + b₂; D's loss −log σ(D(x)) − log(1 − σ(D(G(z)))); G's loss −log σ(D(G(z))) at θ_D^k."""
    def D(inputs, W1, b1, W2, b2):
        return F.leaky_relu(inputs @ W1.T + b1, 0.2) @ W2.T + b2

    beta1, beta2 = betas
    x_fake = G(z)  # G(z), a function of G's weights
    theta = [w.detach().clone().requires_grad_(True) for w in theta]
    for _ in range(k):
        d_loss = -torch.log(torch.sigmoid(D(x, *theta))).mean() - torch.log(1 - torch.sigmoid(D(x_fake, *theta))).mean()
        grads = torch.autograd.grad(d_loss, theta, create_graph=True)
        t += 1
        m = [beta1 * mi + (1 - beta1) * g for mi, g in zip(m, grads)]
        v = [beta2 * vi + (1 - beta2) * g * g for vi, g in zip(v, grads)]
        theta = [w - lr * (mi / (1 - beta1**t)) / ((vi / (1 - beta2**t)).sqrt() + eps)
                 for w, mi, vi in zip(theta, m, v)]
    g_loss = -torch.log(torch.sigmoid(D(x_fake, *theta))).mean()
    grads = torch.autograd.grad(g_loss, list(G.parameters()))
    return torch.cat([g.flatten() for g in grads])


@pytest.mark.parametrize("k", [1, 3])
def test_unrolled_generator_gradient_equals_a_hand_unrolled_reference(k):
    model, nets, phases, optimizers, loop_tricks = build("gan", unroll=k, width=4, depth=1, latent=2)
    for i in range(2):  # D's Adam moments and step count from two real steps
        step(model, nets, phases, optimizers, loop_tricks, "vector", i)
    seen = {}

    def before_G_step(opt, args, kwargs):
        """Just before G's Adam step: G's gradient, and D (already stepped this step) with its Adam state."""
        seen["got"] = torch.cat([p.grad.flatten().clone() for p in nets["G"].parameters()])
        d_params = [nets["D"].body[0].weight, nets["D"].body[0].bias, nets["D"].head.weight, nets["D"].head.bias]
        assert len(d_params) == len(list(nets["D"].parameters()))
        state = optimizers["D"].state
        seen["theta"] = [p.detach().clone() for p in d_params]
        seen["m"] = [state[p]["exp_avg"].clone() for p in d_params]
        seen["v"] = [state[p]["exp_avg_sq"].clone() for p in d_params]
        seen["t"] = int(state[d_params[0]]["step"])
        seen["G"] = {n: p.detach().clone() for n, p in nets["G"].named_parameters()}

    handle = optimizers["G"].register_step_pre_hook(before_G_step)
    step(model, nets, phases, optimizers, loop_tricks, "vector", 2)
    handle.remove()
    assert seen["t"] == 3  # D stepped in this step's phase D, before G's phase

    z = torch.randn(BATCH, 2, generator=torch.Generator().manual_seed(1002))  # the step's draw, z ~ N(0, I)
    G = models.get("gan")(SHAPES["vector"], model.cfg).nets["G"]
    G.load_state_dict(seen["G"])
    betas, eps = optimizers["D"].param_groups[0]["betas"], optimizers["D"].param_groups[0]["eps"]
    want = hand_unrolled_grads(G, seen["theta"], seen["m"], seen["v"], seen["t"], data("vector", 2), z, k, LR, betas,
                               eps)
    plain = hand_unrolled_grads(G, seen["theta"], seen["m"], seen["v"], seen["t"], data("vector", 2), z, 0, LR, betas,
                                eps)
    scale = float(want.abs().max())
    torch.testing.assert_close(seen["got"], want, rtol=1e-4, atol=1e-5 * scale)
    excess = (seen["got"] - plain).abs() / (1e-5 * scale + 1e-4 * plain.abs())
    assert excess.max() > 100, f"the unrolled gradient is only {excess.max():.1f} tolerances from the plain one"


@pytest.mark.parametrize("name", D_MODELS)
def test_every_model_with_D_unrolls_and_its_generator_gradient_changes(name):
    model, nets, phases, optimizers, loop_tricks = build(name, unroll=2)
    step(model, nets, phases, optimizers, loop_tricks, "vector", 0)
    phase = generator_phase(phases)
    _, plain = phase_grads(model, nets, phase, lambda p, s: p.loss(s), 7)
    _, unrolled = phase_grads(model, nets, phase, lambda p, s: loop_tricks.unrolled_loss(p, s, optimizers), 7)
    assert torch.isfinite(unrolled).all()
    assert (unrolled - plain).abs().max() > 1e-3 * plain.abs().max(), name


@pytest.mark.parametrize("name", ["gan", "bigan"])
def test_the_unrolled_steps_change_nothing_of_D(name):
    """D's weights, Adam state and buffers (batch-norm statistics, spectral-norm vectors) after a step with unrolling
    are those after D's own phase of that step alone: the look-ahead works on copies."""
    states = []
    for only_D in (False, True):
        model, nets, phases, optimizers, loop_tricks = build(name, "image", unroll=2, spectral_norm=True)
        step(model, nets, phases, optimizers, loop_tricks, "image", 0)  # the same first step: D's moments not zero
        step(model, nets, phases[:1] if only_D else phases, optimizers, loop_tricks, "image", 1)
        d_state = optimizers["D"].state_dict()["state"]
        states.append((nets["D"].state_dict(), d_state))
    (d_a, opt_a), (d_b, opt_b) = states
    assert d_a.keys() == d_b.keys() and any("running_mean" in k for k in d_a) and any("_u" in k for k in d_a)
    for key in d_a:
        assert torch.equal(d_a[key], d_b[key]), key
    for i in opt_a:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opt_a[i][key], opt_b[i][key])


def test_resume_with_unroll_matches_an_uninterrupted_run(tmp_path, tiny):
    tiny.update({"checkpoint_every": 4, "tricks.unroll": 2, "batch_size": 64, "optim.schedule": "constant"})  # the
    # encoder models' cosine schedule spans the run's steps, so a 4-step run would follow another schedule
    aegan.train("bigan", data="ring8", steps=8, out=tmp_path / "full", seed=3, overrides=tiny)
    aegan.train("bigan", data="ring8", steps=4, out=tmp_path / "cut", seed=3, overrides=tiny)
    aegan.resume(tmp_path / "cut", steps=8)
    assert_same_weights(tmp_path / "full", tmp_path / "cut")
    assert aegan.load(tmp_path / "cut").config.tricks.unroll == 2
