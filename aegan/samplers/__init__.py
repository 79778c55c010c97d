"""Samplers beyond the prior: code models fitted to an encoder's codes, then decoded by the generator.

    from aegan.samplers import SAMPLERS, load_sampler, save_sampler
    sampler = SAMPLERS["flow"]().fit(codes, seed=0)          # codes (N, d) = E(x) of training data
    z = sampler.sample(1000, torch.Generator().manual_seed(0))  # (1000, d) float32 CPU
    ll = sampler.log_likelihood(held_out_codes)              # (M,) nats: exact (gaussian, gmm, flow) or a bound
    save_sampler(sampler, run / "samplers" / "step_0002000")   # flow.safetensors + flow.json, no pickles

gaussian, gmm, codegan: aegan.samplers.codes; flow, twostage, diffusion: files of their own; the choice of the
default among them: aegan.samplers.selection.
"""

from aegan.samplers.base import BOUND, EXACT, CodeDensity, CodeSampler, FitError
from aegan.samplers.codes import CodeGANSampler, GaussianSampler, GMMSampler
from aegan.samplers.diffusion import DiffusionSampler
from aegan.samplers.flow import FlowSampler
from aegan.samplers.registry import SAMPLERS, load_sampler, save_sampler
from aegan.samplers.selection import CANDIDATES, Selection, choose, read_selection, select, write_selection
from aegan.samplers.twostage import TwoStageVAESampler

__all__ = ["BOUND", "CANDIDATES", "EXACT", "SAMPLERS", "CodeDensity", "CodeGANSampler", "CodeSampler",
           "DiffusionSampler", "FitError", "FlowSampler", "GMMSampler", "GaussianSampler", "Selection",
           "TwoStageVAESampler", "choose", "load_sampler", "read_selection", "save_sampler", "select",
           "write_selection"]
