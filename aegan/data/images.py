"""Image data sets and user arrays: scikit-learn's digits, Fashion-MNIST, .npy/.npz files, folders of images.

Everything is checked on the way in; bad input raises `DataError` with one line saying what is wrong
and what to do, never a raw NumPy, Pillow or zlib exception. Models see vectors standardized per
feature and images as float32 (N, C, H, W) in [-1, 1]; each `Transform` records the user's layout,
dtype and scale so samples come back in the data's own units.

Fashion-MNIST: Xiao, Rasul & Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms", 2017, arXiv:1708.07747. The idx format is parsed here with NumPy (big-endian
header: magic 0x00000800 + D for unsigned bytes in D dimensions, then D uint32 sizes, then the bytes).
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from aegan.data import stream
from aegan.data.base import Dataset, Transform
from aegan.data.stream import ArrayRows, to_model_images
from aegan.errors import DataError

SPLIT_SEED = 1_797  # fixed train/test permutations, independent of any training seed
TEST_FRACTION = 0.1  # user data: 10% held out, at least 1 example, at most MAX_TEST
MAX_TEST = 10_000
DIGITS_TEST = 297  # digits: 1,500 train / 297 test
MIN_IMAGE_SIDE = 4  # smaller images cannot go through a conv net's downsampling
MAX_ABS = 1e15  # larger values overflow float32 statistics or the model's activations

FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARRAY_KEYS = ("x", "data", "images")  # .npz keys for the data, in order of preference
LABEL_KEYS = ("y", "labels")

# Pillow modes -> how we read them. 16/32-bit grayscale is rescaled by hand: Pillow's convert("L") clips it.
GRAY_MODES = ("1", "L", "LA")
GRAY_16BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
COLOUR_MODES = ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")


def _one_line(e: BaseException) -> str:
    """An exception as `Type: message` on one line, for the inside of a DataError."""
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


# --------------------------------------------------------------------------------------------------
# Splits and the two ways to put an array on the model's scale
# --------------------------------------------------------------------------------------------------


def _split(n: int, n_test: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed random split of range(n) -> (train indices, test indices), each sorted."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return perm[n_test:].sort().values, perm[:n_test].sort().values


def _holdout_split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """User data: 10% held out (at least 1, at most 10,000); a single example is both train and test."""
    if n == 1:
        return torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long)
    return _split(n, min(MAX_TEST, max(1, int(n * TEST_FRACTION))))


def _labels_tensor(labels: np.ndarray | None, n: int, name: str) -> torch.Tensor | None:
    """Labels -> int64 (n,), or None; DataError if they are not n integers."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.shape != (n,):
        raise DataError(f"{name}: labels must be {n} integers, shape ({n},), got dtype {labels.dtype} and shape "
                        f"{labels.shape}: save them as an integer array 'y' with one label per example")
    return torch.from_numpy(labels.astype(np.int64))


def _image_dataset(name: str, x: np.ndarray, layout: str, labels: np.ndarray | None = None) -> Dataset:
    """Checked uint8 or float32 images in `layout` -> Dataset of (N, C, H, W) float32 in [-1, 1].

    x: uint8 (scale 255) or float32 in [0, 1] (scale 1); (N, H, W), (N, C, H, W) or (N, H, W, C).
    """
    if x.dtype == np.uint8:
        transform = Transform(kind="image", layout=layout, dtype="uint8", scale=255.0)
    else:
        transform = Transform(kind="image", layout=layout, dtype="float32", scale=1.0)
    train_idx, test_idx = _holdout_split(len(x))
    y = _labels_tensor(labels, len(x), name)
    return Dataset(
        name=name, kind="image",
        train=to_model_images(transform, x[train_idx.numpy()]),  # (N_train, C, H, W)
        test=to_model_images(transform, x[test_idx.numpy()]),  # (N_test, C, H, W)
        transform=transform,
        labels_train=None if y is None else y[train_idx],
        labels_test=None if y is None else y[test_idx])


