"""Checkpoints as plain state: tensors in safetensors, everything else in JSON. Never pickles.

A checkpoint is two files in RUN/checkpoints/:
  step_0001000.safetensors  network weights and buffers (`nets.G.body.0.weight`), optimizer tensors
                            (`optim.D.3.exp_avg`), RNG states as uint8 tensors (`rng.torch`)
  step_0001000.json         {"format": "aegan-checkpoint", "step", "sha256" of the safetensors file,
                            optimizer hyper-parameters, NumPy and Python RNG states, ...}
Both are written to a temporary file, flushed, fsynced and renamed, the JSON last: a checkpoint exists
only once its JSON does, and a safetensors file whose checksum does not match is skipped on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from aegan.errors import CheckpointError

FORMAT = "aegan-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step_(\d{7,})\.json$")


def _write_then_rename(path: Path, write: Callable[[str], Any]) -> str:
    """write(tmp) fills a temporary file next to `path`, which is then fsynced and renamed onto `path`, so a reader
    sees the old file or the whole new one, never a part. Returns the new file's SHA-256 (hex)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        h = hashlib.sha256()
        with open(tmp, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the whole new one, never a part."""
    _write_then_rename(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


# --- tensors + JSON record: shared by checkpoints and stored objects (aegan.records) ---------------

def write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> str:
    """Write `tensors` to the safetensors file `path` atomically; return the file's SHA-256 (hex)."""
    return _write_then_rename(path, lambda tmp: save_file({k: v.detach().cpu().contiguous()
                                                           for k, v in tensors.items()}, tmp))


def read_json_record(path: Path, *, format: str, version: int, what: str,
                     fail: Callable[[str], CheckpointError]) -> dict[str, Any]:
    """The JSON object in `path`, checked to be `format` at `version`; otherwise raise fail(why).

    what: the kind of object, in messages ("checkpoint", "code model")."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(f"is unreadable or not JSON ({type(e).__name__})") from None
    if not isinstance(record, dict) or record.get("format") != format:
        raise fail(f"is not an aegan {what} (no format: {format})")
    if record.get("version") != version:
        raise fail(f"is version {record.get('version')} of the {what} format, this aegan reads version {version}")
    return record


def read_tensors(path: Path, record: dict[str, Any],
                 fail: Callable[[str], CheckpointError]) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file that `record` (read from `path`) names under "weights", next to it,
    checked against its "sha256" before they are parsed; otherwise raise fail(why). Never unpickles."""
    weights = Path(path).with_name(str(record.get("weights", "")))
    if weights.parent != Path(path).parent or not weights.is_file():
        raise fail(f"names tensors {record.get('weights')!r}, which are missing")
    try:
        blob = weights.read_bytes()  # checked and parsed from one read: the file cannot change in between
    except OSError as e:
        raise fail(f"has unreadable tensors ({weights.name}: {e.strerror or e})") from None
    if hashlib.sha256(blob).hexdigest() != record.get("sha256"):
        raise fail(f"has corrupt tensors ({weights.name} does not match its checksum)")
    try:
        return load_safetensors(blob)
    except (SafetensorError, ValueError) as e:
        raise fail(f"has unreadable tensors ({weights.name}: {str(e).splitlines()[0][:200]})") from None


# --- RNG state -------------------------------------------------------------------------------------

def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, json) holding torch (CPU and CUDA), NumPy and Python RNG states."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, state, gauss = random.getstate()
    meta = {"numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "python": [version, list(state), gauss]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, state, gauss = meta["python"]
    random.setstate((version, tuple(state), gauss))


# --- optimizer state -------------------------------------------------------------------------------

def optimizer_state(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `opt.state_dict()` into tensors (`optim.<name>.<param index>.<key>`) and JSON (groups, scalars)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                         meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, field = key[len(prefix):].split(".", 1)
            state.setdefault(int(idx), {})[field] = value
    for idx, scalars in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(scalars)
    try:
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"optimizer state for phase {name} does not fit this model: {e}") from None


# --- save / find / load ----------------------------------------------------------------------------

def save(ckpt_dir: Path, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any], keep: int = 3) -> Path:
    """Write checkpoint `step` atomically (weights first, JSON with their checksum last); keep the newest `keep`."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    stem = f"step_{step:07d}"
    weights = ckpt_dir / f"{stem}.safetensors"
    digest = write_tensors(weights, tensors)
    record = {"format": FORMAT, "version": VERSION, "step": step, "weights": weights.name, "sha256": digest, **meta}
    atomic_write_text(ckpt_dir / f"{stem}.json", json.dumps(record))
    for old in list_checkpoints(ckpt_dir)[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".safetensors").unlink(missing_ok=True)
    return weights


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """JSON records of the checkpoints in `ckpt_dir`, oldest first."""
    if not Path(ckpt_dir).is_dir():
        return []
    found = [(int(m.group(1)), p) for p in Path(ckpt_dir).iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def read(record: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load one checkpoint (tensors, JSON), verifying format and checksum; raise CheckpointError if unusable."""
    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {record} {why}")

    meta = read_json_record(record, format=FORMAT, version=VERSION, what="checkpoint", fail=fail)
    return read_tensors(record, meta, fail), meta


def latest(ckpt_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The newest checkpoint that loads and verifies. None if there is none; CheckpointError if none is usable.

    Checkpoints skipped on the way to a usable one are named in one warning line each, on stderr (stdout may be
    a JSON answer); if none is usable, only the error says why."""
    errors: list[str] = []
    for record in reversed(list_checkpoints(ckpt_dir)):
        try:
            state = read(record)
        except CheckpointError as e:
            errors.append(str(e))
            continue
        for error in errors:
            print(f"aegan: warning: {error}; using the older checkpoint {record.name}", file=sys.stderr, flush=True)
        return state
    if errors:
        raise CheckpointError(f"no usable checkpoint in {ckpt_dir}: {errors[-1]}")
    return None


def load_weights(nets: dict[str, torch.nn.Module], tensors: dict[str, torch.Tensor], prefix: str = "nets.") -> None:
    """Load `<prefix><name>.*` tensors strictly: a checkpoint of another architecture is refused, not half-loaded."""
    for name, net in nets.items():
        own = f"{prefix}{name}."
        state = {k[len(own):]: v for k, v in tensors.items() if k.startswith(own)}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[0]
            raise CheckpointError(f"checkpoint does not fit network {name} of this model ({first})") from None
