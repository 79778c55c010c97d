"""The speed suite: per model, the training step's time, FLOPs and efficiency (DESIGN §9), and the time to cover
grid25.

- step_ms, step_gflop, gflops, efficiency: the loop's own training step of a throwaway model
  (aegan.loop.budget.TrialStep) on the data set at its defaults: its mean wall time after 2 warm-up steps (at least 3
  timed, at most 5 s), its FLOPs counted by torch.utils.flop_counter.FlopCounterMode over one step (forward and
  backward of every phase), gflops = FLOPs / step time, efficiency = gflops / the fp32 matmul rate measured in the
  same process at the same threads (aegan.bench.machine.process_matmul_gflops).
- cover_steps, cover_s (grid25 only): the model trained at its default budget with a checkpoint every
  COVER_EVERY steps, each checkpoint scored in order on 2,500 samples through the prior and, for encoder models, the
  gmm code model fitted to that checkpoint's codes; the first step at which all 25 modes are covered with at least
  90% high-quality samples (DESIGN §9), and the training seconds to it (metrics.jsonl's time_s: no scoring). None
  when the run never gets there.
- recon_target, recon_s, peer_recon_s (fashion-mnist, vae and aae: the race against pythae 0.1.2's VAE and
  Adversarial_AE at their defaults): both trained for the same minutes at the same threads, one after the other;
  aegan's held-out reconstruction error (recon_error_test: MSE per pixel in [-1, 1] of the 10,000 test images
  through the encoder's mean) at RACE_POINTS checkpoints spread over its budget, pythae's at every epoch end (its
  clock paused meanwhile; benchmarks/peer_pythae.py --race, in pythae's own virtual environment .venv-pythae, made
  on first use). The target is the lower error that both reached (the larger of the two minima); recon_s and
  peer_recon_s are the training seconds each took to reach it. Both curves are kept in the row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COVER_EVERY = 250  # steps between the checkpoints scored for the time to cover
COVER_SHARE = 0.9  # high-quality share that counts as covered (DESIGN §9)
RACE_MODELS = ("vae", "aae")  # ours against pythae's VAE and Adversarial_AE
RACE_POINTS = 20  # checkpoints of aegan's race run scored for its curve
RACE_MINUTES = 3.0
PEER_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "peer_pythae.py"  # in a checkout only


def step_speed(model: str, dataset: str, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Time and FLOPs of one training step of `model` on `dataset` at its defaults."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from aegan.bench.machine import process_matmul_gflops
    from aegan.loop.budget import TrialStep, seconds_per_step
    from aegan.loop.configure import make_config
    from aegan.loop.distributed import start_fabric
    from aegan.train import train_step

    cfg, ds = make_config(model, dataset, seed=seed, overrides=settings)
    step = TrialStep(cfg, ds, start_fabric(cfg), train_step)
    step(0)  # warm-up before counting
    with FlopCounterMode(display=False) as counter:
        step(1)
    seconds = seconds_per_step(lambda i: step(i + 2), warmup=2, seconds=5.0, most=200)
    step.close()
    flops = counter.get_total_flops()
    rate = process_matmul_gflops(torch.get_num_threads())
    gflops = flops / 1e9 / seconds
    return {"step_ms": round(seconds * 1000, 3), "steps_per_s": round(1 / seconds, 2),
            "step_gflop": round(flops / 1e9, 4), "gflops": round(gflops, 3), "matmul_gflops": round(rate, 1),
            "efficiency": round(gflops / rate, 5)}


def time_to_cover(folder: Path, model: str, seed: int, settings: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Train `model` on grid25 at its default budget into `folder` (reused when finished), then score its checkpoints
    in order: one row per sampler with the first covering step and the training seconds to it."""
    from aegan import metrics
    from aegan.bench.runs import finished_or_trained
    from aegan.loop.configure import make_config
    from aegan.samplers.selection import MIXTURES

    overrides = {"code_models": MIXTURES, "checkpoint_every": COVER_EVERY, "log_every": COVER_EVERY, **settings}
    wanted = make_config(model, "grid25", seed=seed, overrides=overrides)[0].steps
    overrides["keep_checkpoints"] = wanted // COVER_EVERY + 2

    def done(run: Any, _folder: Path) -> bool:
        return run.config.steps == wanted and run.step >= wanted and run.config.checkpoint_every == COVER_EVERY

    run = finished_or_trained(folder, done, model, "grid25", steps=wanted, seed=seed, overrides=overrides)
    times = training_seconds(folder)
    samplers = ["prior"] + (["gmm"] if run.model.has_encoder else [])
    first: dict[str, tuple[int, float | None] | None] = dict.fromkeys(samplers)
    centres, std = run.modes
    for _ in run.checkpoints():  # each checkpoint's gmm is fitted to that checkpoint's codes
        for sampler in [s for s in samplers if first[s] is None]:
            x = run.sample(n, sampler=sampler, seed=seed)
            stats = metrics.mode_stats(x, centres, std)
            if stats["modes_covered"] == stats["modes_total"] and stats["high_quality_fraction"] >= COVER_SHARE:
                first[sampler] = (run.step, times.get(run.step))
        if all(v is not None for v in first.values()):
            break
    return [{"sampler": s, "cover_steps": v[0] if v else None, "cover_s": v[1] if v else None,
             "steps": wanted} for s, v in first.items()]


