"""Scoring a run, or samples from any source: the eval.json keys of DESIGN §3.

`evaluate(run)` draws samples with a named sampler, scores them and draws the pictures the report shows next to
the numbers (RUN/report/*.png, described in RUN/report/pictures.json): the scored samples, and for encoder models
prior samples (when a code model was scored), held-out reconstructions and latent interpolations.
`evaluate_samples(file, data)` scores an array of samples made by anything (another library included) against a
data set. Image data is scored in the features of the data set's evaluator network
(aegan.metrics.evaluator), trained once and cached.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aegan import data as data_lib
from aegan import metrics, plots
from aegan.checkpoint import atomic_write_text
from aegan.data.base import Dataset, Transform
from aegan.errors import AeganError, DataError
from aegan.metrics import evaluator as evaluator_lib
from aegan.metrics import user_features
from aegan.run import Run

MAX_TEST = 10_000  # held-out examples used for reconstruction error and code KL
MIN_IMAGE_SAMPLES = 100  # fewer samples cannot fill NDB's 100 bins or PRDC's neighbourhoods meaningfully
NDB_BINS = 100  # Richardson & Weiss's K
REFERENCE_SEED = 7  # fixed subset of the training split that samples are compared with


def say(message: str) -> None:
    """Progress and warnings go to stderr, so that `aegan eval --json` prints nothing but JSON on stdout."""
    print(message, file=sys.stderr, flush=True)


def evaluate(run: Run | str | Path, n: int = 10_000, sampler: str | None = None, seed: int = 0,
             write: bool = True, check: bool = False, features: Any = None, temperature: float = 1.0) -> dict[str, Any]:
    """Score `run` on `n` samples drawn with `sampler` (default: the run's default sampler, for encoder models the
    code model chosen by held-out likelihood: fitted and chosen now if training did not) and `seed`, at
    `temperature` (Run.sample_model: the noise of prior, gaussian, gmm and flow draws scaled by τ; eval.json
    records it).

    `check` (image data): also fd_check, the FD in the features of a second classifier (the "check" role of
    aegan.metrics.evaluator) that no method trains against. `features` (image data): a feature network of yours
    (a callable, or a `FILE.py:NAME` spec; aegan.metrics.user_features) for fd, kid and PRDC, named in eval.json's
    `features`. Writes RUN/eval.json and the report pictures unless
    `write` is False. Returns the eval.json dict.
    """
    if not isinstance(run, Run):
        run = Run.load(run)
    if n < 1:
        raise AeganError(f"--n must be at least 1, got {n}")
    if features is not None and run.info.get("kind") != "image":
        raise AeganError("--features applies to image data; vectors are scored on themselves")
    sampler = sampler or run.default_sampler
    x_model = run.sample_model(n, sampler=sampler, seed=seed, temperature=temperature)  # (n, *shape), model scale
    samples = run.transform.to_data(x_model)  # data units and layout
    scores: dict[str, Any] = {}
    if run.modes is not None:
        centres, std = run.modes
        stats = metrics.mode_stats(samples.reshape(n, -1), centres, std)
        scores.update({k: v for k, v in stats.items() if k != "mode_counts"})  # eval.json keeps to numbers
    elif n < MIN_IMAGE_SAMPLES:
        say(f"aegan: warning: the sample metrics need at least {MIN_IMAGE_SAMPLES} samples (--n {n}); skipping them")
    else:
        try:
            scores.update(sample_scores(run.data(), x_model, seed, check=check, features=features))
        except DataError as e:
            say(f"aegan: warning: {e}; skipping the sample metrics")
    test = None
    if run.model.has_encoder:
        try:
            test = run.data().test[:MAX_TEST]
        except DataError as e:
            say(f"aegan: warning: {e}; skipping recon_error_test and code_kl")
    if test is not None:
        scores.update(encoder_scores(run, test, seed, n))
    scores.update({"n_samples": n, "seed": seed, "step": run.step, "sampler": sampler, "temperature": temperature})
    scores.update(code_model_scores(run))
    if write:
        atomic_write_text(run.path / "eval.json", json.dumps(scores, indent=2) + "\n")
        draw_pictures(run, x_model, sampler, test, seed, temperature)
    return scores


def code_model_scores(run: Run) -> dict[str, float]:
    """code_mmd_<name> and code_loglik_<name> for each candidate code model of an encoder run whose default code
    model has been chosen (at the end of training, or by this eval): the MMD² of its samples to held-out codes that
    chose it, and its mean held-out log-likelihood per code dimension in nats, exact for gaussian, gmm and flow, a
    lower bound for twostage and diffusion (aegan.samplers.selection; a candidate whose number is not finite is left
    out). The chosen one is `sampler` when no other was asked for; every candidate's full scores are in
    RUN/samplers/step_N/selection.json. Nothing is fitted here."""
    if run.model.samplers[0] == "prior":
        return {}
    selection = run.stored_code_model_selection()
    if selection is None:
        return {}
    return {f"code_{key}_{name}": row[key] for key in ("mmd", "loglik") for name, row in selection.candidates.items()
            if isinstance(row.get(key), float)}


def encoder_scores(run: Run, x_test: torch.Tensor, seed: int, n: int | None = None) -> dict[str, float]:
    """recon_error_test: mean squared error per element of held-out reconstructions, on the model's scale
    (vectors standardized, images in [-1, 1]). fd_recon (image data): the FD, in the evaluator's features, between
    the held-out images and their reconstructions G(E(x)): how sharp the autoencoder is (0 for a perfect one; the
    blur of an MSE autoencoder raises it). precision_recon, recall_recon (image data): precision and recall (k = 3)
    of the first `n` of those reconstructions (all if None) against the reference images that `n` samples are
    scored against (sample_scores), in the evaluator's features (also when the samples are scored in features of
    the user's): how much of the data the decoder reaches from the data's own codes, what an exact model of the
    codes would decode to. On recall's scale when the held-out split holds at least `n` images (fashion-mnist at
    the default 10,000, where real held-out images score about 0.87). code_kl: KL(q(z) ‖ p(z)) between the
    aggregate posterior of held-out codes and the prior, by the density-ratio trick
    (aegan.density_ratio.estimate_kl)."""
    from aegan.density_ratio import estimate_kl

    z_hat, x_rec = reconstruct(run, x_test)
    scores = {"recon_error_test": reconstruction_error(x_rec, x_test)}
    if run.info["kind"] == "image" and len(x_test) >= MIN_IMAGE_SAMPLES:
        ds = run.data()
        ev = evaluator_lib.for_data(ds, say)
        f_rec = ev.features(x_rec)
        scores["fd_recon"] = metrics.frechet_distance(ev.features(x_test, remember=True), f_rec)
        n = len(x_test) if n is None else n
        pr = metrics.precision_recall(ev.features(reference_images(ds, n), remember=True), f_rec[:n])
        scores["precision_recon"], scores["recall_recon"] = pr["precision"], pr["recall"]
    if len(z_hat) >= 100:  # the classifier needs enough held-out codes to train and to score on
        z_prior = run.model.prior(len(z_hat), "cpu", generator=torch.Generator().manual_seed(seed))
        scores["code_kl"] = float(estimate_kl(z_hat, z_prior, seed=seed))
    return scores


def reconstruct(run: Run, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes E(x), reconstructions G(E(x))) of model-scale x, on the CPU."""
    z_hat = run.encode_model(x)
    return z_hat, run.decode_model(z_hat)


