"""Speed benchmark: aegan's DCGAN fashion-mnist training step against the machine and against a bare loop.

    python benchmarks/speed.py --json          # one JSON object on stdout, everything else on stderr
    python benchmarks/speed.py --quick         # smoke test: a few steps, nothing saved

Measured in one run, as ratios (DESIGN §9):
- matmul_gflops: fp32 2048x2048 @ 2048x2048 rate (torch, default threads), best timed repeat after warm-up;
- step_gflop:    FLOPs of one training step (D phase then G phase, forward + backward), counted with
                 torch.utils.flop_counter.FlopCounterMode over one step of the bare loop (same ops as aegan's);
- aegan_step_ms: seconds per step of the real `aegan.train.fit`, from metrics.jsonl `time_s` between the
                 first record (step log_every, which absorbs warm-up) and the last one: no start-up, data
                 loading, sample pictures or checkpoints;
- bare_step_ms:  the same networks, losses, optimizers and phase order in plain PyTorch, same number of steps
                 after warm-up, time.perf_counter;
- efficiency = step_gflops / matmul_gflops with step_gflops = step_gflop / aegan seconds per step;
- overhead   = aegan_step_ms / bare_step_ms - 1.
Bare and aegan are interleaved (bare, aegan, bare, aegan, ...) and the medians reported, so machine noise
hits both alike. The JSON also goes to benchmarks/results/speed-<YYYYmmdd-HHMMSS>.json.
Exit 2 (one line on stderr) when fashion-mnist is missing.
"""

from __future__ import annotations

# the standard library only at import: peer_pythae.py's worker imports OtherLoad in .venv-pythae, without aegan
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

RESULTS = Path(__file__).resolve().parent / "results"
MODEL, DATA = "gan", "fashion-mnist"
BATCH, WIDTH, LATENT, DEPTH = 64, 64, 64, 3  # aegan's image defaults (checked against make_config below)
LR, BETAS = 2e-4, (0.5, 0.999)
LOG_EVERY = 10  # the first metrics record (step 10) absorbs warm-up; timing runs from it to the last record
TARGET_S = 25.0  # auto --steps: about this many seconds per measurement
MIN_STEPS, MAX_STEPS = 100, 600


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


# --- machine -------------------------------------------------------------------------------------

def loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class OtherLoad:
    """CPU time used by other processes during a measurement, in cores (from /proc/stat minus our own time).

    Anything well above 0 means the measurement shared the cores with someone else and is slower than the machine.
    """

    def __enter__(self) -> OtherLoad:
        self.value: float | None = None
        self._start = self._sample()
        return self

    def __exit__(self, *exc: Any) -> None:
        end = self._sample()
        if self._start is not None and end is not None and end[0] > self._start[0]:
            wall, busy, own = (e - s for e, s in zip(end, self._start))
            self.value = max(0.0, (busy - own) / wall)

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / hz  # all but idle and iowait
        t = os.times()
        return time.perf_counter(), busy, t.user + t.system


# --- matmul peak ---------------------------------------------------------------------------------

# --- bare loop -----------------------------------------------------------------------------------

class Bare:
    """aegan's gan step in plain PyTorch: x' = G(z) once, D phase on (x, x'.detach()), then G phase through D."""

    def __init__(self, x_train: Any, seed: int = 0) -> None:
        import torch

        from aegan.nets import build_decoder, build_encoder

        torch.manual_seed(seed)
        self.x_train = x_train
        self.G = build_decoder(LATENT, tuple(x_train.shape[1:]), WIDTH, DEPTH)
        self.D = build_encoder(tuple(x_train.shape[1:]), 1, WIDTH, DEPTH)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=LR, betas=BETAS)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=LR, betas=BETAS)

    def step(self) -> None:
        import torch
        import torch.nn.functional as F

        G, D = self.G, self.D
        x = self.x_train[torch.randint(0, len(self.x_train), (BATCH,))]
        G.requires_grad_(True)
        D.requires_grad_(True)
        x_fake = G(torch.randn(BATCH, LATENT))  # shared by both phases
        # D phase: G frozen
        G.requires_grad_(False)
        loss_d = F.softplus(-D(x)).mean() + F.softplus(D(x_fake.detach())).mean()
        self.opt_D.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_D.step()
        # G phase: D frozen, gradients flow through D into G
        D.requires_grad_(False)
        G.requires_grad_(True)
        loss_g = F.softplus(-D(x_fake)).mean()
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()

    def seconds_per_step(self, steps: int, warmup: int = LOG_EVERY) -> tuple[float, list[float]]:
        """Mean seconds per step over `steps` after `warmup`, and the per-step time of each LOG_EVERY-step block."""
        for _ in range(warmup):
            self.step()
        blocks = []
        t0 = t = time.perf_counter()
        for i in range(1, steps + 1):
            self.step()
            if i % LOG_EVERY == 0:
                now = time.perf_counter()
                blocks.append((now - t) / LOG_EVERY)
                t = now
        return (time.perf_counter() - t0) / steps, blocks


