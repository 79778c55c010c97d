"""Class- and cluster-conditioned chains in code space, judged by a classifier the chains never saw.

    python benchmarks/ppgn.py RUN [--n 100] [--samplers ppgn,mala] [--chain KEY=VALUE ...] [--fixed]
                              [--clusters] [--out benchmarks/results/ppgn]
    python benchmarks/ppgn.py --table RESULT.json [RESULT.json ...]      # the README's markdown table

For each class K of the run's (labelled image) data and each chain sampler: n samples as `aegan sample RUN --sampler
S --label K --n n` draws them (aegan.run.Run.chain_sample: the chains climb the *condition network*), then
- hit rate: the share the *check classifier* (aegan.metrics.evaluator ROLES["check"]: another architecture and seed,
  which neither the chains nor the model trained against) assigns to class K, beside its accuracy on the real
  held-out images of class K (the issue's bar: the mean hit rate at most 5 points below the mean accuracy);
- MS-SSIM diversity of the samples beside that of 100 held-out images of class K (lower = more diverse);
- precision (k = 5, in the evaluator's features, which only score) of the samples against the held-out images of
  class K, beside that of n held-out images of K against the others: how many samples look like real members of
  the class, which a classifier's hit does not say (a chain can climb to an image both classifiers call K);
- the chains' mean stopping step, and for mala the acceptance rate.
--fixed adds the same samplers with stop=none (the released sampler's fixed number of steps) for the stopping rule's
comparison. --clusters: for each component K of the codes' GMM, chains of each sampler conditioned on the cluster
(no labels), and the purity (share of the most common check-classifier class) of the samples beside that of the
training examples whose codes the GMM assigns to K. Writes OUT/ppgn-<time>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def class_rows(run: Any, check: Any, sampler: str, chain: list[str], n: int, seed: int, tag: str) -> list[dict]:
    from aegan.metrics.diversity import msssim_diversity
    from aegan.metrics.evaluator import for_data
    from aegan.metrics.prdc import prdc
    from aegan.samplers.chains import ChainSettings

    ds = run.data()
    evaluator = for_data(ds)  # scores only: the realism of the samples, in features no chain climbed
    settings = ChainSettings.parse(chain)
    rows = []
    for k in range(int(ds.labels_test.max()) + 1):
        start = time.perf_counter()
        x, result = run.chain_sample(n, sampler, label=k, seed=seed + k, settings=settings)
        seconds = time.perf_counter() - start
        real = ds.test[ds.labels_test == k]
        # precision (Kynkäänniemi et al. 2019, k = 5): the share of the samples inside the manifold of the real
        # held-out images of class K; the same for n held-out images of K against the others of K, as the reference
        ref, held = evaluator.features(real[n:]), evaluator.features(real[:n])
        precision = prdc(ref, evaluator.features(x))["precision"]
        precision_data = prdc(ref, held)["precision"]
        record = result.record()
        rows.append({
            "variant": tag, "sampler": sampler, "class": k,
            "hit_rate": float((check.predict(x) == k).float().mean()),
            "condition_hit_rate": float((run.condition_network().predict(x) == k).float().mean()),
            "real_accuracy": float((check.predict(real) == k).float().mean()),
            "precision": precision, "precision_data": precision_data,
            "msssim": msssim_diversity((x.clamp(-1, 1) + 1) / 2),
            "msssim_data": msssim_diversity((real[:n].clamp(-1, 1) + 1) / 2),
            "mean_steps": record["mean_steps"], "acceptance": record.get("mean_acceptance"),
            "seconds": round(seconds, 1), "reason": result.reasons[0],
        })
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def cluster_rows(run: Any, check: Any, chain: list[str], n: int, seed: int, sampler: str) -> list[dict]:
    import torch

    from aegan.samplers.chains import ChainSettings

    gmm = run.code_sampler("gmm")
    codes = run.training_codes()
    ds = run.data()
    idx = run.training_indices()  # the examples whose codes the GMM was fitted to
    assigned = gmm.log_joint(codes).argmax(1)  # the component each training code belongs to
    members_pred = torch.cat([check.predict(b) for b in ds.train[idx].split(2000)])
    rows = []
    for k in range(len(gmm.weights)):
        members = members_pred[assigned == k]
        if len(members) < 10:
            continue
        x, result = run.chain_sample(n, sampler, cluster=k, seed=seed + k, settings=ChainSettings.parse(chain))
        pred = check.predict(x)
        rows.append({
            "sampler": sampler, "cluster": k, "members": len(members),
            "purity_members": float(members.bincount().max() / len(members)),
            "purity_samples": float(pred.bincount().max() / len(pred)),
            "class_members": int(members.bincount().argmax()), "class_samples": int(pred.bincount().argmax()),
            "mean_steps": result.record()["mean_steps"],
        })
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    out = []
    for key in dict.fromkeys((r["variant"], r["sampler"]) for r in rows):
        part = [r for r in rows if (r["variant"], r["sampler"]) == key]
        keys = ("hit_rate", "condition_hit_rate", "real_accuracy", "precision", "precision_data", "msssim",
                "msssim_data", "mean_steps", "seconds")
        mean = {k: sum(r[k] for r in part) / len(part) for k in keys}
        acc = [r["acceptance"] for r in part if r["acceptance"] is not None]
        out.append({"variant": key[0], "sampler": key[1], **{k: round(v, 4) for k, v in mean.items()},
                    "acceptance": round(sum(acc) / len(acc), 3) if acc else None})
    return out


def markdown(results: list[dict]) -> str:
    """Per-class table of one or more results (hit rate by the check classifier, its accuracy on real held-out
    images, MS-SSIM of samples and data, mean steps), then the cluster purities."""
    cols = [(r["model"], s["variant"], s["sampler"]) for r in results for s in r["summary"]]
    head = "| class | real acc. | " + " | ".join(f"{m} {s} ({v}): hit / precision / MS-SSIM / steps"
                                              for m, v, s in cols) + " | data: precision / MS-SSIM |"
    lines = [head, "|" + "---|" * (len(cols) + 3)]
    first = results[0]["classes"]
    for k in sorted({row["class"] for row in first}):
        cells = []
        real = data = None
        for r in results:
            for s in r["summary"]:
                row = next(c for c in r["classes"] if c["class"] == k and c["variant"] == s["variant"]
                           and c["sampler"] == s["sampler"])
                real, data = row["real_accuracy"], f"{row['precision_data']:.2f} / {row['msssim_data']:.2f}"
                cells.append(f"{row['hit_rate']:.2f} / {row['precision']:.2f} / {row['msssim']:.2f} / "
                             f"{row['mean_steps']:.0f}")
        lines.append(f"| {k} | {real:.2f} | " + " | ".join(cells) + f" | {data} |")
    means = [f"**{s['hit_rate']:.3f}** / {s['precision']:.3f} / {s['msssim']:.3f} / {s['mean_steps']:.0f}"
             for r in results for s in r["summary"]]
    first_summary = results[0]["summary"][0]
    lines.append(f"| mean | {first_summary['real_accuracy']:.3f} | " + " | ".join(means) +
                 f" | {first_summary['precision_data']:.3f} / {first_summary['msssim_data']:.3f} |")
    for r in results:
        for sampler in dict.fromkeys(c["sampler"] for c in r["clusters"]):
            part = [c for c in r["clusters"] if c["sampler"] == sampler]
            pm = sum(c["purity_members"] for c in part) / len(part)
            ps = sum(c["purity_samples"] for c in part) / len(part)
            wins = sum(c["purity_samples"] >= c["purity_members"] for c in part)
            lines.append(f"\n{r['model']}, {sampler} --cluster K over the {len(part)} components of the GMM: mean "
                         f"purity of the samples {ps:.3f}, of the components' training members {pm:.3f}; the samples "
                         f"are at least as pure in {wins} of {len(part)}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", help="a run folder with an encoder, trained on labelled images")
    p.add_argument("--table", nargs="+", metavar="RESULT.json", help="print the markdown table of earlier results")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--samplers", default="ppgn,mala")
    p.add_argument("--chain", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--fixed", action="store_true", help="also run each sampler with stop=none")
    p.add_argument("--clusters", action="store_true", help="also condition ppgn on each GMM component")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/ppgn")
    a = p.parse_args(argv)
    if a.table:
        print(markdown([json.loads(Path(f).read_text()) for f in a.table]))
        return 0

    import aegan
    from aegan.metrics.evaluator import for_data

    run = aegan.load(a.run)
    check = for_data(run.data(), role="check")
    rows: list[dict] = []
    for sampler in a.samplers.split(","):
        rows += class_rows(run, check, sampler, a.chain, a.n, a.seed, "rule")
        if a.fixed:
            rows += class_rows(run, check, sampler, a.chain + ["stop=none"], a.n, a.seed, "fixed")
    clusters = [row for sampler in a.samplers.split(",") for row in cluster_rows(run, check, a.chain, a.n, a.seed,
                                                                                  sampler)] if a.clusters else []
    result = {"run": str(a.run), "model": run.config.model, "data": run.config.data, "step": run.step, "n": a.n,
              "chain": a.chain, "check": check.describe(), "summary": summary(rows), "classes": rows,
              "clusters": clusters, "date": time.strftime("%Y-%m-%d %H:%M")}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ppgn-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    for row in result["summary"]:
        print(row)
    for sampler in dict.fromkeys(r["sampler"] for r in clusters):
        part = [r for r in clusters if r["sampler"] == sampler]
        pm = sum(r["purity_members"] for r in part) / len(part)
        ps = sum(r["purity_samples"] for r in part) / len(part)
        wins = sum(r["purity_samples"] >= r["purity_members"] for r in part)
        print(f"clusters ({sampler}): purity of samples {ps:.3f} vs members {pm:.3f}; samples at least as pure in "
              f"{wins} of {len(part)}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
