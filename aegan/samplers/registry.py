"""Every code model by name, and its storage as safetensors + JSON (aegan.records), never a pickle."""

from __future__ import annotations

from pathlib import Path

from aegan.errors import CheckpointError
from aegan.records import read_record, write_record
from aegan.samplers.base import CodeSampler
from aegan.samplers.codes import CodeGANSampler, GaussianSampler, GMMSampler
from aegan.samplers.dae import DAESampler
from aegan.samplers.diffusion import DiffusionSampler
from aegan.samplers.flow import FlowSampler
from aegan.samplers.twostage import TwoStageVAESampler

SAMPLERS: dict[str, type[CodeSampler]] = {
    "gaussian": GaussianSampler,
    "gmm": GMMSampler,
    "codegan": CodeGANSampler,
    "flow": FlowSampler,
    "twostage": TwoStageVAESampler,
    "diffusion": DiffusionSampler,
    "dae": DAESampler,
}
FORMAT = "aegan-sampler"
VERSION = 1


def save_sampler(sampler: CodeSampler, folder: Path) -> Path:
    """Store a fitted code model as `folder/<name>.safetensors` + `folder/<name>.json` (aegan.records)."""
    tensors, meta = sampler.state()
    write_record(folder, sampler.name, tensors, meta, format=FORMAT, version=VERSION)
    return Path(folder) / f"{sampler.name}.safetensors"


def load_sampler(folder: Path, name: str) -> CodeSampler | None:
    """The code model `name` stored in `folder`, or None if none is stored there.

    A record that is unreadable, foreign, for another sampler or whose tensors are missing, corrupt or do not fit
    raises CheckpointError with one line saying so and how to refit."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown code sampler {name!r}: use one of {', '.join(SAMPLERS)}")
    fix = f"delete {Path(folder)} to refit the code models"
    stored = read_record(folder, name, format=FORMAT, version=VERSION, what="code model", fix=fix)
    if stored is None:
        return None
    try:
        return SAMPLERS[name].from_state(*stored)
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"stored code model {Path(folder) / name}.json does not fit the {name} sampler "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:200]}): {fix}") from None
