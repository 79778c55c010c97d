"""A trained run, loaded from its folder: the model, its config, and sampling in the data's own units.

    run = aegan.load("runs/x")
    x = run.sample(1000)          # torch.Tensor on CPU, in the data's units and layout
    z = run.encode(x); x_rec = run.decode(z)   # models with an encoder
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aegan import checkpoint
from aegan.config import Config, read_yaml
from aegan.data.base import Transform
from aegan.errors import AeganError, CheckpointError, ConfigError
from aegan.models import Model, build_model


class Run:
    """A run folder with its model loaded from the newest good checkpoint."""

    def __init__(self, path: Path, config: Config, model: Model, info: dict[str, Any], step: int) -> None:
        self.path, self.config, self.model, self.info, self.step = Path(path), config, model, info, step
        self.transform = Transform.from_json(info["transform"])
        self._code_samplers: dict[str, Any] = {}
        self._data: Any = None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, model={self.config.model!r}, data={self.config.data!r}, step={self.step})"

    @classmethod
    def load(cls, path: str | Path) -> Run:
        path = Path(path)
        if not (path / "config.yaml").is_file():
            raise CheckpointError(f"{path} is not an aegan run folder (no config.yaml)")
        try:
            cfg = Config.from_dict(read_yaml(path / "config.yaml"))
        except ConfigError as e:
            raise CheckpointError(f"{path}/config.yaml was not written by this aegan: {e}") from None
        try:
            info = json.loads((path / "data.json").read_text())
            Transform.from_json(info["transform"])
            shape = tuple(int(d) for d in info["shape"])
        except (OSError, ValueError, KeyError, TypeError):
            raise CheckpointError(f"{path}/data.json is missing or corrupt: the run cannot be loaded") from None
        model = build_model(cfg, shape)
        state = checkpoint.latest(path / "checkpoints")
        if state is None:
            raise CheckpointError(f"{path} has no checkpoint yet: train it (or --resume it) first")
        tensors, meta = state
        checkpoint.load_weights(dict(model.nets.items()), tensors)
        if model.g_ema is not None:
            checkpoint.load_weights({"G": model.g_ema}, tensors, prefix="ema.")
        model.eval()
        return cls(path, cfg, model, info, int(meta["step"]))

    @property
    def modes(self) -> tuple[torch.Tensor, float] | None:
        m = self.info.get("modes")
        return (torch.tensor(m["centres"]), float(m["std"])) if m else None

    @property
    def default_sampler(self) -> str:
        return self.model.samplers[0]

    def data(self):
        """The run's data set, loaded once (needed to fit code samplers and to score reconstructions)."""
        if self._data is None:
            from aegan import data as data_lib

            self._data = data_lib.load(self.config.data)
        return self._data

    @torch.no_grad()
    def encode_model(self, x: torch.Tensor, batch: int = 10_000) -> torch.Tensor:
        """Model-scale data (n, *shape) -> codes (n, latent_dim), on CPU, in batches."""
        self.model.eval()
        return torch.cat([self.model.encode(x[i:i + batch].to(self.model.device)).cpu()
                          for i in range(0, len(x), batch)])

    def code_sampler(self, name: str, refit: bool = False):
        """The code model `name` (gaussian, gmm, codegan) of this run: loaded from RUN/samplers/, or fitted on
        the encoder's codes of up to 20,000 training examples and stored there ("work on the code, not the data")."""
        from aegan.samplers import SAMPLERS, load_sampler, save_sampler

        if name in self._code_samplers and not refit:
            return self._code_samplers[name]
        folder = self.path / "samplers" / f"step_{self.step:07d}"  # code models belong to one checkpoint's encoder
        sampler = None if refit else load_sampler(folder, name)
        if sampler is None:
            x = self.data().train
            idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.config.seed))[:20_000]
            codes = self.encode_model(x[idx])
            sampler = SAMPLERS[name]().fit(codes, seed=self.config.seed)
            folder.mkdir(parents=True, exist_ok=True)
            save_sampler(sampler, folder)
        self._code_samplers[name] = sampler
        return sampler

    @torch.no_grad()
    def sample_model(self, n: int, sampler: str | None = None, seed: int | None = None,
                     batch: int = 10_000) -> torch.Tensor:
        """n samples on the model's scale, (n, *shape), on CPU. `sampler` defaults to the model's first."""
        sampler = sampler or self.default_sampler
        if sampler not in self.model.samplers:
            raise AeganError(f"model {self.config.model} has no sampler {sampler!r}: use one of "
                             f"{', '.join(self.model.samplers)}")
        if n < 1:
            raise AeganError(f"the number of samples must be at least 1, got {n}")
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        code_model = None if sampler == "prior" else self.code_sampler(sampler)
        self.model.eval()
        out = []
        for i in range(0, n, batch):
            k = min(batch, n - i)
            z = self.model.prior(k, "cpu", generator=g) if code_model is None else code_model.sample(k, generator=g)
            out.append(self.model.generate(z.to(self.model.device)).cpu())
        return torch.cat(out)

    def sample(self, n: int, sampler: str | None = None, seed: int | None = None) -> torch.Tensor:
        """n samples in the data's units and layout (CPU float32); `sampler` defaults to the model's first."""
        return self.transform.to_data(self.sample_model(n, sampler, seed))

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (n, latent_dim) -> samples in data units."""
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.model.latent_dim:
            raise AeganError(f"decode expects codes of shape (n, {self.model.latent_dim}), got {tuple(z.shape)}")
        self.model.eval()
        return self.transform.to_data(self.model.generate(z.to(self.model.device)))

    @torch.no_grad()
    def encode(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Data (in data units and layout) -> codes (n, latent_dim), for models with an encoder."""
        if not self.model.has_encoder:
            from aegan.models import MODELS

            with_encoder = ", ".join(name for name, cls in MODELS.items() if "gmm" in cls.samplers)
            raise AeganError(f"model {self.config.model} has no encoder: use one of {with_encoder}")
        return self.encode_model(self.transform.to_model(x))


def load(path: str | Path) -> Run:
    """Load a run folder (DESIGN §4b)."""
    return Run.load(path)
