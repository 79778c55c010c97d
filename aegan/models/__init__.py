"""The method family. Each model is one file; this registry maps CLI names to classes."""

from __future__ import annotations

from aegan.config import Config
from aegan.errors import ConfigError
from aegan.models.aae import AAE
from aegan.models.ae import AE
from aegan.models.aegan import AEGAN
from aegan.models.alphagan import AlphaGAN
from aegan.models.base import Model, Phase
from aegan.models.bigan import BiGAN
from aegan.models.gan import GAN
from aegan.models.vae import VAE
from aegan.models.vaegan import VAEGAN
from aegan.models.veegan import VEEGAN

MODELS: dict[str, type[Model]] = {m.name: m for m in (GAN, AE, AEGAN, VAE, AAE, VAEGAN, AlphaGAN, BiGAN, VEEGAN)}

__all__ = ["MODELS", "Model", "Phase", "build_model", "get"]


def get(name: str) -> type[Model]:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    return MODELS[name]


D_TRICKS = ("feature_matching", "minibatch_discrimination", "historical_averaging", "spectral_norm", "r1",
            "virtual_batch_norm", "unroll")


def build_model(cfg: Config, shape: tuple[int, ...]) -> Model:
    """The model of `cfg` for examples of `shape`, with the generator's moving average if tricks.ema is on.

    The model checks its own settings (model_args, tricks) here: a ConfigError before anything is written.
    """
    model = get(cfg.model)(tuple(shape), cfg)
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
