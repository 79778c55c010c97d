"""Data larger than memory: the training split read from disk a batch at a time, by DataLoader workers.

A folder of images or an image .npy file whose training split, as float32 on the model's scale, would take more
than half of the memory this process may still use (`memory_budget`: the machine's available memory, or what
RLIMIT_DATA leaves) is *streamed*: `Dataset.stream` reads any training example by its index, and `Dataset.train`
keeps only a fixed random sample of it in memory (at most KEEP examples, fewer when memory is short) for what
needs examples at hand: the evaluator, the code models, the collapse monitor. The held-out split stays in memory.

An image .npy file is read through a memory map. A folder is decoded (and every image checked) once into a uint8
copy in $AEGAN_CACHE/decoded/ that is then read the same way, reused while the folder's files are unchanged: PNG
decoding on every epoch took a third of the training speed of a 2-core machine (benchmarks/stream.py), reading the
map about 4%. The copy takes a quarter of the float32 size on disk, no memory.

A streamed example is computed by the same float32 operations as the in-memory one (`to_model_images`), and the
loop asks for the batches of `BatchOrder` (aegan/loop/steps.py), so a streamed run trains bit for bit like the
same run in memory, resumes exactly, and keeps the equivalence of N processes to one.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aegan.data.base import Transform
from aegan.errors import DataError

LOADER_CHOICES = ("auto", "memory", "stream")  # config `loader`: auto streams when the data would not fit comfortably
STREAM_SHARE = 0.5  # auto: stream when the float32 training split exceeds this share of the memory budget
KEEP = 10_000  # training examples kept in memory when streaming (for the evaluator, code models, monitor) ...
KEEP_SHARE = 0.1  # ... or as many as fit in this share of the memory budget, if fewer


def _proc_kb(path: str, key: str) -> int | None:
    try:
        match = re.search(rf"^{key}:\s+(\d+) kB", Path(path).read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def memory_budget() -> int:
    """Bytes this process can still allocate: the available memory (/proc/meminfo), or, if lower, what its data
    limit (RLIMIT_DATA, e.g. `ulimit -d` or a test's setrlimit) leaves above its current data segment."""
    available = _proc_kb("/proc/meminfo", "MemAvailable")
    if available is None:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    used = _proc_kb("/proc/self/status", "VmData")
    if soft != resource.RLIM_INFINITY and used is not None:
        available = min(available, max(0, soft - used))
    return available


def choose(loader: str, nbytes: int, name: str) -> bool:
    """Whether to stream a training split of `nbytes` (float32 on the model's scale) under `loader`; refuses to
    load in memory what cannot fit there, before anything is allocated."""
    if loader not in LOADER_CHOICES:
        raise DataError(f"unknown loader {loader!r}: use one of {', '.join(LOADER_CHOICES)}")
    budget = memory_budget()
    if loader == "memory" and nbytes > budget:
        raise DataError(f"{name} takes {nbytes / 2**30:.2f} GiB as float32, more than the {budget / 2**30:.2f} GiB "
                        f"this process can still use: stream it (loader=stream, or leave loader=auto)")
    return loader == "stream" or (loader == "auto" and nbytes > STREAM_SHARE * budget)


def keep_count(n_train: int, example_bytes: int) -> int:
    """How many training examples a streamed data set keeps in memory: KEEP, or what fits in KEEP_SHARE of the
    memory budget, at least one batch's worth (64) where the data has that many."""
    fits = int(KEEP_SHARE * memory_budget() / max(1, example_bytes))
    return min(n_train, max(64, min(KEEP, fits)))


def to_model_images(transform: Transform, x: np.ndarray) -> torch.Tensor:
    """`transform.to_model(x)` for images, computed in place: the same float32 operations, several times faster.

    x: uint8 or float32 in `transform.layout` -> float32 (N, C, H, W) in [-1, 1], contiguous. The in-memory and the
    streamed paths both use it, so an example is the same bits either way.
    """
    x = np.ascontiguousarray(x)
    if not x.flags.writeable:  # e.g. np.frombuffer over idx bytes, a memory map; torch warns on read-only arrays
        x = x.copy()
    t = torch.from_numpy(x)
    if transform.layout == "NHW":
        t = t[:, None]
    elif transform.layout == "NHWC":
        t = t.permute(0, 3, 1, 2).contiguous()  # before the conversion: a uint8 copy is a quarter of a float32 one
    t = t.to(torch.float32, copy=True)
    return t.div_(transform.scale).mul_(2.0).sub_(1.0)  # x / scale * 2 - 1, as in Transform.to_model


class ArrayRows(torch.utils.data.Dataset):
    """Rows of a memory-mapped image .npy file read on demand: example i is row `rows[i]`, (C, H, W) float32.

    The map is opened in each process that reads (DataLoader workers included), never pickled.
    """

    def __init__(self, path: str, rows: np.ndarray, transform: Transform, convert: Any) -> None:
        self.path, self.rows, self.transform, self.convert = path, rows, transform, convert
        self._array: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}

    def __getitems__(self, indices: Sequence[int]) -> torch.Tensor:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        x = self._array[self.rows[np.asarray(indices)]]
        return to_model_images(self.transform, self.convert(x))

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.__getitems__([i])[0]

    def subset(self, indices: Sequence[int]) -> ArrayRows:
        return ArrayRows(self.path, self.rows[np.asarray(indices)], self.transform, self.convert)


def read_all(source: ArrayRows, indices: Sequence[int], chunk_bytes: int = 8 * 2**20) -> torch.Tensor:
    """The examples `indices` of `source` as one float32 tensor, read into it about `chunk_bytes` at a time."""
    first = source.__getitems__(list(indices[:1]))
    chunk = max(1, chunk_bytes // first[0].nbytes)
    out = torch.empty((len(indices), *first.shape[1:]), dtype=first.dtype)
    for start in range(0, len(indices), chunk):
        out[start:start + chunk] = source.__getitems__(list(indices[start:start + chunk]))
    return out


def cache_root() -> Path:
    """Where aegan keeps what it derives from data: $AEGAN_CACHE, else $XDG_CACHE_HOME/aegan, else ~/.cache/aegan."""
    if os.environ.get("AEGAN_CACHE"):
        return Path(os.environ["AEGAN_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aegan"


def decoded_copy(key: str, shape: tuple[int, ...], fill: Callable[[np.ndarray], None], name: str) -> Path:
    """A uint8 .npy file of `shape` in $AEGAN_CACHE/decoded/, filled once by `fill(array)` and reused while `key`
    (what the source's files are: names, sizes, modification times) is unchanged.

    Written through a memory map (file pages, not this process's memory) to a temporary name, then renamed, so a
    half-written copy is never used and parallel writers of the same copy do not collide.
    """
    folder = cache_root() / "decoded"
    path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npy"
    if path.is_file():
        return path
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        fill(array)
        array.flush()
        del array
        os.replace(tmp, path)
    except OSError as e:
        size = f"{np.prod(shape) / 2**30:.2f} GiB"
        raise DataError(f"cannot write the decoded copy of {name} that streaming reads ({path}, {size}: "
                        f"{e.strerror or e}): free space or set AEGAN_CACHE to a writable folder") from None
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; left by a failure otherwise
    return path


def collate(batch: torch.Tensor) -> torch.Tensor:
    """The DataLoader's collate_fn: `__getitems__` already returns the stacked batch."""
    return batch