def _streamed(name: str, transform: Transform, source: ArrayRows, example_bytes: int) -> Dataset:
    """Images read on demand (aegan.data.stream) -> Dataset whose `stream` is the training split; the held-out split
    and a fixed random sample of the training split (`stream.keep_count`) are read now and kept in memory."""
    train_idx, test_idx = _holdout_split(len(source))
    keep = stream.keep_count(len(train_idx), example_bytes)
    kept = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(SPLIT_SEED))[:keep]]
    return Dataset(name=name, kind="image", train=stream.read_all(source, kept.sort().values.tolist()),
                   test=stream.read_all(source, test_idx.tolist()), transform=transform,
                   stream=source.subset(train_idx.tolist()))


def _train_bytes(n: int, shape: tuple[int, ...]) -> int:
    """Bytes of the training split of n examples of `shape`, as float32 on the model's scale."""
    n_train = n if n == 1 else n - min(MAX_TEST, max(1, int(n * TEST_FRACTION)))
    return n_train * int(np.prod(shape)) * 4


def _vector_dataset(name: str, x: np.ndarray, labels: np.ndarray | None = None) -> Dataset:
    """Checked real (N, D) -> Dataset standardized with the train split's per-feature mean and std."""
    x64 = x.astype(np.float64)
    train_idx, test_idx = _holdout_split(len(x))
    train = x64[train_idx.numpy()]
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0  # constant features: keep them, centred
    too_small = np.flatnonzero(std.astype(np.float32) == 0)
    if too_small.size:
        j = int(too_small[0])
        raise DataError(f"{name}: feature {j} varies too little to standardize (std {std[j]:.3g}): "
                        f"rescale it or drop it")
    with np.errstate(over="ignore"):  # overflow is caught just below, with a message
        z = ((x64 - mean) / std).astype(np.float32)  # (N, D) on the model's scale
    if not np.isfinite(z).all():
        row = int(np.argmin(np.isfinite(z).all(axis=1)))
        raise DataError(f"{name}: standardizing row {row} gives values too large for float32: rescale the data")
    transform = Transform(kind="standardize", layout="ND", dtype="float32", mean=mean.tolist(), std=std.tolist())
    y = _labels_tensor(labels, len(x), name)
    z_t = torch.from_numpy(z)
    return Dataset(name=name, kind="vector", train=z_t[train_idx], test=z_t[test_idx], transform=transform,
                   labels_train=None if y is None else y[train_idx],
                   labels_test=None if y is None else y[test_idx])


# --------------------------------------------------------------------------------------------------
# Built-in image data sets
# --------------------------------------------------------------------------------------------------


def digits() -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images, values 0..16): 1,500 train / 297 test, with labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8), 0..16
    transform = Transform(kind="image", layout="NCHW", dtype="float32", scale=16.0)
    train_idx, test_idx = _split(len(x), DIGITS_TEST)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    return Dataset(name="digits", kind="image",
                   train=to_model_images(transform, x[train_idx.numpy()]),  # (1500, 1, 8, 8) in [-1, 1]
                   test=to_model_images(transform, x[test_idx.numpy()]),  # (297, 1, 8, 8)
                   transform=transform, labels_train=y[train_idx], labels_test=y[test_idx])


def read_idx(path: str | os.PathLike[str], ndim: int) -> np.ndarray:
    """An idx file of unsigned bytes with `ndim` dimensions (plain or .gz) -> read-only uint8 array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read {path} ({_one_line(e)}): the file is corrupt or truncated; reinstall or "
                        f"replace it") from e
    magic = 0x00000800 | ndim  # 0x08: unsigned byte data; low byte: number of dimensions
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is too short for an idx header ({len(raw)} bytes): the file is truncated; "
                        f"reinstall or replace it")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path} is not a {ndim}-D idx file of bytes (magic 0x{found:08x}, expected "
                        f"0x{magic:08x}): check that it is the right file")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        raise DataError(f"{path} holds {len(raw) - header} data bytes but its header says {dims} "
                        f"({expected} bytes): the file is truncated or corrupt; reinstall or replace it")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    """folder/stem or folder/stem.gz, whichever exists (plain first)."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _fashion_folders(root: str | os.PathLike[str] | None) -> list[Path]:
    """Where to look, in order: root if given (only there), else $AEGAN_DATA, then Debian's folder."""
    if root is not None:
        return [Path(root), Path(root) / "fashion-mnist"]
    folders = []
    if os.environ.get("AEGAN_DATA"):
        env = Path(os.environ["AEGAN_DATA"])
        folders += [env, env / "fashion-mnist"]
    return folders + [FASHION_DEBIAN_DIR]


