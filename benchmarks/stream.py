"""Streaming benchmark: training throughput with the data streamed from disk against the same data in memory.

    python benchmarks/stream.py              # ~6 min on 2 cores (plus ~1 min the first time, to write the files)
    python benchmarks/stream.py --quick      # smoke test: 1 round of 40 steps, nothing saved

Fashion-MNIST's 70,000 images are written once, as a folder of PNG files and as one uint8 .npy file, under
$AEGAN_CACHE/bench-stream (default ~/.cache/aegan/bench-stream). Then model `gan` with aegan's image defaults trains
`--steps` steps on each of:
- memory: the folder, loader=memory (decoded once, indexed in memory: the in-memory path);
- stream-folder: the folder, loader=stream (PNG files decoded batch by batch by DataLoader workers);
- stream-npy: the .npy file, loader=stream (rows read from a memory map).
The three are interleaved over `--rounds` rounds; seconds per step come from metrics.jsonl `time_s` between the first
record (step `log_every`, which absorbs warm-up and the workers' start) and the last, and the medians are reported
with `gap = stream_ms / memory_ms - 1` (target <= 0.15 on 2 cores). All three runs train the same weights: the check
`same_weights` compares their final generators bit for bit.
Results: one JSON object on stdout and in benchmarks/results/stream-<YYYYmmdd-HHMMSS>.json. Exit 2 (one line) when
fashion-mnist is missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import RESULTS, loadavg, log  # noqa: E402

LOG_EVERY = 20
VARIANTS = ("memory", "stream-folder", "stream-npy")


def cache_dir() -> Path:
    return Path(os.environ.get("AEGAN_CACHE", Path.home() / ".cache" / "aegan")) / "bench-stream"


def write_files(folder: Path) -> tuple[Path, Path]:
    """Fashion-MNIST (train then test, 70,000 images) as PNG files and as one .npy file, written once."""
    import numpy as np
    from PIL import Image

    from aegan.data.images import FASHION_FILES, _fashion_folders, _find_idx, read_idx

    pngs, npy = folder / "png", folder / "fashion.npy"
    if npy.is_file() and (folder / "png.done").is_file():
        return pngs, npy
    found = next(f for f in _fashion_folders(None) if all(_find_idx(f, s) for s in FASHION_FILES))
    x = np.concatenate([read_idx(_find_idx(found, FASHION_FILES[i]), 3) for i in (0, 2)])  # (70000, 28, 28)
    t0 = time.perf_counter()
    pngs.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(x):
        Image.fromarray(a).save(pngs / f"{i:05d}.png")
    np.save(npy, x)
    (folder / "png.done").write_text("")
    log(f"stream: wrote {len(x):,} PNG files and {npy.name} in {time.perf_counter() - t0:.0f} s")
    return pngs, npy


def seconds_per_step(data: Path, loader: str, steps: int, out: Path) -> tuple[float, Any]:
    import aegan

    run = aegan.train("gan", data=str(data), steps=steps, out=out, seed=0, overwrite=True,
                      overrides={"progress": False, "log_every": LOG_EVERY, "sample_every": steps,
                                 "checkpoint_every": steps, "monitor.every": 0, "loader": loader})
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    first, last = records[0], records[-1]
    return (last["time_s"] - first["time_s"]) / (last["step"] - first["step"]), run.model.nets["G"].state_dict()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="1 round of 40 steps, nothing saved")
    a = p.parse_args(argv)
    steps, rounds = (40, 1) if a.quick else (a.steps, a.rounds)
    from aegan.data import load
    from aegan.errors import DataError

    try:
        load("fashion-mnist")
    except DataError as e:
        print(f"stream: {e}", file=sys.stderr)
        return 2
    import torch

    from aegan.bench.machine import machine

    pngs, npy = write_files(cache_dir())
    data = {"memory": (pngs, "memory"), "stream-folder": (pngs, "stream"), "stream-npy": (npy, "stream")}
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    weights: dict[str, Any] = {}
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="aegan-stream-") as tmp:
        for r in range(rounds):
            for v in VARIANTS:
                s, weights[v] = seconds_per_step(*data[v], steps, Path(tmp) / v)
                times[v].append(s)
                log(f"stream: round {r + 1}/{rounds} {v}: {1000 * s:.1f} ms/step")
    ms = {v: round(1000 * statistics.median(t), 2) for v, t in times.items()}
    result = {
        "benchmark": "stream", "date": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "steps": steps, "rounds": rounds,
        "loadavg_before": load_before, "ms_per_step": ms, "all_ms": {v: [round(1000 * x, 2) for x in t]
                                                                     for v, t in times.items()},
        "gap_folder": round(ms["stream-folder"] / ms["memory"] - 1, 4),
        "gap_npy": round(ms["stream-npy"] / ms["memory"] - 1, 4),
        "same_weights": all(torch.equal(weights["memory"][k], weights[v][k]) for v in VARIANTS
                            for k in weights["memory"]),
    }
    print(json.dumps(result))
    if not a.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"stream-{dt.datetime.now():%Y%m%d-%H%M%S}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
