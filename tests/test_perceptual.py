"""The perceptual reconstruction term W·mean ‖φ(x) − φ(x̂)‖² (model_args.perceptual, perceptual_net) and the feature
network φ it may use: off, it changes no loss by a bit; on, it adds exactly its term; φ is never trained by it and
never saved with the model; the feature network is its own network, apart from the evaluator.

The gradients of every phase with the term on are checked against the losses written independently in
tests/test_phase_losses.py (its CASES with model_args.perceptual); the settings it refuses in tests/test_config.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aegan
from aegan import data, losses, models
from aegan.config import Config, apply_dict
from aegan.errors import ConfigError
from aegan.metrics import evaluator
from aegan.metrics.feature_net import feature_network
from aegan.train import train_step

SHAPES = {"vector": (2,), "image": (1, 8, 8)}
ENCODER_GANS = ["ae", "aegan", "aae", "alphagan"]  # the models with a pixel reconstruction


def build(name: str, kind: str, **model_args) -> models.Model:
    cfg = Config(model=name)
    apply_dict(cfg, models.get(name).defaults(kind))
    cfg.model_args = {**cfg.model_args, **model_args}
    cfg.net.width, cfg.net.latent_dim = 8, cfg.net.latent_dim or 4
    torch.manual_seed(0)
    return models.get(name)(SHAPES[kind], cfg)


class Untouchable(nn.Module):
    """A φ that fails the test if anything runs it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("φ ran although model_args.perceptual = 0")


def small_phi() -> nn.Module:
    """A small frozen conv net (n, 1, 8, 8) -> (n, 5): what the loop would set from the cached feature network."""
    torch.manual_seed(3)
    phi = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 8 * 8, 5))
    return phi.requires_grad_(False).eval()


def phase_losses(model: models.Model, x: torch.Tensor, seed: int = 1) -> tuple[object, dict[str, torch.Tensor]]:
    """Each phase's loss on one begin_step, as the loop computes them (nets trainable; no optimizer step)."""
    torch.manual_seed(seed)
    s = model.begin_step(x)
    return s, {p.name: p.loss(s)[0] for p in model.phases()}


