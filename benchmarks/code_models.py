"""Every sampler of trained encoder runs side by side: the prior and each code model, scored on images.

    python benchmarks/code_models.py RUN [RUN ...] [--n 10000] [--out benchmarks/results/code-models]

For each run: the default code model is chosen as `aegan eval` would (aegan.samplers.selection: every candidate
fitted on codes of 20,000 training examples, scored on codes of 5,000 held-out examples), then `n` samples are
drawn through each of prior, gaussian, gmm, twostage, flow and diffusion and scored with aegan's evaluator
(aegan.evaluate, nothing written to the run's eval.json). Reported per sampler: fd, precision, recall, coverage,
modes_covered, kl_modes, the held-out log-likelihood per code dimension (selection.json), the fit time (from
selection.json: the fit made in this process or earlier) and the time to draw `n` codes from the code model (the
decoding that follows is the same for every sampler). Writes OUT/results.json and OUT/table.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

SAMPLERS = ("prior", "gaussian", "gmm", "twostage", "flow", "diffusion")
KEYS = ("run", "sampler", "default", "fd", "precision", "recall", "coverage", "modes_covered", "kl_modes",
        "code_loglik", "fit_s", "sample_s")


def score_run(folder: Path, n: int, seed: int) -> list[dict[str, Any]]:
    import torch

    import aegan

    run = aegan.load(folder)
    selection = run.code_model_selection()
    rows = []
    for sampler in SAMPLERS:
        sample_s = None
        if sampler != "prior":
            code_model = run.code_sampler(sampler)
            start = time.perf_counter()
            code_model.sample(n, torch.Generator().manual_seed(seed))
            sample_s = time.perf_counter() - start
        scores = aegan.evaluate(run, n=n, sampler=sampler, seed=seed, write=False)
        candidate = selection.candidates.get(sampler, {})
        row = {"run": folder.name, "sampler": sampler, "default": sampler == selection.chosen,
               **{k: scores.get(k) for k in KEYS[3:9]}, "code_loglik": candidate.get("loglik"),
               "fit_s": candidate.get("fit_s"), "sample_s": None if sample_s is None else round(sample_s, 2),
               "steps": run.step}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "**yes**" if value else ""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "code-models")
    args = parser.parse_args()
    rows = [row for folder in args.runs for row in score_run(folder, args.n, args.seed)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    table = ["| " + " | ".join(KEYS) + " |", "|" + "---|" * len(KEYS)]
    table += ["| " + " | ".join(cell(row.get(k)) for k in KEYS) + " |" for row in rows]
    (args.out / "table.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
