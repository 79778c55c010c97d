"""BiGAN/ALI and VEEGAN: the joint discriminator D(x, z), the papers' losses, the D tricks on pairs, and end to end.

Layer 1 and 2 with the tricks on (the plain shapes and one-step tests run for every model in tests/test_models.py):
the joint D's shapes, packed or not, and each phase updating exactly its networks. Layer 3 (each phase's gradient
against the paper's loss written again in plain torch) is in tests/test_phase_losses.py with the other models. The D
tricks keep their meaning on pairs: label smoothing and R1 act on D's real class (BiGAN's encoder pairs, VEEGAN's data
pairs), feature matching compares joint features. Layer 4 (a few steps): train, sample and eval through the command
line on ring8.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_models import _params

from aegan import models
from aegan.cli import main
from aegan.config import Config
from aegan.errors import ConfigError
from aegan.loop.tricks import LoopTricks
from aegan.train import train_step

NEW = ("bigan", "veegan")
SHAPES = {"vector": (2,), "image": (1, 8, 8)}
PAIR_NAMES = {"bigan": ("z_hat", "x_gen"), "veegan": ("z_g", "x_g")}  # ẑ = E(x) or z_g = F(x), and G(z), in s


def pairs(name: str, s: SimpleNamespace) -> tuple[tuple, tuple]:
    """D's real pair and the generator's pair of a step: BiGAN (x, E(x)) and (G(z), z), VEEGAN (x, F(x)), (G(z), z)."""
    z_real, x_fake = PAIR_NAMES[name]
    return (s.x, getattr(s, z_real)), (getattr(s, x_fake), s.z)


def build(name: str, kind: str = "vector", latent: int = 3, **tricks_on) -> models.Model:
    cfg = Config(model=name)
    cfg.net.width, cfg.net.depth, cfg.net.latent_dim, cfg.batch_size = 8, 2, latent, 6
    for key, value in tricks_on.items():
        setattr(cfg.tricks, key, value)
    torch.manual_seed(0)
    return models.build_model(cfg, SHAPES[kind])


def data(kind: str, n: int = 6, seed: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPES[kind], generator=g) if kind == "vector" else \
        torch.rand(n, *SHAPES[kind], generator=g) * 2 - 1


D_TRICKS = {"pack": 2, "minibatch_discrimination": True, "minibatch_kernels": 3, "minibatch_kernel_dim": 2,
            "spectral_norm": True, "label_smoothing": 0.9, "feature_matching": 0.5, "r1": 1.0, "r1_every": 1,
            "historical_averaging": 0.01, "unroll": 1}


# --- layer 1 and 2, with the D tricks on ------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("kind", list(SHAPES))
@pytest.mark.parametrize("pack", [1, 2])
def test_shapes_with_the_joint_discriminator(name, kind, pack):
    model = build(name, kind, pack=pack, minibatch_discrimination=True, minibatch_kernels=3, spectral_norm=True)
    x, z = data(kind), model.prior(6)
    D = model.nets["D"]
    assert D(x, z).shape == (6 // pack, 1)
    assert D.features(x, z).shape == (6 // pack, 8 if kind == "vector" else 32)  # width, or 4·width on images
    assert model.encode(x).shape == (6, 3) and model.generate(z).shape == (6, *SHAPES[kind])
    assert model.has_encoder and model.samplers[0] == "gmm" and "prior" in model.samplers
    encoder = model.nets["E" if name == "bigan" else "F"]
    assert torch.equal(model.encode(x), encoder(x))  # VEEGAN's reconstructor F is its encoder
    s = model.begin_step(x)
    for phase in model.phases():
        loss, _ = phase.loss(s)
        assert loss.ndim == 0 and torch.isfinite(loss)
    with pytest.raises(ValueError, match="pairs need as many"):
        D(x, z[:4])


@pytest.mark.parametrize("name", [*NEW, "gan"])
def test_net_d_depth_sets_the_discriminators_hidden_layers_only(name):
    """net.d_depth = 1 (the papers' one-hidden-layer D): D has one hidden layer, G and the encoder keep net.depth;
    the joint D's head then reads the two joined branches (2·width features) and minibatch discrimination fits."""
    cfg = Config(model=name)
    cfg.net.width, cfg.net.depth, cfg.net.d_depth, cfg.net.latent_dim, cfg.batch_size = 8, 3, 1, 3, 6
    cfg.tricks.minibatch_discrimination, cfg.tricks.minibatch_kernels = True, 3
    model = models.build_model(cfg, (2,))
    D, x, z = model.nets["D"], data("vector"), model.prior(6)
    if name == "gan":
        assert sum(isinstance(m, torch.nn.Linear) for m in D.body) == 1 and D(x).shape == (6, 1)
    else:
        assert len(D.body) == 0 and D.features(x, z).shape == (6, 16) and D(x, z).shape == (6, 1)
    g_linears = [m for m in model.nets["G"].modules() if isinstance(m, torch.nn.Linear)]
    assert len(g_linears) == 4  # net.depth = 3 hidden layers and the output layer
    cfg.net.d_depth = -1
    with pytest.raises(ConfigError, match="d_depth"):
        cfg.validate()


@pytest.mark.parametrize("name", NEW)
def test_model_args_noise_draws_the_real_pairs_codes_around_the_encoders_mean(name):
    """model_args.noise=σ: D's real pair takes z ~ N(E(x), σ²I) (VEEGAN's released Gaussian reconstructor); encode()
    stays the mean, and the draw is reparameterised, so the encoder still gets D's gradient."""
    model = build(name, latent=400)
    model.arg["noise"] = 0.5
    x = data("vector")
    s = model.begin_step(x)
    _, z_real = pairs(name, s)[0]
    residual = (z_real - model.encode(x)).detach()
    assert residual.std().item() == pytest.approx(0.5, rel=0.05) and abs(residual.mean().item()) < 0.03
    assert z_real.requires_grad
    model.arg["noise"] = 0.0
    assert torch.equal(pairs(name, model.begin_step(x))[0][1], model.encode(x))
    with pytest.raises(ConfigError, match="noise"):
        type(model).check_args({"noise": -1.0})


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("kind", list(SHAPES))
def test_each_phase_updates_exactly_its_networks_with_the_d_tricks_on(name, kind):
    model = build(name, kind, **D_TRICKS)
    nets = dict(model.nets.items())
    optimizers = {p.name: torch.optim.Adam([q for n in p.nets for q in nets[n].parameters()], lr=1e-2)
                  for p in model.phases()}
    loop_tricks = LoopTricks(model.cfg, model, nets)
    for phase in model.phases():
        before = _params(nets)
        logs = train_step(model, nets, [phase], optimizers, data(kind), 0, 1e-2, loop_tricks=loop_tricks)
        assert all(torch.isfinite(v) for v in logs.values())
        after = _params(nets)
        for key in before:
            changed = not torch.equal(before[key], after[key])
            assert changed == (key.split(".")[0] in phase.nets), f"phase {phase.name}: {key} changed={changed}"


# --- the D tricks on pairs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_label_smoothing_and_feature_matching_act_on_the_real_pairs(name):
    """D's real class (smoothed to 0.9) is BiGAN's encoder pairs and VEEGAN's data pairs; feature matching only
    replaces the generator pair's term by ‖mean f(real pair) − mean f(generator pair)‖² (BiGAN's E keeps its own)."""
    model = build(name, label_smoothing=0.9, feature_matching=2.0, feature_matching_only=True)
    torch.manual_seed(1)
    s = model.begin_step(data("vector"))
    D, (d_phase, g_phase) = model.nets["D"], model.phases()
    real, fake = pairs(name, s)
    want_d = F.binary_cross_entropy_with_logits(D(*real), torch.full((6, 1), 0.9)) \
        + F.binary_cross_entropy_with_logits(D(*fake), torch.zeros(6, 1))
    torch.testing.assert_close(d_phase.loss(s)[0], want_d)
    fm = 2.0 * ((D.features(*real).mean(0) - D.features(*fake).mean(0)) ** 2).sum()
    if name == "bigan":
        want_g = -torch.log(1 - torch.sigmoid(D(*real))).mean() + fm  # E's −log(1 − D(x, ẑ)) stays
    else:
        want_g = fm + ((s.z - s.z_r) ** 2).sum(1).mean()  # λ = 1
    torch.testing.assert_close(g_phase.loss(s)[0], want_g)


@pytest.mark.parametrize("name", NEW)
def test_r1_penalises_the_gradient_over_the_whole_real_pair(name):
    model = build(name, r1=2.0, r1_every=1)
    nets = dict(model.nets.items())
    params = {n: list(net.parameters()) for n, net in nets.items()}
    s = model.begin_step(data("vector"))
    got = LoopTricks(model.cfg, model, nets).penalties(model.phases()[0], s, nets, params, 0)["r1"]
    x, z = (t.detach().clone().requires_grad_(True) for t in pairs(name, s)[0])
    gx, gz = torch.autograd.grad(nets["D"](x, z).sum(), (x, z))
    torch.testing.assert_close(got, 2.0 * 0.5 * (gx.square().sum(1) + gz.square().sum(1)).mean())  # γ/2·E‖∇D‖²


def test_bad_model_args_are_refused_with_the_valid_values():
    with pytest.raises(ConfigError) as e:
        models.get("bigan").check_args({"adversarial": "ratio"})
    assert str(e.value) == "model_args.adversarial must be one of nonsaturating, minimax; got 'ratio'"
    with pytest.raises(ConfigError) as e:
        models.get("veegan").check_args({"lam": 0})
    assert str(e.value) == "model_args.lam must be > 0 (default 1.0); got 0.0"


# --- layer 4: the command line, a few steps ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_cli_train_sample_eval_on_ring8_with_the_d_tricks(name, tmp_path, capsys):
    out = tmp_path / name
    tricks_on = [f"tricks.{k}={str(v).lower()}" for k, v in D_TRICKS.items()]
    assert main(["train", name, "--data", "ring8", "--steps", "6", "--batch-size", "64", "--out", str(out),
                 "progress=false", "net.width=16", "net.depth=2", "tricks.ema=0.9", "tricks.virtual_batch_norm=true",
                 "tricks.virtual_batch_size=8", *tricks_on]) == 0
    for sampler in ("gmm", "prior"):
        npy = tmp_path / f"{sampler}.npy"
        assert main(["sample", str(out), "--n", "50", "--sampler", sampler, "--out", str(npy)]) == 0
        x = np.load(npy)
        assert x.shape == (50, 2) and np.isfinite(x).all()
    capsys.readouterr()
    assert main(["eval", str(out), "--n", "500", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["modes_total"] == 8 and scores["sampler"] == "gmm" and scores["step"] == 6
    assert scores["recon_error_test"] >= 0 and "code_kl" in scores
