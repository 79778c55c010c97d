"""Samplers beyond the prior: code models fitted to an encoder's codes, then decoded by the generator.

    from aegan.samplers import SAMPLERS, load_sampler, save_sampler
    sampler = SAMPLERS["gmm"]().fit(codes, seed=0)          # codes (N, d) = E(x) of training data
    z = sampler.sample(1000, torch.Generator().manual_seed(0))  # (1000, d) float32 CPU
    save_sampler(sampler, run / "samplers" / "step_0002000")   # gmm.safetensors + gmm.json, no pickles
"""

from aegan.samplers.codes import (
    SAMPLERS,
    CodeGANSampler,
    CodeSampler,
    GaussianSampler,
    GMMSampler,
    load_sampler,
    save_sampler,
)

__all__ = ["SAMPLERS", "CodeGANSampler", "CodeSampler", "GMMSampler", "GaussianSampler", "load_sampler",
           "save_sampler"]
