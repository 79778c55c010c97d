"""Data sources by name or path: `aegan.data.load("grid25")`, `load("my_images/")`, `load("x.npz")`.

Built-in names live in one dict of loaders (`LOADERS`); a new data set is one more entry there.
Anything else is taken as a path: a folder of PNG/JPEG images or a .npy / .npz array file.
Every failure is a `DataError` with one line saying what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aegan.data.base import Dataset, Transform
from aegan.data.images import digits, fashion_mnist, from_array, from_array_file, from_folder
from aegan.data.objects import PREFIX, from_object, is_data_object, is_object_name
from aegan.data.shapes import colour_shapes
from aegan.data.stacked import StackedDataset, stacked_digits, stacked_fashion_mnist
from aegan.data.toy import grid25, grid100, ring8, synthetic1200
from aegan.errors import DataError

LOADERS: dict[str, Callable[[], Dataset]] = {
    "ring8": ring8,
    "grid25": grid25,
    "grid100": grid100,
    "synthetic1200": synthetic1200,
    "digits": digits,
    "fashion-mnist": fashion_mnist,
    "stacked-digits": stacked_digits,
    "stacked-fashion-mnist": stacked_fashion_mnist,
    "colour-shapes": colour_shapes,
}
NAMES: tuple[str, ...] = tuple(LOADERS)
ARRAY_SUFFIXES = (".npy", ".npz")

__all__ = ["Dataset", "StackedDataset", "Transform", "NAMES", "LOADERS", "load", "ring8", "grid25", "grid100",
           "synthetic1200", "digits",
           "fashion_mnist", "from_array", "from_array_file", "from_folder", "from_object", "colour_shapes",
           "stacked_digits", "stacked_fashion_mnist"]


def load(spec: Any, loader: str = "auto") -> Dataset:
    """A built-in name (see NAMES), a folder of PNG/JPEG images, a .npy / .npz file, or a Python object (a NumPy
    array, a torch tensor, an (examples, labels) pair, a torch.utils.data.Dataset: aegan.data.objects) -> Dataset.

    loader: how a folder or an image .npy file is read: "memory" (whole, now), "stream" (batch by batch while
    training: data larger than memory, aegan.data.stream) or "auto" (streams what would not fit comfortably).
    Built-in data sets and Python objects are in memory already."""
    if is_data_object(spec):
        return from_object(spec)
    if isinstance(spec, str) and spec in LOADERS:
        return LOADERS[spec]()
    if is_object_name(spec):
        raise DataError(f"the data {spec[len(PREFIX):]} was handed over as a Python object and cannot be reloaded by "
                        f"name: pass the object again (aegan.train(..., data=X), aegan.resume(RUN, data=X))")
    path = Path(spec).expanduser()
    if path.is_dir():
        return from_folder(path, loader)
    if path.suffix.lower() in ARRAY_SUFFIXES:
        if not path.exists():
            raise DataError(f"data file '{spec}' does not exist: check the path")
        return from_array_file(path, loader)
    if path.exists():
        raise DataError(f"cannot use '{spec}' as data: give a .npy/.npz file or a folder of PNG/JPEG images")
    raise DataError(f"unknown data '{spec}': use one of {', '.join(NAMES)}, a .npy/.npz file or a folder of "
                    f"PNG/JPEG images")
