"""Data handed over as Python objects (DESIGN §4b): a NumPy array, a torch tensor, an (x, labels) pair, or a
`torch.utils.data.Dataset` whose items are x or (x, label).

    ds = from_object(np.load("points.npy"))               # the checks and transforms of a .npy file
    ds = from_object((images_uint8, labels))               # (N, H, W) uint8 + (N,) int labels
    ds = from_object(my_torch_dataset)                     # items x or (x, y), stacked in memory

The data set is named `python:<what it was>`, e.g. `python:ndarray(600, 3) float64`: that is the run's `data` in
config.yaml, and `digest` (SHA-256 of the examples and labels as given) lets a resume check that it was handed the
same data again. A run cannot reload such data by its name; it keeps a reference sample instead (aegan.run).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from aegan.data.base import Dataset
from aegan.data.images import from_array
from aegan.errors import DataError

PREFIX = "python:"  # the `data` of a run trained on a Python object


def is_object_name(spec: Any) -> bool:
    """True for the name a data object got (a run's config.yaml `data`), which no loader can reload."""
    return isinstance(spec, str) and spec.startswith(PREFIX)


def is_data_object(data: Any) -> bool:
    """True for what `from_object` takes (anything but a name or a path)."""
    return not isinstance(data, (str, os.PathLike))


def from_object(data: Any) -> Dataset:
    """A Python object -> Dataset, with the checks of `from_array` (dtype, layout, NaN, range). See the module."""
    x, labels, what = _arrays(data)
    ds = from_array(x, labels, name=PREFIX + what)
    ds.digest = digest(x, labels)
    return ds


def digest(x: np.ndarray, labels: np.ndarray | None) -> str:
    """SHA-256 of the examples (dtype, shape, bytes) and the labels."""
    h = hashlib.sha256(f"{x.dtype} {x.shape}".encode())
    h.update(np.ascontiguousarray(x).tobytes())
    if labels is not None:
        h.update(np.ascontiguousarray(labels).astype(np.int64).tobytes())
    return h.hexdigest()


def _numpy(value: Any, what: str) -> np.ndarray:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise DataError(f"{what} is a {type(value).__name__}: give a NumPy array or a torch tensor")


def _arrays(data: Any) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(examples, labels or None, a description) of a data object."""
    import torch

    if isinstance(data, (np.ndarray, torch.Tensor)):
        x = _numpy(data, "data")
        return x, None, f"{type(data).__name__}{tuple(x.shape)} {x.dtype}"
    if isinstance(data, tuple) and len(data) == 2:
        x, labels = _numpy(data[0], "data[0], the examples"), _numpy(data[1], "data[1], the labels")
        return x, labels, f"{type(data[0]).__name__}{tuple(x.shape)} {x.dtype} with labels"
    if isinstance(data, torch.utils.data.Dataset):
        return _from_torch_dataset(data)
    raise DataError(f"cannot train on a {type(data).__name__}: give a data set's name, a path, a NumPy array, a torch "
                    f"tensor, an (examples, labels) pair or a torch.utils.data.Dataset")


def _from_torch_dataset(data: Any) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Every item of a map-style Dataset, stacked: items x, or (x, y) with an integer label y."""
    name = type(data).__name__
    try:
        n = len(data)
    except TypeError:
        raise DataError(f"the {name} has no length: aegan takes map-style datasets (with __len__ and __getitem__); "
                        f"stack an iterable dataset into an array first") from None
    if n == 0:
        raise DataError(f"the {name} is empty: it needs at least one example")
    xs, ys = [], []
    for i in range(n):
        item = data[i]
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise DataError(f"item {i} of the {name} has {len(item)} parts: items must be x or (x, label)")
            item, y = item
            ys.append(int(y))
        xs.append(_numpy(item, f"item {i} of the {name}"))
        if len(ys) not in (0, len(xs)):
            raise DataError(f"item {i} of the {name} has no label but item 0 had one: give every item a label or none")
        if xs[-1].shape != xs[0].shape:
            raise DataError(f"item {i} of the {name} has shape {xs[-1].shape}, item 0 {xs[0].shape}: every example "
                            f"must have the same shape")
    x = np.stack(xs)
    labels = np.asarray(ys, dtype=np.int64) if ys else None
    return x, labels, f"{name}({n} items of {tuple(x.shape[1:])} {x.dtype}{' with labels' if ys else ''})"
