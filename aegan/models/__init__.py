"""The method family. Each model is one file; this registry maps CLI names to classes."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

from aegan.config import Config
from aegan.errors import ConfigError
from aegan.models.aae import AAE
from aegan.models.ae import AE
from aegan.models.aegan import AEGAN
from aegan.models.alphagan import AlphaGAN
from aegan.models.base import Model, Phase
from aegan.models.bigan import BiGAN
from aegan.models.gan import GAN
from aegan.models.ppgn import PPGN
from aegan.models.vae import VAE
from aegan.models.vaegan import VAEGAN
from aegan.models.veegan import VEEGAN

MODELS: dict[str, type[Model]] = {m.name: m for m in (GAN, AE, AEGAN, VAE, AAE, VAEGAN, AlphaGAN, BiGAN, VEEGAN,
                                                PPGN)}

__all__ = ["MODELS", "Model", "Phase", "build_model", "get"]


def get(name: str) -> type[Model]:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    return MODELS[name]


D_TRICKS = ("feature_matching", "minibatch_discrimination", "historical_averaging", "spectral_norm", "r1",
            "virtual_batch_norm", "unroll")


def build_model(cfg: Config, shape: tuple[int, ...], nets: Mapping[str, nn.Module] | None = None) -> Model:
    """The model of `cfg` for examples of `shape`, with the generator's moving average if tricks.ema is on.

    `nets`: the user's own networks by name (E, G, D, C: whichever the model has), copies of which replace the
    model's after a check of their shapes (`replace_nets`). The model checks its own settings (model_args, tricks)
    here: a ConfigError before anything is written.
    """
    model = get(cfg.model)(tuple(shape), cfg)
    if nets:
        replace_nets(model, nets)
    t = cfg.tricks
    if not model.has_D:
        used = [k for k in D_TRICKS if getattr(t, k)] + (["label_smoothing"] if t.label_smoothing < 1 else []) \
            + (["pack"] if t.pack > 1 else [])
        if used:
            with_d = ", ".join(n for n, c in MODELS.items() if c.has_D)
            raise ConfigError(f"tricks.{used[0]} needs a data discriminator, which {cfg.model} has not: "
                              f"use one of {with_d}")
    if t.ema > 0:
        from aegan.tricks import EMA

        model.g_ema = EMA(model.nets["G"], t.ema).module
    return model


def replace_nets(model: Model, nets: Mapping[str, nn.Module]) -> None:
    """Put a copy of each of the user's networks in the place of the model's own network of that name, after
    checking that it maps the model's input for that network to an output of the same shape as the model's own
    (probed with 2 examples). ConfigError, naming the network and the expected and actual shapes, otherwise."""
    t, arg = model.cfg.tricks, model.arg
    for name, net in nets.items():
        if name not in model.nets:
            raise ConfigError(f"model {model.name} has no network {name!r} to replace: its networks are "
                              f"{', '.join(model.nets)}")
        if not isinstance(net, nn.Module):
            raise ConfigError(f"nets[{name!r}] is a {type(net).__name__}: give a torch.nn.Module")
        own = model.nets[name]
        x, out = _probe(own, model, name)
        mine = copy.deepcopy(net).to(torch.float32)
        was_training = mine.training
        try:
            with torch.no_grad():
                got = mine.eval()(x)
        except Exception as e:  # the user's forward, with any error it may raise
            raise ConfigError(f"your {name} fails on input of shape {tuple(x.shape)}, what {model.name} gives its "
                              f"{name} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        mine.train(was_training)
        if not isinstance(got, torch.Tensor) or got.shape != out.shape:
            actual = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise ConfigError(f"your {name} maps input {tuple(x.shape)} to {actual}, but {model.name} needs "
                              f"{tuple(out.shape)} from its {name}")
        if name == "D":
            wrapped = [k for k, on in (("spectral_norm", t.spectral_norm), ("minibatch_discrimination",
                                       t.minibatch_discrimination), ("pack", t.pack > 1)) if on]
            if wrapped:
                raise ConfigError(f"tricks.{wrapped[0]} rebuilds aegan's own D, not yours: apply it in your D, or "
                                  f"use aegan's D")
            uses_features = (model.name == "vaegan" or t.feature_matching > 0
                             or (arg.get("perceptual", 0.0) > 0 and arg.get("perceptual_net") == "D"))
            if uses_features and not callable(getattr(mine, "features", None)):
                raise ConfigError(f"{model.name} with these settings uses D's penultimate layer: give your D a "
                                  f"method features(x) -> (n, F) (forward = a linear head on it)")
        if name == "G" and t.virtual_batch_norm:
            raise ConfigError("tricks.virtual_batch_norm rebuilds aegan's own G, not yours: leave it off")
        model.nets[name] = mine


def _probe(own: nn.Module, model: Model, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(an input the model's own network `name` takes, its output): codes (2, latent_dim) or examples (2, *shape)."""
    g = torch.Generator().manual_seed(0)
    was_training = own.training
    own.eval()
    try:
        for x in (torch.randn(2, model.latent_dim, generator=g), torch.randn(2, *model.shape, generator=g)):
            try:
                with torch.no_grad():
                    return x, own(x)
            except (RuntimeError, TypeError, ValueError):
                continue
    finally:
        own.train(was_training)
    raise ConfigError(f"aegan cannot check a replacement for {model.name}'s {name} (it takes neither codes nor "
                      f"examples alone): use aegan's own {name}")
