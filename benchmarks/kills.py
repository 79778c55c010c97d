"""Kill benchmark: SIGKILL a CLI training run at random moments, resume it each time, compare with an unkilled run.

    .venv/bin/python benchmarks/kills.py                # 12 kills, seed 0: about 3 min on 2 cores
    .venv/bin/python benchmarks/kills.py --kills 20 --seed 1

The job: `aegan train gan --data ring8` (width 32, checkpoints every 100 steps). One run goes uninterrupted. The
other is started, killed with SIGKILL after a random delay (seeded), resumed with `aegan train --resume`, killed
again, ... `--kills` times, then resumed to the end. On CPU with the same seed the final weights must equal those
of the uninterrupted run bit for bit.

A 1000-step calibration run measures this machine's start-up time S and step rate first. Delays are then drawn
uniformly from [0.8 S, S + 4 s], so most kills land mid-training (steps, checkpoint writes) and some during
start-up or checkpoint loading, and the run is made long enough (2.5 times the expected progress between kills)
that every kill finds it still running. `--steps`, `--min-delay` and `--max-delay` override the choice.

Prints one JSON object and writes it to benchmarks/results/kills-<YYYYmmdd-HHMMSS>.json (see README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from speed import loadavg

RESULTS = Path(__file__).resolve().parent / "results"
CLI_TRAIN = [sys.executable, "-m", "aegan.cli", "train"]


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def train_args(steps: int, seed: int) -> list[str]:
    return ["gan", "--data", "ring8", "--steps", str(steps), "--seed", str(seed), "progress=false", "net.width=32",
            "checkpoint_every=100", "log_every=50", f"sample_every={steps}"]


def newest_checkpoint(run_dir: Path) -> int:
    from aegan import checkpoint

    records = checkpoint.list_checkpoints(run_dir / "checkpoints")
    return int(records[-1].stem.split("_")[1]) if records else 0


def logged_steps(run_dir: Path) -> list[int]:
    """Steps of metrics.jsonl; a line cut short by a kill is skipped (the next resumption drops it)."""
    path = run_dir / "metrics.jsonl"
    steps = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError, TypeError):
            continue
    return steps


def kill_after(cmd: list[str], delay: float) -> tuple[bool, int | None]:
    """Run `cmd`, SIGKILL it after `delay` seconds -> (was it still running, its exit code if it ended first)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True, None
    return False, proc.returncode


def calibrate(seed: int, work: Path) -> tuple[float, float]:
    """(start-up and shut-down seconds, training steps per second) of the job, from a 1000-step run."""
    t0 = time.perf_counter()
    subprocess.run([*CLI_TRAIN, *train_args(1000, seed), "--out", str(work / "calibrate")], check=True,
                   capture_output=True)
    wall = time.perf_counter() - t0
    last = json.loads((work / "calibrate" / "metrics.jsonl").read_text().splitlines()[-1])
    return wall - last["time_s"], last["step"] / last["time_s"]


def plan(kills: int, startup: float, steps_per_s: float) -> tuple[float, float, int]:
    """(min delay, max delay, steps): delays in [0.8 S, S + 4 s]; steps for 2.5 times the expected progress."""
    lo, hi = 0.8 * startup, startup + 4.0
    progress = (hi - startup) ** 2 / (2 * (hi - lo))  # E[max(0, delay − S)] of training seconds per kill
    steps = int(round(2.5 * kills * progress * steps_per_s, -3))
    return round(lo, 2), round(hi, 2), max(steps, 2000)