Curve = list[tuple[float, float]]  # (training seconds, held-out reconstruction error), in training order


def seconds_to(curve: Curve, target: float) -> float | None:
    """The training seconds of the first point of `curve` at or below `target`; None when none gets there."""
    return next((t for t, error in curve if error <= target), None)


def race_row(ours: Curve, peer: Curve | None) -> dict[str, Any]:
    """The race's columns from both curves: the lower error both reached and the seconds each took to it."""
    row: dict[str, Any] = {"recon_curve": ours, "recon_best": min(e for _, e in ours)}
    if peer:
        target = max(row["recon_best"], min(e for _, e in peer))
        row.update(peer_curve=peer, peer_recon_best=min(e for _, e in peer), recon_target=target,
                   recon_s=seconds_to(ours, target), peer_recon_s=seconds_to(peer, target))
    return row


def recon_curve(folder: Path, model: str, dataset: str, seed: int, settings: dict[str, Any], minutes: float,
                step_ms: float) -> Curve:
    """Train `model` on `dataset` for `minutes` into `folder` (reused when finished) with RACE_POINTS checkpoints
    spread over the steps its measured `step_ms` plans, then the held-out reconstruction error of each checkpoint (on
    the whole test split) at its training seconds (metrics.jsonl's time_s)."""
    from aegan.bench.runs import budget_done, finished_or_trained
    from aegan.evaluate import reconstruct, reconstruction_error

    every = max(10, int(minutes * 60_000 / step_ms / RACE_POINTS))
    overrides = {"checkpoint_every": every, "log_every": every, "keep_checkpoints": 4 * RACE_POINTS,
                 "code_models": "gaussian", **settings}  # the race samples nothing: no time on the other code models

    def done(run: Any, _folder: Path) -> bool:
        return budget_done(run, _folder) and run.config.minutes == minutes

    run = finished_or_trained(folder, done, model, dataset, minutes=minutes, seed=seed, overrides=overrides)
    times = training_seconds(folder)
    x_test = run.data().test
    return [(times[step], reconstruction_error(reconstruct(run, x_test)[1], x_test))
            for step in run.checkpoints() if step in times]


def training_seconds(folder: Path) -> dict[int, float]:
    """{step: training seconds} of a run folder's metrics.jsonl records (time_s: no scoring counted)."""
    import json

    return {r["step"]: r["time_s"] for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines())
            if "time_s" in r and "step" in r}


def peer_curve(folder: Path, model: str, seed: int, minutes: float, threads: int) -> tuple[Curve | None, str]:
    """pythae's curve for `model` (benchmarks/peer_pythae.py --race, reused from folder/race.json when it ran with
    these minutes), or None and the reason when it cannot run here."""
    import json
    import subprocess
    import sys

    saved = folder / "race.json"
    if saved.is_file():
        found = json.loads(saved.read_text())
        if found.get("minutes") == minutes and model in found.get("models", {}):
            return [(t, e) for t, _, e in found["models"][model]["curve"]], ""
    if not PEER_SCRIPT.is_file():
        return None, f"{PEER_SCRIPT} is not here (the race needs aegan's checkout)"
    cmd = [sys.executable, str(PEER_SCRIPT), "--race", "--models", model, "--minutes", repr(minutes), "--seed",
           str(seed), "--threads", str(threads), "--no-save"]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        return None, f"benchmarks/peer_pythae.py --race failed (exit {done.returncode}; its message is above)"
    folder.mkdir(parents=True, exist_ok=True)
    saved.write_text(done.stdout)
    found = json.loads(done.stdout)
    return [(t, e) for t, _, e in found["models"][model]["curve"]], ""