def fashion_mnist(root: str | os.PathLike[str] | None = None) -> Dataset:
    """Fashion-MNIST from its four idx files: 60,000 train / 10,000 test, (N, 1, 28, 28) in [-1, 1], labels 0..9.

    root: a folder with the files (plain or .gz); None = $AEGAN_DATA (or $AEGAN_DATA/fashion-mnist),
    then /usr/share/datasets/fashion-mnist (Debian's `dataset-fashion-mnist`).
    """
    folders = _fashion_folders(root)
    files = None
    for folder in folders:
        found = [_find_idx(folder, stem) for stem in FASHION_FILES]
        if all(found):
            files = found
            break
    if files is None:
        where = ", ".join(str(f) for f in folders)
        raise DataError(f"fashion-mnist not found in {where}: `apt-get install dataset-fashion-mnist` or set "
                        f"AEGAN_DATA to a folder with the idx files ({', '.join(FASHION_FILES)}, plain or .gz)")
    train_x, train_y, test_x, test_y = (read_idx(f, ndim) for f, ndim in zip(files, (3, 1, 3, 1)))
    for images, labels, f_images, f_labels in ((train_x, train_y, files[0], files[1]),
                                               (test_x, test_y, files[2], files[3])):
        if len(images) == 0:
            raise DataError(f"{f_images} holds no images: reinstall or replace it")
        if len(images) != len(labels):
            raise DataError(f"{f_images} holds {len(images)} images but {f_labels} holds {len(labels)} labels: "
                            f"the files do not belong together; reinstall them")
    transform = Transform(kind="image", layout="NCHW", dtype="uint8", scale=255.0)
    return Dataset(name="fashion-mnist", kind="image",
                   train=to_model_images(transform, train_x[:, None]),  # (60000, 1, 28, 28) in [-1, 1]
                   test=to_model_images(transform, test_x[:, None]),  # (10000, 1, 28, 28)
                   transform=transform,
                   labels_train=torch.from_numpy(train_y.astype(np.int64)),
                   labels_test=torch.from_numpy(test_y.astype(np.int64)))


# --------------------------------------------------------------------------------------------------
# User arrays
# --------------------------------------------------------------------------------------------------

LAYOUT_HELP = ("use (N, D) vectors, (N, H, W) grayscale images, or (N, C, H, W) / (N, H, W, C) images "
               "with C = 1 or 3")


def image_layout(shape: tuple[int, ...], name: str) -> str | None:
    """Layout of an array shape: None for (N, D) vectors, else "NHW", "NCHW" or "NHWC"; DataError otherwise."""
    if len(shape) == 2:
        return None
    if len(shape) == 3:
        return "NHW"
    if len(shape) == 4 and shape[1] in (1, 3):
        return "NCHW"
    if len(shape) == 4 and shape[3] in (1, 3):
        return "NHWC"
    if len(shape) == 4:
        raise DataError(f"{name} has shape {shape}, with no channel axis of size 1 or 3: use (N, C, H, W) or "
                        f"(N, H, W, C) with C = 1 (grayscale) or 3 (RGB); drop an alpha channel")
    raise DataError(f"{name} has shape {shape}, which is not a data layout aegan knows: {LAYOUT_HELP}")


def check_values(x: np.ndarray, name: str, first_row: int = 0) -> None:
    """DataError naming the first row with NaN or ±Inf (floats only) or with |x| > 1e15; `first_row`: the number
    of x's first row in the whole array (x a chunk of it)."""
    rows = x.reshape(len(x), -1)
    if x.dtype.kind == "f":
        finite = np.isfinite(rows).all(axis=1)
        if not finite.all():
            row = int(np.argmin(finite))
            what = "NaN" if np.isnan(rows[row]).any() else "Inf"
            raise DataError(f"{name} contains {what} at row {first_row + row}: clean or drop those rows")
    lo, hi = rows.min(), rows.max()
    if max(abs(float(lo)), abs(float(hi))) > MAX_ABS:
        big = np.abs(rows.astype(np.float64)) > MAX_ABS
        row = int(np.argmax(big.any(axis=1)))
        raise DataError(f"{name} has values up to {float(np.abs(rows[row].astype(np.float64)).max()):.3g} "
                        f"(row {first_row + row}), too large to train on: rescale the data so that "
                        f"|x| <= {MAX_ABS:.0e}")


