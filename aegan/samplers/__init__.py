"""Samplers beyond the prior: code models fitted to an encoder's codes."""

from aegan.samplers.codes import SAMPLERS, CodeGANSampler, GaussianSampler, GMMSampler, load_sampler, save_sampler

__all__ = ["SAMPLERS", "CodeGANSampler", "GMMSampler", "GaussianSampler", "load_sampler", "save_sampler"]