def x_for(kind: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    return torch.randn(6, *SHAPES[kind], generator=g) if kind == "vector" else \
        torch.rand(6, *SHAPES[kind], generator=g) * 2 - 1


def losses_without_the_term(name: str, model: models.Model, s) -> dict[str, torch.Tensor]:
    """The losses as the models computed them before the perceptual term existed, from the same primitives in the
    same order (λ·rec + adversarial terms), on the same shared forward passes."""
    a, n = model.arg, model.nets
    if name == "ae":
        return {"AE": losses.reconstruction(s.x, s.x_rec, a["recon"])}
    if name == "aegan":
        rec = losses.reconstruction(s.x, s.x_rec, a["recon"])
        return {"AE": a["lam"] * rec + losses.adversarial(n["D"](s.x_rec)) + model.g_adversarial(s.x_gen, s.x)}
    if name == "aae":
        return {"E": a["lam"] * s.rec + losses.adversarial(n["C"](s.z_hat)), "G": a["lam"] * s.rec}
    form = a["adversarial"]
    return {"E": a["lam"] * s.rec + losses.adversarial(n["C"](s.z_hat), form),
            "G": a["lam"] * s.rec + losses.adversarial(n["D"](s.x_rec), form) + model.g_adversarial(s.x_gen, s.x, form)}


@pytest.mark.parametrize("name", ENCODER_GANS)
@pytest.mark.parametrize("kind", list(SHAPES))
def test_perceptual_zero_leaves_every_loss_bit_identical(name, kind):
    """W = 0 (the default, but for the aae's image preset) runs no φ and adds nothing: each loss equals, to the bit,
    the loss without the term."""
    preset_on = (name, kind) == ("aae", "image")  # its preset is W = 1 (tests/test_config.py)
    for args in ([] if preset_on else [{}]) + [{"perceptual": 0.0}, {"perceptual": 0.0, "perceptual_net": "features"}]:
        model = build(name, kind, **args)
        model.phi = Untouchable()
        assert not model.needs_feature_net
        model.eval()  # batch norm in eval mode: the recomputed passes below see the same statistics
        s, got = phase_losses(model, x_for(kind))
        assert not hasattr(s, "perceptual")
        want = losses_without_the_term(name, model, s)  # the old formulas on the same begin_step
        for phase, loss in want.items():
            assert torch.equal(got[phase], loss), (name, kind, args, phase)


@pytest.mark.parametrize("name, net", [("ae", "features"), ("aegan", "D"), ("aegan", "features"), ("aae", "features"),
                                       ("alphagan", "D"), ("alphagan", "features")])
def test_perceptual_adds_exactly_its_term(name, net):
    """With W > 0 each phase that reconstructs gains W · 1/(N·F) Σ ‖φ(x) − φ(x̂)‖², and only that."""
    w = 2.5
    off, on = build(name, "image", perceptual=0.0), build(name, "image", perceptual=w, perceptual_net=net)
    on.load_state_dict(off.state_dict())
    on.phi = small_phi() if net == "features" else None
    assert on.needs_feature_net == (net == "features")
    for m in (off, on):
        m.eval()
    s_off, l_off = phase_losses(off, x_for("image"))
    s_on, l_on = phase_losses(on, x_for("image"))
    phi = on.nets["D"].features if net == "D" else on.phi
    with torch.no_grad():
        f_x, f_rec = phi(s_on.x), phi(s_on.x_rec)
    term = w * ((f_x - f_rec) ** 2).sum() / f_x.numel()
    reconstructing = {"ae": ["AE"], "aegan": ["AE"], "aae": ["E", "G"], "alphagan": ["E", "G"]}[name]
    for phase in l_off:
        extra = term if phase in reconstructing else 0.0
        torch.testing.assert_close(l_on[phase], l_off[phase] + extra, rtol=1e-6, atol=1e-6)
    assert term.item() > 1e-3  # the term is not negligible here: the comparison could fail


def test_phi_is_neither_trained_nor_saved():
    """φ is held beside the model: no gradient reaches it, no phase steps it, and no state_dict, parameter list or
    checkpoint holds it; model.train() leaves it in eval mode."""
    model = build("alphagan", "image", perceptual=1.0, perceptual_net="features")
    model.phi = small_phi()
    before = {k: v.clone() for k, v in model.phi.state_dict().items()}
    assert not any(k.startswith("phi") for k in model.state_dict())
    assert all(p is not q for p in model.parameters() for q in model.phi.parameters())
    assert "phi" not in model.nets and "phi" not in dict(model.named_children())
    model.train()
    assert not model.phi.training
    nets = dict(model.nets.items())
    phases = model.phases()
    opts = {p.name: torch.optim.Adam([q for n in p.nets for q in nets[n].parameters()], lr=0.1) for p in phases}
    logs = train_step(model, nets, phases, opts, x_for("image"), step=0, lr=0.1)
    assert logs["E/perceptual"] > 0
    assert all(p.grad is None for p in model.phi.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.phi.state_dict().items())


def test_phase_without_phi_says_what_to_do():
    model = build("aae", "image", perceptual=1.0)
    assert model.needs_feature_net and model.phi is None
    with pytest.raises(ConfigError, match="needs the feature network in model.phi"):
        phase_losses(model, x_for("image"))


def test_D_features_of_x_carry_no_gradient():
    """φ = D: the target φ(x) is computed without gradient, so the term reaches x only through x̂ = G(E(x))."""
    model = build("alphagan", "image", perceptual=1.0, perceptual_net="D")
    model.eval()  # the same batch statistics in every pass below
    x = x_for("image").requires_grad_(True)
    s = model.begin_step(x)
    (got,) = torch.autograd.grad(model.perceptual(s), x)
    d, x_rec = model.nets["D"].features, model.nets["G"](model.nets["E"](x))
    (want,) = torch.autograd.grad(((d(x).detach() - d(x_rec)) ** 2).mean(), x, retain_graph=True)  # φ(x) a target
    (moving,) = torch.autograd.grad(((d(x) - d(x_rec)) ** 2).mean(), x)  # φ(x) differentiated too: wrong
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, moving, rtol=1e-3, atol=1e-6)