def _as_image_array(x: np.ndarray, name: str) -> np.ndarray:
    """Check the values of image data -> uint8 (0..255) or float32 in [0, 1]."""
    if x.dtype == np.uint8:
        return x
    lo, hi = float(x.min()), float(x.max())
    if x.dtype.kind in "iu":
        if lo < 0 or hi > 255:
            raise DataError(f"{name}: integer images must lie in 0..255, got values in [{lo:.6g}, {hi:.6g}]: "
                            f"save them as uint8, or as floats in [0, 1]")
        return x.astype(np.uint8)
    if lo < 0.0 or hi > 1.0:
        raise DataError(f"{name}: float images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]: "
                        f"scale them to [0, 1] or save them as uint8 0..255")
    return x.astype(np.float32)


def from_array(x: np.ndarray, labels: np.ndarray | None = None, name: str = "array") -> Dataset:
    """A user array -> Dataset, after checking dtype, layout and values (NaN, Inf and |x| > 1e15 are refused).

    x: (N, D) real vectors (standardized per feature), or images (N, H, W), (N, C, H, W) or
    (N, H, W, C) with C in {1, 3}, as uint8 0..255 or floats in [0, 1].
    labels: optional int (N,). name: how errors and the run refer to the data (e.g. its path).
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise DataError(f"{name} has dtype {x.dtype}, which aegan cannot train on: save real numbers "
                        f"(floats or integers; uint8 for images)")
    if x.size == 0:
        raise DataError(f"{name} is empty (shape {x.shape}): it needs at least one example with at least one value")
    layout = image_layout(x.shape, name)
    check_values(x, name)
    if layout is None:
        return _vector_dataset(name, x, labels)
    h, w = (x.shape[1], x.shape[2]) if layout in ("NHW", "NHWC") else (x.shape[2], x.shape[3])
    if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE:
        raise DataError(f"{name} holds {h}x{w} images (shape {x.shape}), smaller than the {MIN_IMAGE_SIDE}x"
                        f"{MIN_IMAGE_SIDE} minimum: use larger images, or reshape to (N, D) to train on vectors")
    return _image_dataset(name, _as_image_array(x, name), layout, labels)


def load_array_file(path: Path, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """.npy or .npz -> (data, labels or None), without ever unpickling."""
    if not path.is_file():
        raise DataError(f"data file {name} does not exist: check the path")
    with open(path, "rb") as f:
        head = f.read(6)
    is_npz = head.startswith(b"PK")  # .npz is a zip archive
    if head != b"\x93NUMPY" and not is_npz:
        raise DataError(f"{name} is not a NumPy .npy/.npz file (it may be a Python pickle): save the data with "
                        f"np.save or np.savez")
    try:
        if is_npz:
            with np.load(path, allow_pickle=False) as npz:
                return _pick_npz_arrays(npz, name)
        return np.load(path, allow_pickle=False), None
    except DataError:
        raise
    except ValueError as e:
        if "pickle" in str(e):  # numpy: "Object arrays cannot be loaded when allow_pickle=False"
            raise DataError(f"{name} holds Python objects (an object array or pickle), which aegan does not "
                            f"load: save a numeric array instead") from e
        raise DataError(f"cannot read {name} ({_one_line(e)}): the file is corrupt or truncated; save it again") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise DataError(f"cannot read {name} ({_one_line(e)}): the file is corrupt or truncated; save it again") from e


def _pick_npz_arrays(npz: np.lib.npyio.NpzFile, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The data array of an .npz (its only array, or 'x' / 'data' / 'images') and labels 'y' / 'labels'."""
    keys = list(npz.files)
    if not keys:
        raise DataError(f"{name} holds no arrays: save the data with np.savez(path, x=data)")
    if len(keys) == 1:
        return npz[keys[0]], None
    data_key = next((k for k in ARRAY_KEYS if k in keys), None)
    if data_key is None:
        raise DataError(f"{name} holds arrays {keys} and aegan cannot tell which is the data: name it "
                        f"'x' (or 'data', 'images') and the optional labels 'y' (or 'labels')")
    label_key = next((k for k in LABEL_KEYS if k in keys), None)
    return npz[data_key], (None if label_key is None else npz[label_key])


