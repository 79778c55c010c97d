"""The method family. Each model is one file; this registry maps CLI names to classes."""

from __future__ import annotations

from aegan.errors import ConfigError
from aegan.models.base import Model, Phase
from aegan.models.aae import AAE
from aegan.models.ae import AE
from aegan.models.aegan import AEGAN
from aegan.models.alphagan import AlphaGAN
from aegan.models.gan import GAN
from aegan.models.vae import VAE
from aegan.models.vaegan import VAEGAN

MODELS: dict[str, type[Model]] = {m.name: m for m in (GAN, AE, AEGAN, VAE, AAE, VAEGAN, AlphaGAN)}

__all__ = ["MODELS", "Model", "Phase", "get"]


def get(name: str) -> type[Model]:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    return MODELS[name]