def reconstruction_error(x_rec: torch.Tensor, x: torch.Tensor) -> float:
    """Mean squared error per element, averaged over examples: recon_error_test's definition."""
    return float((x_rec - x).square().flatten(1).mean(1).mean())


PICTURES_JSON = "pictures.json"  # in RUN/report/: what each picture shows and which sampler drew it
EVAL_PICTURES = ("samples.png", "prior_samples.png", "reconstructions.png", "interpolations.png")


@torch.no_grad()
def draw_pictures(run: Run, x_model: torch.Tensor, sampler: str, test: torch.Tensor | None, seed: int = 0,
                  temperature: float = 1.0) -> None:
    """The pictures of RUN/report/, and RUN/report/pictures.json saying what each shows and which sampler drew it:
    samples.png (the first of the scored samples: 64 images or 2,000 points); for encoder models scored through a
    code model also prior_samples.png (as many samples through the prior, not scored); for encoder models
    reconstructions.png (held-out originals and their reconstructions) and interpolations.png (decoded latent
    interpolations between held-out pairs). A picture of an earlier eval that this one does not draw is removed."""
    folder = run.path / "report"
    folder.mkdir(exist_ok=True)
    title = f"{run.config.model} on {run.config.data}, step {run.step}"
    vector = run.info["kind"] == "vector"
    centres = run.modes[0].numpy() if run.modes is not None else None
    n_show = 2000 if vector else 64
    drawn: dict[str, dict[str, Any]] = {}

    def unit(x: torch.Tensor) -> np.ndarray:
        return ((x.clamp(-1, 1) + 1) / 2).numpy()

    def picture(x: torch.Tensor, name: str, caption: str, nrow: int | None = None) -> None:
        if vector:
            plots.scatter_png(run.transform.to_data(x).numpy(), folder / name, centres=centres,
                              title=f"{title}\n{caption}")
        else:
            plots.image_grid_png(unit(x), folder / name, nrow=nrow)

    shown = x_model[:n_show]
    at = "" if temperature == 1 else f" at temperature {temperature:g}"
    picture(shown, "samples.png", f"scored samples, sampler {sampler}{at}")
    drawn["samples.png"] = {"shows": "scored samples", "sampler": sampler, "n": len(shown), "of": len(x_model),
                            **({} if temperature == 1 else {"temperature": temperature})}
    model = run.model
    if model.has_encoder and sampler != "prior" and "prior" in model.samplers:
        picture(run.sample_model(n_show, sampler="prior", seed=seed), "prior_samples.png",
                "prior samples (not scored)")
        drawn["prior_samples.png"] = {"shows": "prior samples", "sampler": "prior", "n": n_show}
    if test is not None:
        x = test[:2000 if vector else 32]
        x_rec = model.generate(run.encode_model(x).to(model.device)).cpu()
        if vector:
            to_data = run.transform.to_data
            plots.scatter_png(to_data(x_rec).numpy(), folder / "reconstructions.png", centres=centres,
                              title=f"{title}\nheld-out reconstructions G(E(x)) over their originals x",
                              background=to_data(x).numpy(), labels=("G(E(x))", "held-out x"))
        else:
            plots.recon_grid_png(unit(x), unit(x_rec), folder / "reconstructions.png", ncol=8)
        drawn["reconstructions.png"] = {"shows": "held-out reconstructions", "n": len(x),
                                        "layout": "overlay" if vector else "alternating rows"}
        # Latent interpolations: decode (1 − t)·E(a) + t·E(b) for pairs of held-out examples.
        g = torch.Generator().manual_seed(0)
        pairs = torch.randint(len(test), (16 if vector else 8, 2), generator=g)
        z = run.encode_model(test[pairs.flatten()]).reshape(len(pairs), 2, -1)
        t = torch.linspace(0, 1, 100 if vector else 10)[None, :, None]
        path = (1 - t) * z[:, :1] + t * z[:, 1:]  # (pairs, steps, latent_dim)
        decoded = model.generate(path.reshape(-1, z.shape[-1]).to(model.device)).cpu()
        picture(decoded, "interpolations.png", "decoded latent interpolations between held-out pairs",
                nrow=None if vector else t.shape[1])
        drawn["interpolations.png"] = {"shows": "latent interpolations", "pairs": len(pairs), "steps": t.shape[1]}
    for name in EVAL_PICTURES:
        if name not in drawn:
            (folder / name).unlink(missing_ok=True)  # from an earlier eval: it would no longer match eval.json
    atomic_write_text(folder / PICTURES_JSON, json.dumps({"step": run.step, "seed": seed, "pictures": drawn},
                                                         indent=2) + "\n")