def from_array_file(path: str | os.PathLike[str], loader: str = "auto") -> Dataset:
    """A user .npy / .npz file -> Dataset (see `from_array` for accepted shapes and dtypes); name = the path.

    loader: "memory" reads the whole file now; "stream" maps an image .npy file into memory (np.load's mmap_mode),
    checks it chunk by chunk now and reads the training split batch by batch while training (aegan.data.stream);
    "auto" streams what would not fit comfortably. Vectors and .npz archives (compressed) are always read whole.
    """
    name = str(path)
    streamed = _stream_npy(Path(path), name, loader)
    if streamed is not None:
        return streamed
    x, labels = load_array_file(Path(path), name)
    return from_array(x, labels, name=name)


CHECK_ROWS = 4096  # rows of a mapped .npy file checked at a time


def _stream_npy(path: Path, name: str, loader: str) -> Dataset | None:
    """An image .npy file to stream -> Dataset; None when it is to be read whole (or is not a valid .npy file,
    which `load_array_file` then explains)."""
    stream.choose(loader, 0, name)  # an unknown loader name fails here, whatever the file
    x = None
    if path.suffix.lower() == ".npy" and path.is_file():
        try:
            x = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception:  # not .npy, pickled, truncated: load_array_file says which, in one line
            x = None
    if x is None or x.dtype.kind not in "fiu" or x.size == 0:
        if loader == "stream":
            raise DataError(f"{name}: only folders of images and image .npy files can stream (loader=stream): "
                            f"save the images with np.save, or use loader=memory")
        return None
    layout = image_layout(x.shape, name)
    if layout is None:
        if loader == "stream":
            raise DataError(f"{name} holds vectors (shape {x.shape}); only images stream: use loader=memory")
        return None
    shape = (1, *x.shape[1:]) if layout == "NHW" else x.shape[1:] if layout == "NCHW" else (x.shape[3], *x.shape[1:3])
    if not stream.choose(loader, _train_bytes(len(x), shape), name):
        return None
    if min(shape[1:]) < MIN_IMAGE_SIDE:
        raise DataError(f"{name} holds {shape[1]}x{shape[2]} images (shape {x.shape}), smaller than the "
                        f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} minimum: use larger images")
    for start in range(0, len(x), CHECK_ROWS):  # the whole file is checked now, a chunk at a time
        chunk = np.asarray(x[start:start + CHECK_ROWS])
        check_values(chunk, name, first_row=start)
        _as_image_array(chunk, name)
    as_uint8 = x.dtype.kind in "iu"
    transform = Transform(kind="image", layout=layout, dtype="uint8" if as_uint8 else "float32",
                          scale=255.0 if as_uint8 else 1.0)
    source = ArrayRows(str(path), np.arange(len(x)), transform, functools.partial(_as_image_array, name=name))
    return _streamed(name, transform, source, int(np.prod(shape)) * 4)


# --------------------------------------------------------------------------------------------------
# Folders of images
# --------------------------------------------------------------------------------------------------