def test_feature_network_is_apart_from_the_evaluator():
    """DESIGN §1: φ is trained separately from the evaluator (other seed, other architecture) and cached the same
    way, in a folder of its own; the evaluator is never the network a model trains against."""
    digits = data.load("digits")
    phi = feature_network(digits, log=lambda m: None)
    ev = evaluator.for_data(digits, log=lambda m: None)
    root = evaluator.cache_root()
    phi_folder = root / "features" / evaluator.fingerprint(digits, "features")
    ev_folder = root / "evaluators" / evaluator.fingerprint(digits)
    assert phi_folder != ev_folder and phi_folder.parent != ev_folder.parent
    assert (phi_folder / "classifier.safetensors").is_file() and (ev_folder / "classifier.safetensors").is_file()
    # other architecture: no weight of φ has the shape of the evaluator's weight in the same place
    phi_w, ev_w = phi.state_dict(), {f"body.{k}": v for k, v in ev.net.body.state_dict().items()}
    assert phi_w["body.0.weight"].shape != ev_w["body.0.weight"].shape  # 5×5 kernels, 24 channels vs 3×3, 32
    # frozen and in eval mode, whatever .train() says; model-scale images (n, C, H, W) -> (n, 96)
    x = digits.test[:32]
    assert all(not p.requires_grad for p in phi.parameters())
    phi.train()
    assert not phi.training and not any(m.training for m in phi.modules())
    f = phi(x)
    assert f.shape == (32, 96) and ev.features(x).shape == (32, evaluator.FEATURES)
    again = feature_network(digits, log=lambda m: None)  # from the cache: the same network
    assert torch.equal(again(x), f)


TINY = {"progress": False, "net.width": 16, "net.depth": 2, "log_every": 2, "checkpoint_every": 2}


def test_a_run_with_phi_D_trains_and_loads(tmp_path):
    run = aegan.train("alphagan", data="digits", steps=3, out=tmp_path / "r",
                      overrides={**TINY, "model_args.perceptual": 1.0, "model_args.perceptual_net": "D"})
    assert run.model.arg["perceptual"] == 1.0 and run.sample(4).shape == (4, 1, 8, 8)


def test_a_run_with_the_feature_network_trains_and_loads_without_it(tmp_path):
    """The loop sets φ from the cache; the run's checkpoint does not hold it, and the run loads and samples without."""
    run = aegan.train("aae", data="digits", steps=3, out=tmp_path / "r",
                      overrides={**TINY, "model_args.perceptual": 1.0})
    loaded = aegan.load(tmp_path / "r")
    assert loaded.model.phi is None and loaded.sample(4).shape == (4, 1, 8, 8)
    from safetensors.torch import load_file

    from aegan import checkpoint

    newest = checkpoint.list_checkpoints(tmp_path / "r" / "checkpoints")[-1]
    assert not any("phi" in k for k in load_file(newest.with_suffix(".safetensors")))
    assert run.step == 3


def test_the_aae_mmd_penalty_adds_exactly_its_term_to_the_encoder():
    """model_args.mmd = W adds W·MMD²_IMQ(ẑ, z) (WAE-MMD's code penalty) to E's loss, on the step's own codes and prior
    draws, and nothing to G's or C's; W = 0 leaves every loss as it was."""
    w = 3.0
    off, on = build("aae", "image", mmd=0.0, perceptual=0.0), build("aae", "image", mmd=w, perceptual=0.0)
    on.load_state_dict(off.state_dict())
    for m in (off, on):
        m.eval()
    s_off, l_off = phase_losses(off, x_for("image"))
    s_on, l_on = phase_losses(on, x_for("image"))
    term = w * losses.mmd_imq(s_on.z_hat, s_on.z)
    for phase in l_off:
        torch.testing.assert_close(l_on[phase], l_off[phase] + (term if phase == "E" else 0.0), rtol=1e-6, atol=1e-6)
    assert abs(term.item()) > 1e-3
