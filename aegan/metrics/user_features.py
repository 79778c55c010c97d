"""A feature network of the user's for fd, kid and PRDC (for example Inception weights kept on disk), in place of
aegan's evaluator: `aegan eval RUN --features my_feats.py:Inception` or `aegan.evaluate(run, features=f)`.

The contract of `f`: it is called with batches of images (n, C, H, W), float32 in [0, 1] (the data's own scale,
whatever it was stored as), and returns features (n, F). Two optional attributes tell aegan what to feed it:
`input_size = (H, W)` (images are resized bilinearly to it) and `channels` (grey images are repeated to 3 channels
when `channels == 3`). A network that needs its own normalisation (ImageNet means, say) does it inside `forward`.

    class Inception(torch.nn.Module):             # a small adapter around weights you keep locally
        input_size, channels = (299, 299), 3
        def __init__(self):
            super().__init__()
            self.net = build_inception()              # your architecture
            self.net.load_state_dict(safetensors.torch.load_file("~/weights/inception.safetensors"))
            self.net.eval()
        def forward(self, x):                         # (n, 3, 299, 299) in [0, 1] -> (n, 2048)
            return self.net((x - MEAN) / STD)

A name for eval.json's `features` key is the spec given on the command line, or `name` / the class name of `f`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from aegan.errors import AeganError

Features = Callable[[torch.Tensor], torch.Tensor]
BATCH = 256


def load(spec: str) -> Features:
    """`FILE.py:NAME` or `package.module:NAME` -> the feature callable. NAME is a callable taking images, or a class
    that is instantiated without arguments."""
    if ":" not in spec:
        raise AeganError(f"--features {spec}: give FILE.py:NAME or module:NAME (NAME: a feature callable or a class "
                         f"built without arguments)")
    where, name = spec.rsplit(":", 1)
    try:
        if where.endswith(".py"):
            path = Path(where).expanduser()
            if not path.is_file():
                raise AeganError(f"--features {spec}: {path} does not exist")
            module_spec = importlib.util.spec_from_file_location(f"aegan_user_features_{path.stem}", path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        obj = getattr(module, name)
        f = obj() if isinstance(obj, type) else obj
    except AeganError:
        raise
    except Exception as e:  # the user's code, with whatever it raises
        raise AeganError(f"--features {spec}: cannot load it ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not callable(f):
        raise AeganError(f"--features {spec}: {name} is a {type(f).__name__}, not a callable")
    return f


def name_of(f: Features, spec: str | None = None) -> str:
    return spec or getattr(f, "name", None) or type(f).__name__


@torch.no_grad()
def embed(f: Features, x: torch.Tensor) -> torch.Tensor:
    """Features (N, F) float32 on CPU of model-scale images x (N, C, H, W) in [-1, 1], in batches of 256."""
    if isinstance(f, torch.nn.Module):
        f.eval()
    size = getattr(f, "input_size", None)
    channels = getattr(f, "channels", None)
    out = []
    for i in range(0, len(x), BATCH):
        batch = (x[i:i + BATCH].float().clamp(-1, 1) + 1) / 2  # [0, 1]
        if channels == 3 and batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        if size is not None and tuple(batch.shape[2:]) != tuple(size):
            batch = F.interpolate(batch, size=tuple(size), mode="bilinear", align_corners=False)
        try:
            y = f(batch)
        except Exception as e:  # the user's network
            raise AeganError(f"the feature network fails on images of shape {tuple(batch.shape)} ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}): set its input_size and channels, or "
                             f"adapt its forward") from None
        if not isinstance(y, torch.Tensor) or y.ndim != 2 or len(y) != len(batch):
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise AeganError(f"the feature network must return (n, F) features, got {shape} for {len(batch)} images")
        out.append(y.detach().float().cpu())
    features = torch.cat(out)
    if not torch.isfinite(features).all():
        raise AeganError("the feature network returned NaN or Inf features")
    return features