def _open_image(path: Path, decode: bool = True) -> tuple[np.ndarray | None, tuple[int, int], bool]:
    """One PNG/JPEG -> (uint8 (H, W) or (H, W, 3), or None when not `decode`: the header only; (H, W); is_colour);
    DataError if Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            size, mode = (im.height, im.width), im.mode
            if mode in GRAY_MODES or mode in GRAY_16BIT_MODES or mode in COLOUR_MODES:
                colour = mode in COLOUR_MODES
                if not decode:
                    return None, size, colour
                im.load()
                if mode in GRAY_MODES:
                    return np.asarray(im.convert("L")), size, False
                if mode in GRAY_16BIT_MODES:  # 0..65535 -> 0..255
                    a = np.asarray(im).astype(np.float64) / 257.0
                    return np.clip(np.rint(a), 0, 255).astype(np.uint8), size, False
                return np.asarray(im.convert("RGB")), size, True
    except UnidentifiedImageError as e:
        raise DataError(f"cannot read image {path}: it is not a PNG/JPEG file Pillow can open; replace or remove "
                        f"it") from e
    except Exception as e:  # Pillow raises many types (OSError, SyntaxError, zlib.error, ...) for bad files
        raise DataError(f"cannot read image {path} ({_one_line(e)}): replace or remove the file") from e
    raise DataError(f"image {path} has Pillow mode {mode!r}, which aegan does not read: save it as 8-bit "
                    f"grayscale or RGB")


def from_folder(path: str | os.PathLike[str], loader: str = "auto") -> Dataset:
    """A folder of same-size PNG/JPEG images (not searched recursively) -> Dataset; name = the path.

    Grayscale images give layout "NHW", colour images (RGB; alpha is dropped) "NHWC", both uint8.
    The rule for a mix: a folder is all grayscale or all colour. A mix is refused (DataError naming one file of
    each), never converted, because either conversion changes what the model learns (grayscale copied into three
    equal channels, or colour thrown away) and samples would come back in a layout the user never gave.
    Images are never resized either: a folder of different sizes is refused, naming two of them.
    loader: "memory" decodes every image into memory; "stream" decodes (and checks) every image once into a uint8
    copy in $AEGAN_CACHE/decoded/, reused while the files are unchanged, and reads the training split from it batch by
    batch while training (aegan.data.stream): decoding PNG files every epoch would cost a 2-core machine a third of
    its training speed; "auto" streams what would not fit comfortably in memory.
    """
    folder = Path(path)
    name = str(path)
    if not folder.is_dir():
        raise DataError(f"{name} is not a folder: give a folder of PNG/JPEG images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{name} contains no PNG/JPEG images (.png, .jpg, .jpeg): put the images directly in it "
                        f"(subfolders are not searched)")
    _, (h, w), colour = _open_image(files[0], decode=False)
    if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE:
        raise DataError(f"the images in {name} are {w}x{h}, smaller than the {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} "
                        f"minimum: use larger images")
    layout = "NHWC" if colour else "NHW"
    if not stream.choose(loader, _train_bytes(len(files), (3 if colour else 1, h, w)), name):
        return _image_dataset(name, np.stack(list(_checked_images(name, files))), layout)  # (N, H, W[, 3]) uint8
    shape = (len(files), h, w, 3) if colour else (len(files), h, w)
    stats = [(f.name, *(lambda st: (st.st_size, st.st_mtime_ns))(f.stat())) for f in files]
    key = json.dumps(["aegan-decoded-folder-1", str(folder.resolve()), shape, stats])

    def fill(out: np.ndarray) -> None:  # every image decoded and checked once, into the memory-mapped copy
        for i, a in enumerate(_checked_images(name, files)):
            out[i] = a

    copy = stream.decoded_copy(key, shape, fill, name)
    transform = Transform(kind="image", layout=layout, dtype="uint8", scale=255.0)
    source = ArrayRows(str(copy), np.arange(len(files)), transform, functools.partial(_as_image_array, name=name))
    return _streamed(name, transform, source, shape[1] * shape[2] * (3 if colour else 1) * 4)


def _checked_images(name: str, files: list[Path]) -> Iterator[np.ndarray]:
    """The folder's images decoded in order, each checked against the first: same size, all grayscale or all colour."""
    first_gray: Path | None = None
    first_colour: Path | None = None
    size0: tuple[int, int] | None = None
    for f in files:
        a, size, colour = _open_image(f)
        size0 = size0 or size
        if size != size0:
            raise DataError(f"images in {name} differ in size: {files[0].name} is {size0[1]}x{size0[0]} but "
                            f"{f.name} is {size[1]}x{size[0]}: resize them all to one size")
        if colour:
            first_colour = first_colour or f
        else:
            first_gray = first_gray or f
        if first_gray is not None and first_colour is not None:
            raise DataError(f"{name} mixes grayscale and colour images ({first_gray.name} is grayscale, "
                            f"{first_colour.name} is colour): convert them all to RGB, or all to grayscale")
        assert a is not None
        yield a
