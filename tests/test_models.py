"""Layer 1 and 2: every model builds and runs on every data kind; each phase updates exactly its networks."""

import re
import sys

import pytest
import torch

from aegan import models
from aegan.config import Config
from aegan.loop.configure import resolve_defaults
from aegan.train import train_step

SHAPES = {"vector": (2,), "digits": (1, 8, 8), "mnist": (1, 28, 28), "rgb": (3, 16, 16), "odd": (3, 7, 9)}


def build(name: str, shape: tuple[int, ...]):
    cfg = Config(model=name)
    cfg.net.width = 8
    resolve_defaults(cfg, "vector" if len(shape) == 1 else "image")
    return models.get(name)(shape, cfg), cfg


@pytest.mark.parametrize("name", list(models.MODELS))
@pytest.mark.parametrize("kind", list(SHAPES))
def test_shapes(name, kind):
    shape = SHAPES[kind]
    model, cfg = build(name, shape)
    z = model.prior(5)
    assert z.shape == (5, cfg.net.latent_dim)
    x = model.generate(z)
    assert x.shape == (5, *shape)
    if len(shape) == 3:
        assert x.min() >= -1 and x.max() <= 1  # images are generated in [-1, 1]
    s = model.begin_step(torch.randn(4, *shape))
    for phase in model.phases():
        loss, logs = phase.loss(s)
        assert loss.ndim == 0 and torch.isfinite(loss)


def _params(nets):
    return {f"{n}.{k}": p.detach().clone() for n, net in nets.items() for k, p in net.named_parameters()}


@pytest.mark.parametrize("name", list(models.MODELS))
@pytest.mark.parametrize("kind", ["vector", "digits"])
def test_each_phase_updates_exactly_its_networks(name, kind):
    torch.manual_seed(0)
    model, cfg = build(name, SHAPES[kind])
    nets = dict(model.nets.items())
    for phase in model.phases():
        opt = {phase.name: torch.optim.Adam([p for n in phase.nets for p in nets[n].parameters()], lr=1e-2)}
        before = _params(nets)
        train_step(model, nets, [phase], opt, torch.randn(16, *SHAPES[kind]), step=0, lr=1e-2)
        after = _params(nets)
        for key in before:
            changed = not torch.equal(before[key], after[key])
            owner = key.split(".")[0]
            assert changed == (owner in phase.nets), f"phase {phase.name}: {key} changed={changed}"


def test_unknown_model_is_a_clear_error():
    from aegan.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown model 'wgan': use one of gan"):
        models.get("wgan")


PHASE_LINE = re.compile(r"^\s+(\d+)\. (\w+)\s+updates ([^:]+):", re.MULTILINE)  # "  2. AE  updates E, G:"


@pytest.mark.parametrize("name", list(models.MODELS))
def test_docstring_states_the_phases_in_the_order_the_loop_runs_them(name):
    """Each model file's docstring lists its phases as the loop runs them: number, name, networks updated, and
    how often (phase.every)."""
    model, _ = build(name, SHAPES["vector"])
    doc = sys.modules[type(model).__module__].__doc__
    stated = [(int(i), phase, tuple(re.split(r",\s*|\s+and\s+", nets.strip())))
              for i, phase, nets in PHASE_LINE.findall(doc)]
    assert stated == [(i, p.name, p.nets) for i, p in enumerate(model.phases(), 1)]
    for p in model.phases():
        assert ("phase.every = 1" if p.every == 1 else f"{p.name} every {p.every} steps") in doc
    assert "arXiv:" in doc or "no arXiv" in doc  # the paper, cited


@pytest.mark.parametrize("name", list(models.MODELS))
def test_an_encoder_models_decoder_sees_where_its_codes_lie(name):
    """In training mode, batch norm on the codes would make G blind to a shift of the whole batch of codes, so an
    encoder's codes could drift away from what sampling feeds G (ConvDecoder): encoder models' decoders react to
    the shift; the GAN's generator, fed by the fixed prior, keeps DCGAN's batch norm and ignores it."""
    torch.manual_seed(0)
    model, _ = build(name, SHAPES["mnist"])
    G = model.nets["G"].train()
    z = torch.randn(16, model.latent_dim)
    moved = (G(z + 3.0) - G(z)).abs().max().item()
    if model.has_encoder:
        assert moved > 1e-2 and not isinstance(G.stem[1], torch.nn.BatchNorm1d)
    else:
        assert moved < 1e-4 and isinstance(G.stem[1], torch.nn.BatchNorm1d)