def count_flops(fn: Any) -> tuple[int, dict[str, int]]:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    per_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), per_op


def aegan_step_flops(x_train: Any) -> int | None:
    """Cross-check: FLOPs of one step of aegan's own train_step (should equal the bare loop's)."""
    try:
        import torch

        from aegan.loop.configure import make_config
        from aegan.models import build_model
        from aegan.train import train_step

        cfg, _ = make_config(MODEL, DATA, steps=1, overrides={"progress": False})
        model = build_model(cfg, tuple(x_train.shape[1:]))
        nets = dict(model.nets.items())
        phases = model.phases()
        opts = {p.name: torch.optim.Adam([q for n in p.nets for q in nets[n].parameters()], lr=LR, betas=BETAS)
                for p in phases}
        x = x_train[:BATCH]
        train_step(model, nets, phases, opts, x, 0, LR)
        return count_flops(lambda: train_step(model, nets, phases, opts, x, 1, LR))[0]
    except Exception as e:  # the cross-check must not break the benchmark if aegan's internals move
        log(f"speed: could not count FLOPs of aegan's train_step ({type(e).__name__}: {e})")
        return None


# --- aegan's loop --------------------------------------------------------------------------------

def aegan_seconds_per_step(steps: int) -> tuple[float, int, list[float]]:
    """Run the real aegan.train.fit for `steps` steps; seconds per step between the first and last metrics record."""
    from aegan.loop.configure import make_config
    from aegan.loop.run_folder import prepare_out
    from aegan.train import fit

    cfg, ds = make_config(MODEL, DATA, steps=steps, overrides={
        "progress": False, "log_every": LOG_EVERY, "sample_every": steps, "checkpoint_every": steps})
    got = (cfg.batch_size, cfg.net.width, cfg.net.latent_dim, cfg.optim.lr, (cfg.optim.beta1, cfg.optim.beta2))
    want = (BATCH, WIDTH, LATENT, LR, BETAS)
    if got != want:
        log(f"speed: warning: aegan's defaults (batch, width, latent, lr, betas) = {got} differ from the bare "
            f"loop's {want}: the comparison is not like for like")
    with tempfile.TemporaryDirectory(prefix="aegan-speed-") as tmp:
        out = prepare_out(Path(tmp) / "run", cfg, overwrite=True)
        fit(cfg, ds, out)
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    first, last = records[0], records[-1]
    span = last["step"] - first["step"]
    if span <= 0:
        raise RuntimeError(f"metrics.jsonl has no two records to time between (steps {steps})")
    blocks = [(b["time_s"] - a["time_s"]) / (b["step"] - a["step"]) for a, b in zip(records, records[1:])]
    return (last["time_s"] - first["time_s"]) / span, span, blocks


def quantile(values: list[float], q: float) -> float:
    v = sorted(values)
    i = q * (len(v) - 1)
    lo = int(i)
    return v[lo] + (v[min(lo + 1, len(v) - 1)] - v[lo]) * (i - lo)


