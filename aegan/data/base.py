"""What every data source gives the loop: tensors on the model's scale and the way back to data units.

Models see vectors standardized per feature and images in [-1, 1], channels first (N, C, H, W).
The `Transform` records how to undo that, including the user's layout and dtype, and is stored
in the run folder (`data.json`) so that a run can sample without its data at hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class Transform:
    """Maps data units and layout <-> the model's scale and layout.

    kind: "standardize" (vectors: (x - mean) / std) or "image" (x / scale * 2 - 1, scale = 255 for uint8, 1 for float).
    layout: the user's layout, "ND", "NCHW", "NHW" or "NHWC"; the model always sees "ND" or "NCHW".
    dtype: the user's dtype name, "float32" or "uint8"; samples saved as .npy come back in it.
    """

    kind: str
    layout: str = "ND"
    dtype: str = "float32"
    mean: list[float] = field(default_factory=list)  # per feature, "standardize" only
    std: list[float] = field(default_factory=list)
    scale: float = 1.0  # "image" only: 255.0 for uint8 data, 1.0 for floats in [0, 1]

    def to_model(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Data units and the user's layout -> float32 tensor on the model's scale and layout."""
        x = torch.as_tensor(np.asarray(x)).float()
        if self.kind == "standardize":
            return (x - torch.tensor(self.mean)) / torch.tensor(self.std)
        if self.layout == "NHW":
            x = x[:, None]
        elif self.layout == "NHWC":
            x = x.permute(0, 3, 1, 2)
        return x / self.scale * 2.0 - 1.0

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Model scale and layout -> float32 tensor in data units and the user's layout (on CPU)."""
        x = x.detach().float().cpu()
        if self.kind == "standardize":
            return x * torch.tensor(self.std) + torch.tensor(self.mean)
        x = (x.clamp(-1.0, 1.0) + 1.0) / 2.0 * self.scale
        if self.layout == "NHW":
            x = x[:, 0]
        elif self.layout == "NHWC":
            x = x.permute(0, 2, 3, 1)
        return x

    def to_array(self, x: torch.Tensor) -> np.ndarray:
        """Like `to_data`, as a NumPy array in the user's dtype (uint8 is rounded and clipped)."""
        a = self.to_data(x).numpy()
        if self.dtype == "uint8":
            return np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return a.astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Transform:
        return cls(**d)


@dataclass
class Dataset:
    """A data set on the model's scale, split into train and held-out test.

    train, test: float32, (N, D) for vectors or (N, C, H, W) for images.
    modes: (centres (K, D), std) in data units where the modes are known (ring8, grid25, ...), else None; std is
    a number, or one per coordinate (D,) where a mode is constant in some (synthetic1200).
    """

    name: str
    kind: str  # "vector" or "image"
    train: torch.Tensor
    test: torch.Tensor
    transform: Transform
    labels_train: torch.Tensor | None = None  # int64 (N,), where the data set has labels
    labels_test: torch.Tensor | None = None
    modes: tuple[torch.Tensor, float | torch.Tensor] | None = None
    digest: str | None = None  # data handed over as a Python object: SHA-256 of it (aegan.data.objects)
    # data larger than memory (aegan.data.stream): the whole training split, read on demand by index; `train` then
    # holds a fixed random sample of it
    stream: torch.utils.data.Dataset | None = None

    @property
    def n_train(self) -> int:
        """Examples in the training split: all of them, also when only a sample is in memory."""
        return len(self.stream) if self.stream is not None else len(self.train)  # type: ignore[arg-type]

    @property
    def loader(self) -> str:
        """"stream" when the training split is read from disk while training, else "memory"."""
        return "memory" if self.stream is None else "stream"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example as the model sees it: (D,) or (C, H, W)."""
        return tuple(self.train.shape[1:])

    def info(self) -> dict[str, Any]:
        """What a run stores in data.json to sample and evaluate without the data: shape, transform, modes."""
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "shape": list(self.shape),
                             "transform": self.transform.to_json(), "n_train": self.n_train,
                             "n_test": len(self.test), "loader": self.loader}
        if self.stream is not None:
            d["n_in_memory"] = len(self.train)
        if self.digest is not None:
            d["source"], d["digest"] = "python", self.digest
        if self.modes is not None:
            centres, std = self.modes
            d["modes"] = {"centres": centres.tolist(),
                          "std": float(std) if isinstance(std, (int, float)) else torch.as_tensor(std).tolist()}
        return d