def sample_scores(ds: Dataset, x: torch.Tensor, seed: int = 0,
                  log: Callable[[str], None] | None = None, check: bool = False,
                  features: Any = None) -> dict[str, float]:
    """Scores of samples x (N, *shape), on the model's scale, against data set ds with unknown modes.

    The real reference is a fixed random subset of ds's training split, as large as x (at least 1,000 examples,
    at most the whole split). Image data: fd, kid, precision and recall (k = 3), density and coverage (k = 5) and
    birthday_support in the evaluator's features; with labels also classifier_score, the modes counted by the
    evaluator's predictions (modes_total, modes_covered, kl_modes against the label frequencies; class triples
    on stacked data) and evaluator_accuracy; msssim_samples and msssim_data; ndb and ndb_k on pixels; with `check`
    also fd_check, the FD in the check classifier's features, and its held-out check_accuracy.
    Vector data: the feature metrics and ndb on the standardized vectors.
    `features` (image data): a feature network of the user's, or its `FILE.py:NAME` spec
    (aegan.metrics.user_features): fd, kid, PRDC and birthday_support are computed in its features instead, and
    `features` names it; the evaluator still gives the classes, and the modes.
    """
    if len(x) < MIN_IMAGE_SAMPLES:
        raise AeganError(f"scoring samples needs at least {MIN_IMAGE_SAMPLES} of them, got {len(x)}: raise --n")
    real = reference_images(ds, len(x))
    scores: dict[str, Any] = {}
    if features is not None and ds.kind != "image":
        raise AeganError("--features applies to image data; vectors are scored on themselves")
    if ds.kind == "image":
        ev = evaluator_lib.for_data(ds, log or say)
        fake = ev.embed(x)
        f_real, f_fake = ev.features(real, remember=True), fake.features
        if features is not None:
            spec = features if isinstance(features, str) else None
            f = user_features.load(features) if spec else features
            f_real, f_fake = user_features.embed(f, real), user_features.embed(f, x)
            scores["features"] = user_features.name_of(f, spec)
        if fake.probs is not None and fake.predicted is not None:
            scores["classifier_score"] = metrics.classifier_score(fake.probs)[0]
            scores.update(metrics.histogram_stats(fake.predicted, mode_weights(ds)))
            scores["evaluator_accuracy"] = ev.info["accuracy"]
        if check:  # a second judge, another architecture and seed: does the ranking hold in its features too?
            judge = evaluator_lib.for_data(ds, log or say, role="check")
            scores["fd_check"] = metrics.frechet_distance(judge.features(real, remember=True),
                                                           judge.features(x))
            if "accuracy" in judge.info:
                scores["check_accuracy"] = judge.info["accuracy"]
        scores["msssim_samples"] = metrics.msssim_diversity((x.clamp(-1, 1) + 1) / 2, seed=seed)
        scores["msssim_data"] = metrics.msssim_diversity((real + 1) / 2, seed=seed)
    else:
        f_real, f_fake = real, x.float()
    scores["fd"] = metrics.frechet_distance(f_real, f_fake)
    scores["kid"] = metrics.kid(f_real, f_fake, seed=seed)[0]
    scores.update(metrics.prdc(f_real, f_fake, k=5, k_pr=3))
    threshold = metrics.birthday_threshold(f_real)
    if threshold > 0:
        with warnings.catch_warnings(record=True) as caught:  # a lower bound: say so on one line
            warnings.simplefilter("always")
            scores["birthday_support"] = metrics.birthday_support(f_fake, threshold=threshold, seed=seed)
        for w in caught:
            say(f"aegan: note: {w.message}")
    scores.update(metrics.ndb(real.flatten(1), x.flatten(1), k=NDB_BINS, seed=seed))
    return scores


