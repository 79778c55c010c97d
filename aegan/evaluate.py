"""Scoring a run: draws samples with a named sampler and writes the eval.json keys of DESIGN §3.

Also draws the pictures the report shows next to the numbers (RUN/report/*.png): the scored samples,
and for encoder models held-out reconstructions and latent interpolations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from aegan import metrics, plots
from aegan.checkpoint import atomic_write_text
from aegan.errors import AeganError, DataError
from aegan.run import Run

MAX_TEST = 10_000  # held-out examples used for reconstruction error and code KL


def evaluate(run: Run | str | Path, n: int = 10_000, sampler: str | None = None, seed: int = 0,
             write: bool = True) -> dict[str, Any]:
    """Score `run` on `n` samples drawn with `sampler` (default: the model's default) and `seed`.

    Writes RUN/eval.json and the report pictures unless `write` is False. Returns the eval.json dict.
    """
    if not isinstance(run, Run):
        run = Run.load(run)
    if n < 1:
        raise AeganError(f"--n must be at least 1, got {n}")
    sampler = sampler or run.default_sampler
    x_model = run.sample_model(n, sampler=sampler, seed=seed)  # (n, *shape), model scale
    samples = run.transform.to_data(x_model)  # data units and layout
    scores: dict[str, Any] = {}
    if run.modes is not None:
        centres, std = run.modes
        scores.update(metrics.mode_stats(samples.reshape(n, -1), centres, std))
    test = None
    if run.model.has_encoder:
        try:
            test = run.data().test[:MAX_TEST]
        except DataError as e:
            print(f"aegan: warning: {e}; skipping recon_error_test and code_kl", flush=True)
    if test is not None:
        scores.update(encoder_scores(run, test, seed))
    scores.update({"n_samples": n, "seed": seed, "step": run.step, "sampler": sampler})
    if write:
        atomic_write_text(run.path / "eval.json", json.dumps(scores, indent=2) + "\n")
        draw_pictures(run, x_model, sampler, test)
    return scores


def encoder_scores(run: Run, x_test: torch.Tensor, seed: int) -> dict[str, float]:
    """recon_error_test: mean squared error per element of held-out reconstructions, on the model's scale
    (vectors standardized, images in [-1, 1]). code_kl: KL(q(z) ‖ p(z)) between the aggregate posterior of
    held-out codes and the prior, by the density-ratio trick (aegan.density_ratio.estimate_kl)."""
    from aegan.density_ratio import estimate_kl

    z_hat = run.encode_model(x_test)
    with torch.no_grad():
        x_rec = run.model.generate(z_hat.to(run.model.device)).cpu()
    recon = float((x_rec - x_test).square().flatten(1).mean(1).mean())
    scores = {"recon_error_test": recon}
    if len(z_hat) >= 100:  # the classifier needs enough held-out codes to train and to score on
        z_prior = run.model.prior(len(z_hat), "cpu", generator=torch.Generator().manual_seed(seed))
        scores["code_kl"] = float(estimate_kl(z_hat, z_prior, seed=seed))
    return scores


@torch.no_grad()
def draw_pictures(run: Run, x_model: torch.Tensor, sampler: str, test: torch.Tensor | None) -> None:
    """RUN/report/samples.png (the scored samples); for encoder models also reconstructions.png and
    interpolations.png of held-out data."""
    folder = run.path / "report"
    folder.mkdir(exist_ok=True)
    title = f"{run.config.model} on {run.config.data}, step {run.step}"
    vector = run.info["kind"] == "vector"
    centres = run.modes[0].numpy() if run.modes is not None else None

    def picture(x: torch.Tensor, name: str, caption: str, nrow: int | None = None) -> None:
        if vector:
            plots.scatter_png(run.transform.to_data(x).numpy(), folder / f"{name}.png", centres=centres,
                              title=f"{title}\n{caption}")
        else:
            plots.image_grid_png(((x.clamp(-1, 1) + 1) / 2).numpy(), folder / f"{name}.png", nrow=nrow)

    picture(x_model[:2000 if vector else 64], "samples", f"samples, sampler {sampler}")
    if test is None:
        return
    model = run.model
    if vector:
        x = test[:2000]
        picture(model.generate(run.encode_model(x).to(model.device)).cpu(), "reconstructions",
                "held-out reconstructions G(E(x))")
    else:
        x = test[:32]
        x_rec = model.generate(run.encode_model(x).to(model.device)).cpu()
        rows = torch.stack([x.reshape(4, 8, *x.shape[1:]), x_rec.reshape(4, 8, *x.shape[1:])], 1)
        picture(rows.reshape(64, *x.shape[1:]), "reconstructions", "", nrow=8)  # rows: data, reconstruction
    # Latent interpolations: decode (1 − t)·E(a) + t·E(b) for pairs of held-out examples.
    g = torch.Generator().manual_seed(0)
    pairs = torch.randint(len(test), (16 if vector else 8, 2), generator=g)
    z = run.encode_model(test[pairs.flatten()]).reshape(len(pairs), 2, -1)
    t = torch.linspace(0, 1, 100 if vector else 10)[None, :, None]
    path = (1 - t) * z[:, :1] + t * z[:, 1:]  # (pairs, steps, latent_dim)
    decoded = model.generate(path.reshape(-1, z.shape[-1]).to(model.device)).cpu()
    picture(decoded, "interpolations", "decoded latent interpolations between held-out pairs",
            nrow=None if vector else 10)

