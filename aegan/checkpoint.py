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
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from aegan.errors import CheckpointError

FORMAT = "aegan-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step_(\d{7,})\.json$")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the whole new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    fd, tmp = tempfile.mkstemp(dir=ckpt_dir, prefix=f".{stem}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        digest = _sha256(Path(tmp))
        os.replace(tmp, weights)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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
    try:
        meta = json.loads(Path(record).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {record} is unreadable or not JSON ({type(e).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{record} is not an aegan checkpoint (no format: {FORMAT})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{record} has checkpoint version {meta.get('version')}, this aegan reads {VERSION}")
    weights = Path(record).with_name(str(meta.get("weights", "")))
    if weights.parent != Path(record).parent or not weights.is_file():
        raise CheckpointError(f"checkpoint {record} names weights {meta.get('weights')!r}, which are missing")
    if _sha256(weights) != meta.get("sha256"):
        raise CheckpointError(f"checkpoint weights {weights} are corrupt (checksum mismatch)")
    try:
        tensors = load_file(weights)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint weights {weights} are not valid safetensors: {e}") from None
    return tensors, meta


def latest(ckpt_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The newest checkpoint that loads and verifies; corrupt ones are reported and skipped. None if there is none."""
    errors: list[str] = []
    for record in reversed(list_checkpoints(ckpt_dir)):
        try:
            return read(record)
        except CheckpointError as e:
            errors.append(str(e))
            print(f"aegan: warning: {e}; trying an older checkpoint", flush=True)
    if errors:
        raise CheckpointError(f"no usable checkpoint in {ckpt_dir}: {errors[-1]}")
    return None
