"""The run folder (DESIGN §5) and its log: metrics.jsonl, one JSON object per logged step, and TensorBoard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from aegan import checkpoint
from aegan.config import Config
from aegan.data.objects import is_object_name
from aegan.errors import AeganError
from aegan.loop.distributed import mean_over_processes
from aegan.run import write_nets_record, write_reference


def write_records(out: Path, cfg: Config, ds: Any, resume: bool, own_nets: dict[str, torch.nn.Module] | None) -> None:
    """What a run folder says about the run besides its checkpoints: config.yaml, data.json, and for a new run the
    reference examples of a Python object (RUN/data/) and the names of the user's own networks (nets.json)."""
    checkpoint.atomic_write_text(out / "config.yaml", cfg.to_yaml())
    checkpoint.atomic_write_text(out / "data.json", json.dumps(ds.info()))
    if ds.digest is not None and not resume:  # a Python object: keep what evaluation needs of it
        write_reference(out, ds, cfg.seed)
    if own_nets and not resume:
        write_nets_record(out, own_nets)


def prepare_out(out: str | Path | None, cfg: Config, overwrite: bool) -> Path:
    """Pick or create the run folder. An existing non-empty folder is replaced only when asked, and only if it is
    an aegan run."""
    if out is None:
        stem = Path(cfg.data).stem if ("/" in cfg.data or "." in cfg.data) else cfg.data
        if is_object_name(cfg.data):  # a Python object (aegan.data.objects)
            stem = "array"
        base = Path("runs") / f"{cfg.model}-{stem}"
        out, i = base, 1
        while Path(out).exists():
            i += 1
            out = Path(f"{base}-{i}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AeganError(f"--out {out} is a file, not a folder: choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise AeganError(f"run folder {out} already exists: continue it with --resume {out}, "
                             f"replace it with --overwrite, or choose another --out")
        if not (out / "config.yaml").is_file():
            raise AeganError(f"{out} is not an aegan run folder (no config.yaml), so --overwrite will not delete it: "
                             f"choose another --out")
        shutil.rmtree(out)
    try:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise AeganError(f"cannot write to run folder {out}: {e.strerror or e}") from None
    return out


def truncate_metrics(path: Path, step: int) -> None:
    """Drop records after `step` (written after the checkpoint we resume from) so steps never repeat."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a crash
    checkpoint.atomic_write_text(path, "".join(f"{line}\n" for line in kept))


class LossMeans:
    """The losses and extra logs of the steps since the last log line, summed on the device (no sync per step)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, logs: dict[str, torch.Tensor]) -> None:
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1

    def flush(self, world: int, device: torch.device) -> dict[str, float]:
        """The means since the last flush, over the global batch (every process must call it), and start afresh."""
        keys = list(self.sums)
        means = torch.stack([self.sums[k] / self.counts[k] for k in keys]) if keys else torch.zeros(0, device=device)
        means = mean_over_processes(means, world)
        self.clear()
        return dict(zip(keys, means.tolist()))

    def clear(self) -> None:
        self.sums.clear()
        self.counts.clear()


class RunLog:
    """metrics.jsonl (one JSON object per record, with its `step`) and TensorBoard, written by global rank 0 only.

    `rewind(step)` drops what came after `step` (for a resumption or a rollback), so steps never repeat.
    """

    def __init__(self, out: Path, active: bool, start: int, resume: bool) -> None:
        self.out, self.active = out, active
        self.file: Any = None
        self.writer: Any = None
        if not active:
            return
        if resume:
            self.rewind(start)
        else:
            (out / "metrics.jsonl").unlink(missing_ok=True)
            self._open(purge_step=None)

    def _open(self, purge_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow import: only where it is used

        self.file = open(self.out / "metrics.jsonl", "a")  # noqa: SIM115  (open for the run's life; close() ends it)
        self.writer = SummaryWriter(str(self.out / "tensorboard"), purge_step=purge_step)

    def write(self, record: dict[str, Any]) -> None:
        if not self.active:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        for k, v in record.items():
            if k != "step" and isinstance(v, (int, float)):
                self.writer.add_scalar(k, v, record["step"])

    def rewind(self, step: int) -> None:
        if not self.active:
            return
        self.close()
        truncate_metrics(self.out / "metrics.jsonl", step)
        self._open(purge_step=step)

    def close(self) -> None:
        for f in (self.file, self.writer):
            if f is not None:
                f.close()
        self.file = self.writer = None