def final_tensors(run_dir: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    from aegan import checkpoint

    record = checkpoint.list_checkpoints(run_dir / "checkpoints")[-1]
    return {k: v for k, v in load_file(record.with_suffix(".safetensors")).items()
            if k.startswith(("nets.", "optim.", "ema.", "ha."))}


def compare(a: Path, b: Path) -> dict[str, Any]:
    """Max |difference| over every weight and optimizer tensor of the two runs' final checkpoints."""
    ta, tb = final_tensors(a), final_tensors(b)
    same_keys = ta.keys() == tb.keys()
    worst = max(((ta[k].double() - tb[k].double()).abs().max().item() for k in ta if k in tb), default=float("nan"))
    return {"tensors_compared": len(ta), "same_tensor_names": same_keys, "max_abs_weight_difference": worst,
            "equal": same_keys and all(ta[k].equal(tb[k]) for k in ta)}


def run_benchmark(kills: int, seed: int, steps: int, min_delay: float, max_delay: float, work: Path) -> dict[str, Any]:
    startup, rate = calibrate(seed, work)
    lo, hi, auto_steps = plan(kills, startup, rate)
    min_delay, max_delay, steps = min_delay or lo, max_delay or hi, steps or auto_steps
    log(f"kills: start-up {startup:.1f} s, {rate:.0f} steps/s: {steps} steps, delays in [{min_delay}, {max_delay}] s")
    args = train_args(steps, seed)
    t0 = time.perf_counter()
    subprocess.run([*CLI_TRAIN, *args, "--out", str(work / "full")], check=True, capture_output=True)
    full_s = time.perf_counter() - t0
    log(f"kills: uninterrupted run of {steps} steps took {full_s:.1f} s")

    rng = random.Random(seed)
    cut = work / "cut"
    attempts = []
    for i in range(kills):
        cmd = [*CLI_TRAIN, *args, "--out", str(cut)] if i == 0 else [*CLI_TRAIN, "--resume", str(cut)]
        before = newest_checkpoint(cut)
        delay = round(rng.uniform(min_delay, max_delay), 3)
        alive, code = kill_after(cmd, delay)
        after, logged = newest_checkpoint(cut), logged_steps(cut)
        mid = alive and bool(logged) and logged[-1] > before  # training had logged a step past its start
        attempts.append({"attempt": i + 1, "command": "train" if i == 0 else "resume", "delay_s": delay,
                         "landed": alive, "mid_training": mid, "checkpoint_before": before,
                         "checkpoint_after": after, "last_logged_step": logged[-1] if logged else None})
        log(f"kills: {i + 1}/{kills}: after {delay:.2f} s, {'killed' if alive else f'ended (code {code})'}, "
            f"checkpoint {before} -> {after}")
        if not alive:
            break
    final = subprocess.run([*CLI_TRAIN, "--resume", str(cut)], capture_output=True, text=True)
    if final.returncode != 0:
        raise RuntimeError(f"the final resumption failed: {final.stderr.strip().splitlines()[-1:]}")
    logged = logged_steps(cut)
    return {
        "benchmark": "kills", "job": " ".join(["aegan", "train", *args]), "seed": seed, "steps": steps,
        "startup_s": round(startup, 2), "steps_per_s": round(rate, 1), "delay_range_s": [min_delay, max_delay],
        "uninterrupted_s": round(full_s, 1),
        "kills_attempted": len(attempts), "kills_landed": sum(a["landed"] for a in attempts),
        "kills_mid_training": sum(a["mid_training"] for a in attempts),
        **compare(work / "full", cut),
        "metrics_steps_increasing": all(b > a for a, b in zip(logged, logged[1:])) and logged[-1] == steps,
        "attempts": attempts,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=12, help="SIGKILLs to send (default 12)")
    p.add_argument("--seed", type=int, default=0, help="seed of the delays and of the training runs")
    p.add_argument("--steps", type=int, default=0, help="training steps; 0 = chosen by the calibration run")
    p.add_argument("--min-delay", type=float, default=0.0, help="shortest delay before a kill, s; 0 = 0.8 start-up")
    p.add_argument("--max-delay", type=float, default=0.0, help="longest delay before a kill, s; 0 = start-up + 4")
    p.add_argument("--keep", help="keep the two run folders in this folder (default: a temporary folder)")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/kills-*.json")
    a = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started, t0 = dt.datetime.now(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aegan-kills-") as tmp:
        work = Path(a.keep) if a.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = run_benchmark(a.kills, a.seed, a.steps, a.min_delay, a.max_delay, work)
    from aegan.bench.machine import machine  # here, not at import: --help loads no torch

    result.update({"date": started.isoformat(timespec="seconds"), "wall_s": round(time.perf_counter() - t0, 1),
                   "load_average": loadavg(), "machine": machine()})
    text = json.dumps(result, indent=2)
    print(text)
    if not a.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"kills-{started:%Y%m%d-%H%M%S}.json"
        path.write_text(text + "\n")
        log(f"kills: wrote {path}")
    return 0 if result["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
