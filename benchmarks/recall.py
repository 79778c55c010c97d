"""Where a run's recall comes from: its samples' recall taken apart, and its reconstructions' recall beside it.

    python benchmarks/recall.py RUN [RUN ...]                 # each run through its default sampler
    python benchmarks/recall.py RUN --sampler prior --json

Kynkäänniemi et al.'s recall (k = 3, the metric `aegan eval` reports) counts a real image as covered when it lies
inside the k-NN ball of any sample, however far that sample lies from the data; a sample far from the data has a
large ball. Two samplers can then have the same recall for different reasons: samples spread like the data, or a few
outlying samples with wide balls. For 10,000 samples (the evaluator's draws, `aegan eval`'s seed) and as many training
images (the evaluator's reference), in the evaluator's features, this prints:

- precision and recall, as `aegan eval` computes them;
- recall_precise: recall counting only the samples inside the data's manifold (those that make precision);
- recall_trimmed: recall without the tenth of the samples with the largest balls;
- radius2_fake, radius2_real: the median squared distance to the third nearest neighbour within the samples and
  within the real images (samples closer together than the data are under-dispersed, farther apart over-dispersed);
- for a run with an encoder, recall_recon and precision_recon: the same metrics for the reconstructions G(E(x)) of the
  10,000 test images: what an exact model of the codes would decode to (eval.json's keys, aegan.evaluate).

Scoring only: nothing is trained or written. Exit 2 (one line) for a folder that is not a run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

TRIM = 0.1  # share of the samples with the largest balls left out of recall_trimmed
K = 3  # Kynkäänniemi et al.'s k, as aegan.metrics.prdc with k_pr = 3


def recall_parts(real: torch.Tensor, fake: torch.Tensor, k: int = K, trim: float = TRIM) -> dict[str, float]:
    """precision, recall, recall_precise, recall_trimmed, radius2_fake, radius2_real of features fake (M, D) against
    real (N, D), with the radius and open-ball conventions of aegan.metrics.prdc."""
    from aegan.metrics._features import knn_sq_radii, row_blocks, sq_dists

    centre = real.mean(0)
    real, fake = (real - centre).double(), (fake - centre).double()
    r_real, r_fake = knn_sq_radii(real, k), knn_sq_radii(fake, k)
    fake_sq = (fake * fake).sum(1)
    blocks = list(row_blocks(len(real), len(fake)))
    precise = torch.zeros(len(fake), dtype=torch.bool)  # sample inside some real ball: needs every real block first
    for a, b in blocks:
        precise |= (sq_dists(real[a:b], fake, fake_sq) < r_real[a:b, None]).any(0)
    masks = {"recall": torch.ones_like(precise), "recall_precise": precise,
             "recall_trimmed": r_fake <= torch.quantile(r_fake, 1 - trim)}
    covered = {name: torch.zeros(len(real), dtype=torch.bool) for name in masks}
    for a, b in blocks:  # one more pass over the distances for the three recalls
        inside = sq_dists(real[a:b], fake, fake_sq) < r_fake[None, :]  # real i in sample j's ball
        for name, mask in masks.items():
            covered[name][a:b] = (inside & mask[None, :]).any(1)
    return {"precision": float(precise.double().mean()),
            **{name: float(c.double().mean()) for name, c in covered.items()},
            "radius2_fake": float(r_fake.median()), "radius2_real": float(r_real.median())}


def measure(folder: str, sampler: str | None, n: int) -> dict[str, Any]:
    import aegan
    from aegan.errors import AeganError
    from aegan.evaluate import encoder_scores, reference_images
    from aegan.metrics import evaluator as evaluator_lib

    run = aegan.load(folder)
    ds = run.data()
    if ds.kind != "image":
        raise AeganError(f"{folder} was trained on vectors; recall here is read in the evaluator's image features")
    sampler = sampler or run.default_sampler
    x = run.sample_model(n, sampler, seed=0)  # aegan eval's draws at its default seed
    ev = evaluator_lib.for_data(ds, lambda m: None)
    f_real = ev.features(reference_images(ds, n), remember=True)
    row: dict[str, Any] = {"run": Path(folder).name, "model": run.config.model, "step": run.step, "sampler": sampler,
                           **recall_parts(f_real, ev.features(x))}
    if run.model.has_encoder and len(ds.test):  # eval.json's keys, computed as `aegan eval` does
        rec = encoder_scores(run, ds.test[:n].float(), seed=0, n=n)
        row.update({k: rec[k] for k in ("precision_recon", "recall_recon") if k in rec})  # not below 100 images
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("--sampler", default=None, help="a sampler of the run (default: the run's default)")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--json", action="store_true", help="one JSON object per run instead of a line")
    args = p.parse_args(argv)
    from aegan.errors import AeganError

    for folder in args.runs:
        try:
            row = measure(folder, args.sampler, args.n)
        except AeganError as e:
            print(f"benchmarks/recall.py: {e}", file=sys.stderr)
            return 2
        print(json.dumps(row) if args.json else
              f"{row['run']} ({row['model']}, step {row['step']}, {row['sampler']}): "
              + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
