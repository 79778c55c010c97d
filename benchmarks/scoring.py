"""Scoring benchmark: how long `aegan eval` spends on the evaluator's features, and on a whole score.

    python benchmarks/scoring.py                          # fashion-mnist, ~2 min on 2 cores (evaluators cached)
    python benchmarks/scoring.py --data stacked-fashion-mnist
    python benchmarks/scoring.py --quick                  # 1 round of 2,000 images, nothing saved

At one thread (as a `bench --jobs` worker scores), interleaved over `--rounds` rounds:
- embed: the evaluator's features of 10,000 held-out images as `Evaluator.embed` computes them (passes of
  EMBED_BATCH images in channels-last memory) against the way it did before (passes of 2,048 in the default layout);
  `embed_speedup` = old / new, medians over rounds; `same_features` checks that both give the same features;
- score: `sample_scores` (every image metric, with the check classifier's fd) of 10,000 samples (held-out images
  with noise, a stand-in that needs no trained model) against the data set, the first time in the process and a
  second time on other samples: the second reuses the real reference's features and NDB's bins
  (`score_second_over_first`).
Results: one JSON object on stdout and in benchmarks/results/scoring-<YYYYmmdd-HHMMSS>.json. Exit 2 (one line)
when the data set is missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import RESULTS, loadavg, log  # noqa: E402

OLD_PASS = 2048  # the evaluator's pass before it embedded in channels-last passes of EMBED_BATCH


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--quick", action="store_true", help="1 round of 2,000 images, nothing saved")
    a = p.parse_args(argv)
    rounds, n = (1, 2000) if a.quick else (a.rounds, a.n)
    from aegan.data import load
    from aegan.errors import AeganError

    try:
        ds = load(a.data)
    except AeganError as e:
        print(f"scoring: {e}", file=sys.stderr)
        return 2
    import torch

    from aegan.bench.machine import machine
    from aegan.evaluate import sample_scores
    from aegan.loop.distributed import one_thread
    from aegan.metrics import evaluator as evaluator_lib

    one_thread()
    ev = evaluator_lib.for_data(ds)
    sample_scores(ds, ds.test[:200].float(), check=True)  # every judge trained and cached before timing
    x = ds.test[:n].float()

    @torch.no_grad()
    def old_embed() -> torch.Tensor:
        net = ev.net.to(memory_format=torch.contiguous_format)
        try:
            return torch.cat([net.body(c[i:i + OLD_PASS]) for c in ev._channels(x) for i in range(0, len(c), OLD_PASS)]
                             ).view(len(ev._channels(x)), len(x), -1).permute(1, 0, 2).flatten(1)
        finally:
            net.to(memory_format=torch.channels_last)

    load_before = loadavg()
    times: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(rounds):
        for name, f in (("old", old_embed), ("new", lambda: ev.embed(x).features)):
            t = time.perf_counter()
            out = f()
            times[name].append(time.perf_counter() - t)
            if name == "old":
                old_features = out
            else:
                same = bool(torch.allclose(old_features, out, atol=1e-4))
            log(f"scoring: round {r + 1}/{rounds} embed {name}: {times[name][-1]:.2f} s")
    g = torch.Generator().manual_seed(0)
    score_s = []
    for k in range(2):
        fake = (x + 0.1 * (k + 1) * torch.randn(x.shape, generator=g)).clamp(-1, 1)
        t = time.perf_counter()
        sample_scores(ds, fake, check=True)
        score_s.append(time.perf_counter() - t)
        log(f"scoring: score {k + 1}: {score_s[-1]:.1f} s")
    old_s, new_s = statistics.median(times["old"]), statistics.median(times["new"])
    result = {
        "benchmark": "scoring", "date": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "data": a.data, "n": n, "rounds": rounds,
        "loadavg_before": load_before, "embed_old_s": round(old_s, 3), "embed_new_s": round(new_s, 3),
        "embed_speedup": round(old_s / new_s, 2), "same_features": same,
        "all_s": {k: [round(v, 3) for v in t] for k, t in times.items()},
        "score_first_s": round(score_s[0], 2), "score_second_s": round(score_s[1], 2),
        "score_second_over_first": round(score_s[1] / score_s[0], 3),
    }
    print(json.dumps(result))
    if not a.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"scoring-{dt.datetime.now():%Y%m%d-%H%M%S}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
