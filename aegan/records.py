"""Small stored objects (fitted code models, evaluator networks): tensors as safetensors plus a JSON record.

`write_record` writes `folder/<name>.safetensors` and then `folder/<name>.json` (format, version, name, the
tensors' SHA-256 and free-form `meta`), each atomically, so an object exists only once its JSON does.
`read_record` checks all of that before handing anything back and never unpickles: a foreign, stale or corrupt
record raises CheckpointError with one line saying what is wrong and `fix`. Writing, checking and reading are
those of checkpoints (aegan.checkpoint); a record differs only in its name and its nested `meta`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from aegan.checkpoint import atomic_write_text, read_json_record, read_tensors, write_tensors
from aegan.errors import AeganError, CheckpointError


def write_record(folder: Path, name: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any], *,
                 format: str, version: int) -> Path:
    """Store tensors and meta under folder/name; returns the JSON record's path."""
    folder = Path(folder)
    weights = folder / f"{name}.safetensors"
    path = folder / f"{name}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        digest = write_tensors(weights, tensors)
        record = {"format": format, "version": version, "name": name, "weights": weights.name, "sha256": digest,
                  "meta": meta}
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

    record = read_json_record(path, format=format, version=version, what=what, fail=fail)
    if record.get("name") != name:
        raise fail(f"holds {what} {record.get('name')!r}, this aegan looks for {what} {name!r} here")
    if not isinstance(record.get("meta"), dict):
        raise fail("has no meta object")
    return read_tensors(path, record, fail), record["meta"]
