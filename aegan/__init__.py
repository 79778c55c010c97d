"""aegan: autoencoder GANs, and measurements of mode collapse, on a laptop CPU or many GPUs.

    import aegan
    run = aegan.train("gan", data="grid25", steps=2000, out="runs/g", seed=0)
    run = aegan.load("runs/g")
    x = run.sample(1000)
    scores = aegan.evaluate(run, n=10_000)

`import aegan` is light: torch, Lightning and the loop load on first use of the attribute that needs them, so
`aegan --help` answers at once.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from aegan.errors import AeganError, CheckpointError, ConfigError, DataError

__version__ = "0.1.0"

# attribute -> (module, name in it); name None: the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "train": ("aegan.train", "train"),
    "resume": ("aegan.train", "resume"),
    "load": ("aegan.run", "load"),
    "Run": ("aegan.run", "Run"),
    "evaluate": ("aegan.evaluate", "evaluate"),
    "data": ("aegan.data", None),
    "metrics": ("aegan.metrics", None),
    "density_ratio": ("aegan.density_ratio", None),
}

__all__ = ["AeganError", "CheckpointError", "ConfigError", "DataError", "Run", "data", "density_ratio", "evaluate",
           "load", "metrics", "resume", "train"]

if TYPE_CHECKING:
    from aegan import data, density_ratio, metrics
    from aegan.evaluate import evaluate
    from aegan.run import Run, load
    from aegan.train import resume, train


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'aegan' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """`aegan.train` and `aegan.evaluate` are the functions, as DESIGN §4b says, even though modules of the same
    names exist: the import system's binding of a freshly imported submodule onto its package is skipped for them."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name, ("", None))[1] is not None:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
