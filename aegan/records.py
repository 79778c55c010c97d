"""Small stored objects (fitted code models, evaluator networks): tensors as safetensors plus a JSON record.

`write_record` writes `folder/<name>.safetensors` and then `folder/<name>.json` (format, version, name, the
tensors' SHA-256 and free-form `meta`), each atomically, so an object exists only once its JSON does.
`read_record` checks all of that before handing anything back and never unpickles: a foreign, stale or corrupt
record raises CheckpointError with one line saying what is wrong and `fix`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from aegan.checkpoint import atomic_write_bytes, atomic_write_text
from aegan.errors import AeganError, CheckpointError


def write_record(folder: Path, name: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any], *,
                 format: str, version: int) -> Path:
    """Store tensors and meta under folder/name; returns the JSON record's path."""
    folder = Path(folder)
    blob = save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    weights = folder / f"{name}.safetensors"
    record = {"format": format, "version": version, "name": name, "weights": weights.name,
              "sha256": hashlib.sha256(blob).hexdigest(), "meta": meta}
    path = folder / f"{name}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(weights, blob)  # temp file, fsync, os.replace
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    except OSError as e:
        raise AeganError(f"cannot write {path} ({e.strerror or e}): free space or fix the folder's "
                         f"permissions") from None
    return path


def read_record(folder: Path, name: str, *, format: str, version: int, what: str,
                fix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """(tensors, meta) stored under folder/name, or None when nothing is stored there. `what` names the kind of
    object in messages ("code model")."""
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        return None

    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"{path} {why}: {fix}")

    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(f"is unreadable or not JSON ({type(e).__name__})") from None
    if not isinstance(record, dict) or record.get("format") != format:
        raise fail(f"is not an aegan {what} (no format: {format})")
    if record.get("version") != version or record.get("name") != name or not isinstance(record.get("meta"), dict):
        raise fail(f"is version {record.get('version')} of {what} {record.get('name')!r}, this aegan reads version "
                   f"{version} of {what} {name!r}")
    weights = path.with_name(f"{name}.safetensors")
    try:
        blob = weights.read_bytes()
    except OSError:
        raise fail(f"has no tensors ({weights.name} is missing)") from None
    if hashlib.sha256(blob).hexdigest() != record.get("sha256"):
        raise fail(f"has corrupt tensors ({weights.name} does not match its checksum)")
    try:
        return load_safetensors(blob), record["meta"]
    except SafetensorError as e:
        raise fail(f"has unreadable tensors ({str(e).splitlines()[0][:200]})") from None