def reference_images(ds: Dataset, n: int) -> torch.Tensor:
    """The real images n samples are scored against: a fixed random subset (REFERENCE_SEED) of ds's training split,
    as large as n, at least 1,000 examples, at most the whole split; float, on the model's scale."""
    g = torch.Generator().manual_seed(REFERENCE_SEED)
    return ds.train[torch.randperm(len(ds.train), generator=g)[:min(len(ds.train), max(n, 1000))]].float()


def mode_weights(ds: Dataset) -> torch.Tensor:
    """True weights of the evaluator's modes: the training labels' class frequencies; on stacked data the
    product of the base data set's class frequencies over the stacked channels."""
    base = getattr(ds, "base", None)
    labels = (base if base is not None else ds).labels_train
    if labels is None:
        raise DataError(f"{ds.name} has no labels to count modes with")
    q = torch.bincount(labels).double()
    q = q / q.sum()
    if base is None:
        return q
    joint = q
    for _ in range(ds.shape[0] - 1):
        joint = (joint[:, None] * q[None, :]).flatten()
    return joint


def load_samples(path: str | os.PathLike[str], ds: Dataset) -> torch.Tensor:
    """Samples saved as .npy/.npz in ds's data units (as `aegan sample` writes them; images also in any layout
    aegan reads: (N, H, W), (N, C, H, W) or (N, H, W, C)) -> (N, *ds.shape) on the model's scale."""
    from aegan.data.images import check_values, image_layout, load_array_file

    path = Path(path)
    name = str(path)
    if path.suffix.lower() not in (".npy", ".npz"):
        raise DataError(f"--samples {name}: give a .npy or .npz file of samples")
    x, _ = load_array_file(path, name)
    if x.dtype.kind not in "fiu" or x.size == 0 or x.ndim < 2:
        raise DataError(f"{name} holds {x.dtype} of shape {x.shape}: samples must be a numeric array (N, ...)")
    check_values(x, name)
    t = ds.transform
    if ds.kind == "vector":
        if x.shape[1:] != ds.shape:
            raise DataError(f"{name} has shape {x.shape}, but {ds.name} holds vectors of shape {ds.shape}")
        return t.to_model(x.astype(np.float32))
    layout = image_layout(x.shape, name) or "ND"
    if layout == "ND":
        raise DataError(f"{name} has shape {x.shape}, but {ds.name} holds images of shape {ds.shape}")
    out = Transform(kind="image", layout=layout, dtype=t.dtype, scale=t.scale).to_model(x.astype(np.float32))
    if tuple(out.shape[1:]) != ds.shape:
        raise DataError(f"{name} holds images of shape {tuple(out.shape[1:])} (C, H, W), but {ds.name} holds "
                        f"{ds.shape}")
    lo, hi = float(out.min()), float(out.max())
    if lo < -1.01 or hi > 1.01:
        raise DataError(f"{name} has values in [{float(x.min()):.3g}, {float(x.max()):.3g}], outside {ds.name}'s "
                        f"range 0..{t.scale:g}: save samples in the data's own units")
    return out


def evaluate_samples(samples: str | os.PathLike[str], data: str, seed: int = 0,
                     check: bool = False, features: Any = None) -> dict[str, Any]:
    """Score a file of samples from any generator against the data set `data` (a name, folder or file); `check`
    and `features` as in `evaluate`."""
    ds = data_lib.load(data)
    x = load_samples(samples, ds)
    scores: dict[str, Any] = {}
    if ds.modes is not None:
        centres, std = ds.modes
        scores.update(metrics.mode_stats(ds.transform.to_data(x), centres, std))
    else:
        scores.update(sample_scores(ds, x, seed, check=check, features=features))
    scores.update({"n_samples": len(x), "seed": seed, "samples": str(samples), "data": ds.name})
    return scores