# --- main ----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    from aegan.bench.machine import machine, matmul_gflops

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (else a summary)")
    p.add_argument("--rounds", type=int, default=3, help="bare/aegan measurement pairs, interleaved (>= 2; default 3)")
    p.add_argument("--steps", type=int, default=0,
                   help=f"training steps of each aegan run (a multiple of {LOG_EVERY}, > {LOG_EVERY}); "
                        f"0 = choose for ~{TARGET_S:.0f} s per measurement (default)")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 rounds of 30 steps, nothing saved")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/speed-*.json")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.no_save = 2, args.steps or 30, True
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.steps and (args.steps <= LOG_EVERY or args.steps % LOG_EVERY):
        p.error(f"--steps must be a multiple of {LOG_EVERY} above {LOG_EVERY}")

    # Whatever aegan, Lightning or C code prints goes to stderr; the JSON goes to the real stdout at the end.
    sys.stdout.flush()
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    started = time.perf_counter()
    load_before = loadavg()
    import torch

    import aegan.data
    from aegan.errors import DataError

    try:
        x_train = aegan.data.load(DATA).train
    except DataError as e:
        log(str(e))
        return 2
    threads = torch.get_num_threads()
    log(f"speed: torch {torch.__version__}, {threads} threads, load average {load_before}")

    bare = Bare(x_train)
    for _ in range(5):
        bare.step()
    flops, per_op = count_flops(bare.step)
    flops_aegan = aegan_step_flops(x_train)
    if flops_aegan is not None and abs(flops_aegan - flops) > 0.01 * flops:
        log(f"speed: warning: aegan's train_step counts {flops_aegan / 1e9:.3f} GFLOP, the bare loop "
            f"{flops / 1e9:.3f}: the bare loop no longer runs the same ops")
    steps = args.steps
    if not steps:
        t_cal = bare.seconds_per_step(LOG_EVERY, warmup=2)[0]
        steps = int(min(MAX_STEPS, max(MIN_STEPS, round(TARGET_S / t_cal / LOG_EVERY) * LOG_EVERY)))
        log(f"speed: calibration {t_cal * 1e3:.1f} ms/step -> {steps} steps per measurement")
    timed = steps - LOG_EVERY
    log(f"speed: {flops / 1e9:.3f} GFLOP per step; {args.rounds} rounds of {timed} timed steps")

    mm, bare_s, aegan_s, other = [], [], [], []
    bare_blocks: list[float] = []
    aegan_blocks: list[float] = []
    for r in range(args.rounds):
        with OtherLoad() as load:
            mm.append(matmul_gflops())
            bare = Bare(x_train, seed=r)
            s, blocks = bare.seconds_per_step(timed)
            bare_s.append(s)
            bare_blocks += blocks
            del bare
            s, span, blocks = aegan_seconds_per_step(steps)
        assert span == timed, (span, timed)
        aegan_s.append(s)
        aegan_blocks += blocks
        other.append(load.value)
        log(f"speed: round {r + 1}/{args.rounds}: matmul {mm[-1]:.1f} GFLOP/s, bare {bare_s[-1] * 1e3:.1f} ms, "
            f"aegan {aegan_s[-1] * 1e3:.1f} ms per step; other processes used {load.value or 0:.2f} cores")
    busy = [v for v in other if v is not None and v > 0.2]
    if busy:
        log(f"speed: warning: other processes used up to {max(busy):.2f} cores during {len(busy)} of "
            f"{args.rounds} rounds: the numbers are slower and noisier than this machine; run it again when idle")
    if torch.get_num_threads() != threads:
        log(f"speed: warning: aegan's fit changed torch threads from {threads} to {torch.get_num_threads()}")

    matmul = max(mm)
    t_bare, t_aegan = statistics.median(bare_s), statistics.median(aegan_s)
    # Fast quantile of the LOG_EVERY-step blocks over all rounds: what the step costs when no other process
    # interferes (interference only ever adds time). Same statistic for both loops.
    q_bare, q_aegan = quantile(bare_blocks, 0.1), quantile(aegan_blocks, 0.1)
    step_gflops = flops / t_aegan / 1e9
    now = dt.datetime.now().astimezone()
    result = {
        "benchmark": "speed",
        "model": MODEL, "data": DATA, "batch_size": BATCH, "width": WIDTH, "latent_dim": LATENT,
        "matmul_gflops": round(matmul, 2),
        "step_gflop": round(flops / 1e9, 4),
        "step_gflops": round(step_gflops, 2),
        "bare_step_gflops": round(flops / t_bare / 1e9, 2),
        "efficiency": round(step_gflops / matmul, 4),
        "bare_efficiency": round(flops / t_bare / 1e9 / matmul, 4),
        "overhead": round(t_aegan / t_bare - 1, 4),
        "aegan_step_ms": round(t_aegan * 1e3, 2),
        "bare_step_ms": round(t_bare * 1e3, 2),
        "p10": {"note": f"10th percentile of {LOG_EVERY}-step block times over all rounds: robust to other processes",
                "aegan_step_ms": round(q_aegan * 1e3, 2), "bare_step_ms": round(q_bare * 1e3, 2),
                "step_gflops": round(flops / q_aegan / 1e9, 2),
                "efficiency": round(flops / q_aegan / 1e9 / matmul, 4),
                "overhead": round(q_aegan / q_bare - 1, 4)},
        "rounds": args.rounds,
        "timed_steps": timed,
        "per_round": {"matmul_gflops": [round(v, 2) for v in mm],
                      "bare_step_ms": [round(v * 1e3, 2) for v in bare_s],
                      "aegan_step_ms": [round(v * 1e3, 2) for v in aegan_s],
                      "other_processes_cores": [None if v is None else round(v, 2) for v in other]},
        "flops_by_op": per_op,
        "aegan_train_step_gflop": None if flops_aegan is None else round(flops_aegan / 1e9, 4),
        "threads": threads,
        "torch": torch.__version__,
        "machine": machine(),
        "load_average": {"before": load_before, "after": loadavg()},
        "quick": bool(args.quick),
        "date": now.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(result, indent=None if args.json else 2)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"speed-{now:%Y%m%d-%H%M%S}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        log(f"speed: wrote {path}")
    if args.json:
        json_out.write(text + "\n")
    else:
        json_out.write(f"matmul {matmul:.1f} GFLOP/s | step {flops / 1e9:.2f} GFLOP | aegan {t_aegan * 1e3:.1f} ms "
                       f"({step_gflops:.1f} GFLOP/s) | bare {t_bare * 1e3:.1f} ms | "
                       f"efficiency {step_gflops / matmul:.2f} "
                       f"(target >= 0.55) | overhead {t_aegan / t_bare - 1:+.3f} (target <= 0.10)\n")
    json_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
