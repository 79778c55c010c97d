"""The default code model: every candidate fitted on codes of the training split and scored on codes of held-out
data, the winner chosen by a stated rule and recorded in RUN/samplers/step_N/selection.json.

The rule (README, "Sampling through a model of the codes"):

1. Candidates are gaussian, gmm, twostage (one decoder pass), flow (d passes per transform), diffusion
   (`sample_steps` passes), cheapest to sample first; $AEGAN_CODE_MODELS or a run's `code_models` narrow them down.
   codegan never competes; it stays available by name.
2. Sample quality decides: each candidate draws MMD_DRAWS = 5 sets of 2,000 codes (seeds seed … seed + 4), and each
   set's unbiased MMD² (Gretton et al., A Kernel Two-Sample Test, JMLR 2012) to the same 2,000 held-out codes is
   computed, both standardized by the held-out codes' mean and std, with a sum of Gaussian kernels of bandwidths
   0.25, 0.5 and 1 times the median pairwise distance. `mmd` is the mean over the draws, `mmd_se` its standard
   error. The best is the candidate of lowest `mmd`; the default is the cheapest candidate whose `mmd` exceeds the
   best's by at most two standard errors of the difference (√(se² + se_best²)): the cheapest whose samples are not
   measurably farther from held-out codes than the best's. Cheapest by COST_CLASS, in which gaussian and gmm are one
   class (their draws cost the same), so between those two the lower `mmd` decides: until 2026-12-06 the gaussian,
   first in the order of 1, won every tie, and in the three runs checked where it had won one, the gmm's decoded samples
   scored far better (fd 34 against 61, fd_check 5.1 against 11.1, for an aae on fashion-mnist; fd 43-49 against
   65-67 for α-GANs on stacked digits). A candidate whose samples are not all finite is out.
3. The held-out log-likelihood is reported beside it, not used: ℓ(z) = log p(z) / d in nats per code dimension on up
   to 5,000 held-out codes, exact for gaussian, gmm and flow, an estimated lower bound for twostage (IWAE, K = 64)
   and diffusion (the continuous-time VDM bound), with its gap to the best and the paired standard error. Measured on
   fashion-mnist codes (README), the flow had the best held-out likelihood on all four runs and the GMM the lowest
   MMD, and the GMM's decoded samples had the lower FD in the evaluator's features (67 against 90 for aae, 223
   against 244 for vae): likelihood and sample quality disagree, as Theis, van den Oord & Bethge (A note on the
   evaluation of generative models, ICLR 2016, arXiv:1511.01844) warn, and samples are what the default is for.
   The MMD is computed in code space, from the codes alone: no network that scores images takes part.

`mmd_floor` is the same MMD² for 2,000 training codes against the held-out ones: what a perfect model would get.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from aegan.checkpoint import atomic_write_text, read_json_record
from aegan.errors import AeganError, CheckpointError, ConfigError
from aegan.samplers.base import CodeDensity

# the candidates with the cost class of a draw: a mixture's (a categorical pick, then one Cholesky product) costs what
# a Gaussian's does, so between the two the lower MMD² decides; a decoder pass, d transforms, `sample_steps` passes
# cost more
COST_CLASS = {"gaussian": 0, "gmm": 0, "twostage": 1, "flow": 2, "diffusion": 3}
CANDIDATES = tuple(COST_CLASS)  # cheapest to sample first
ENV = "AEGAN_CODE_MODELS"  # comma-separated candidates to fit and compare instead of all of CANDIDATES
# code_models of the 2-D demo and benchmark runs: on 2-D codes a 50-component mixture is all but exact, and fitting the
# learned code models would add about 100 s to each run (measured on one core: twostage 20 s, flow 29 s, diffusion
# 37 s, scoring 16 s)
MIXTURES = "gaussian,gmm"
MAX_HELD_OUT = 5_000  # held-out codes scored
MIN_HELD_OUT = 10  # fewer cannot give a standard error: the default stays the model's first sampler
STANDARD_ERRORS = 2.0  # "not measurably worse": the difference to the best within this many standard errors
MMD_SAMPLES = 2_000
MMD_DRAWS = 5  # sample sets per candidate: the spread of their MMD² gives its standard error
MMD_SCALES = (0.25, 0.5, 1.0)  # kernel bandwidths as fractions of the median pairwise distance
FILE = "selection.json"
FORMAT = "aegan-code-selection"
VERSION = 1
RULE = (f"lowest MMD² of {MMD_DRAWS} sets of {MMD_SAMPLES} samples to held-out codes; the default is the cheapest of "
        f"{', '.join(CANDIDATES)} (gaussian and gmm equally cheap, the lower MMD² of the two first) within "
        f"{STANDARD_ERRORS:g} standard errors of the best; the held-out log-likelihood is reported, not used")


@dataclass
class Selection:
    """Which code model is the default, and every candidate's scores (`candidates[name]`: mmd, mmd_se, mmd_gap,
    within_noise, loglik, se, gap, gap_se, likelihood, fit_s, score_s; `error` for a candidate whose fit failed)."""

    chosen: str
    candidates: dict[str, dict[str, Any]]
    n_held_out: int
    dim: int
    mmd_floor: float | None = None
    rule: str = RULE
    extra: dict[str, Any] = field(default_factory=dict)  # where the codes came from (set by the caller)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Selection:
        fields = {k: record[k] for k in ("chosen", "candidates", "n_held_out", "dim")}
        if not isinstance(fields["chosen"], str) or not isinstance(fields["candidates"], dict):
            raise ValueError("chosen must be a name and candidates an object")
        return cls(**fields, mmd_floor=record.get("mmd_floor"), rule=record.get("rule", RULE),
                   extra=record.get("extra", {}))


def candidates(available: Iterable[str], wanted: str = "") -> list[str]:
    """The candidates among the `available` samplers, in the order of CANDIDATES: those named in $AEGAN_CODE_MODELS
    where it is set, else those named in `wanted` (a run's `code_models`, e.g. "gaussian,gmm" where fitting the
    learned ones would take too long), else all of them. Comma-separated; an unknown name raises ConfigError."""
    chosen = named(wanted, "code_models")
    if os.environ.get(ENV, "").strip():
        chosen = named(os.environ[ENV], ENV)
    return [name for name in CANDIDATES if name in (chosen or CANDIDATES) and name in set(available)]


def named(names: str, source: str) -> tuple[str, ...]:
    """The code-model names of a comma-separated list (() for an empty one), checked against CANDIDATES."""
    chosen = tuple(name.strip() for name in names.split(",") if name.strip())
    unknown = [name for name in chosen if name not in CANDIDATES]
    if unknown:
        raise ConfigError(f"{source} names {', '.join(map(repr, unknown))}: the candidates for the default code "
                          f"model are {', '.join(CANDIDATES)} (comma-separated)")
    return chosen


def held_out_scores(sampler: CodeDensity, codes: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """ℓ(z) = log p(z) / d (N,) float64 of each held-out code (N, d), nats per dimension; a bound's estimate is
    drawn with a generator seeded with `seed`."""
    ll = sampler.log_likelihood(codes, torch.Generator().manual_seed(seed))
    assert ll.shape == (len(codes),), f"{sampler.name}.log_likelihood returned shape {tuple(ll.shape)}"
    return ll.double() / codes.shape[1]


def compare_likelihoods(scores: Mapping[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
    """{name: {loglik, se, gap, gap_se}} for per-code scores (N,) of each candidate over the same held-out codes: the
    mean, its standard error, and the paired difference to the highest mean with its standard error (rule 3 of the
    module docstring: reported, not used). A candidate whose score is not finite on every code gets None."""
    n = {len(s) for s in scores.values()}
    if len(n) > 1:
        raise ValueError(f"every candidate must be scored on the same held-out codes, got sizes {sorted(n)}")
    finite = {name: s for name, s in scores.items() if bool(torch.isfinite(s).all())}
    best = max(finite, key=lambda name: float(finite[name].mean())) if finite else None
    rows: dict[str, dict[str, Any]] = {}
    for name, s in scores.items():
        row: dict[str, Any] = {"loglik": None, "se": None, "gap": None, "gap_se": None}
        if name in finite and best is not None:
            diff = finite[best] - s  # paired over the held-out codes
            root_n = math.sqrt(len(s))
            row = {"loglik": float(s.mean()), "se": float(s.std() / root_n) if len(s) > 1 else 0.0,
                   "gap": float(diff.mean()), "gap_se": float(diff.std() / root_n) if len(s) > 1 else 0.0}
        rows[name] = row
    return rows


def choose(mmds: Mapping[str, list[float] | None],
           order: tuple[str, ...] = CANDIDATES) -> tuple[str, dict[str, dict[str, Any]]]:
    """(the default, {name: {mmd, mmd_se, mmd_gap, within_noise}}) from each candidate's MMD² over several sample
    sets (None: its samples were not finite), by rule 2 of the module docstring. Names not in `order` go last."""
    names = sorted(mmds, key=lambda n: order.index(n) if n in order else len(order))
    stats = {}
    for name in names:
        values = mmds[name]
        if values:
            t = torch.tensor(values, dtype=torch.float64)
            stats[name] = (float(t.mean()), float(t.std() / math.sqrt(len(t))) if len(t) > 1 else 0.0)
    if not stats:
        raise AeganError("no code model gives finite samples: the codes may be degenerate; sample with --sampler "
                         "prior or another named sampler")
    best = min(stats, key=lambda name: stats[name][0])
    rows = {}
    for name in names:
        row: dict[str, Any] = {"mmd": None, "mmd_se": None, "mmd_gap": None, "within_noise": False}
        if name in stats:
            (mean, se), (best_mean, best_se) = stats[name], stats[best]
            gap = mean - best_mean
            row = {"mmd": mean, "mmd_se": se, "mmd_gap": gap,
                   "within_noise": gap <= STANDARD_ERRORS * math.sqrt(se * se + best_se * best_se)}
        rows[name] = row
    within = [name for name in names if rows[name]["within_noise"]]  # the best is within noise of itself
    chosen = min(within, key=lambda name: (COST_CLASS.get(name, len(COST_CLASS) + names.index(name)), stats[name][0]))
    return chosen, rows


def mmd2(x: torch.Tensor, y: torch.Tensor, scales: tuple[float, ...] = MMD_SCALES) -> float:
    """Unbiased MMD² between x (n, d) and y (m, d) with a sum of Gaussian kernels exp(−‖a − b‖² / (2 (s·h)²)), h the
    median pairwise distance of the pooled sets (the unbiased estimate of Gretton et al. 2012)."""
    x, y = x.double(), y.double()
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError(f"MMD needs at least 2 points per set, got {n} and {m}")
    dxx, dyy, dxy = torch.cdist(x, x).square(), torch.cdist(y, y).square(), torch.cdist(x, y).square()
    # the median over the pooled set's pairs of distinct points: both blocks' upper triangles and every cross pair
    # (what torch.pdist of the pooled set gives, from the blocks the kernels need anyway: pdist took 2/3 of the time)
    upper_x = torch.ones(n, n, dtype=torch.bool).triu_(1)
    upper_y = upper_x if m == n else torch.ones(m, m, dtype=torch.bool).triu_(1)
    h2 = float(torch.cat([dxx[upper_x], dyy[upper_y], dxy.flatten()]).median()) or 1.0
    kxx, kyy = kernel_sum(dxx, h2, scales).fill_diagonal_(0), kernel_sum(dyy, h2, scales).fill_diagonal_(0)
    return float(kxx.sum() / (n * (n - 1)) + kyy.sum() / (m * (m - 1)) - 2 * kernel_sum(dxy, h2, scales).mean())


def kernel_sum(d2: torch.Tensor, h2: float, scales: tuple[float, ...]) -> torch.Tensor:
    """Σ_s exp(−d2 / (2 (s·h)²)) for squared distances d2, h² = h2. One exp, at the widest scale; a scale whose
    (widest / s)² is a power of two is that exp squared repeatedly (the same up to rounding, and several times
    cheaper than its own exp), any other scale gets its own exp."""
    widest = max(scales)
    current = torch.exp(d2 * (-1.0 / (2 * widest * widest * h2)))
    power = 1
    total = torch.zeros_like(d2)
    for s in sorted(scales, reverse=True):
        ratio = (widest / s) ** 2
        k = round(ratio)
        if abs(ratio - k) < 1e-9 and k & (k - 1) == 0:  # a power of two, at least the current one (sorted)
            while power < k:
                current, power = current.square(), power * 2
            total += current
        else:
            total += torch.exp(d2 * (-1.0 / (2 * s * s * h2)))
    return total


def select(samplers: Mapping[str, CodeDensity], held_out: torch.Tensor, train: torch.Tensor | None = None,
           seed: int = 0, fit_seconds: Mapping[str, float] | None = None,
           failed: Mapping[str, str] | None = None) -> Selection:
    """Score fitted candidates on held-out codes (N, d) and choose the default (rules of the module docstring).

    train: training codes, for the MMD floor (None = no floor). fit_seconds: each candidate's fit time, reported.
    failed: candidates whose fit failed, with the reason: recorded, out of the choice."""
    if len(held_out) < MIN_HELD_OUT:
        raise ValueError(f"choosing a code model needs at least {MIN_HELD_OUT} held-out codes, got {len(held_out)}")
    held_out = held_out[:MAX_HELD_OUT]
    scores, seconds = {}, {}
    for name, sampler in samplers.items():
        if sampler.likelihood is None:
            continue
        start = time.perf_counter()
        scores[name] = held_out_scores(sampler, held_out, seed)
        seconds[name] = time.perf_counter() - start
    likelihoods = compare_likelihoods(scores)
    g = torch.Generator().manual_seed(seed)
    m = min(MMD_SAMPLES, len(held_out))
    ref = held_out[torch.randperm(len(held_out), generator=g)[:m]].double()
    mu, sd = ref.mean(0), ref.std(0).clamp_min(1e-12)

    def unit(z: torch.Tensor) -> torch.Tensor:
        return (z.double() - mu) / sd

    mmds: dict[str, list[float] | None] = {}
    for name in scores:
        start = time.perf_counter()
        draws = [samplers[name].sample(m, torch.Generator().manual_seed(seed + k)) for k in range(MMD_DRAWS)]
        finite = m >= 2 and all(bool(torch.isfinite(z).all()) for z in draws)
        mmds[name] = [mmd2(unit(z), unit(ref)) for z in draws] if finite else None
        seconds[name] += time.perf_counter() - start
    chosen, rows = choose(mmds)
    for name, row in rows.items():
        row.update(likelihoods[name])
        row["likelihood"] = samplers[name].likelihood
        row["fit_s"] = None if fit_seconds is None or name not in fit_seconds else round(fit_seconds[name], 2)
        row["score_s"] = round(seconds[name], 2)
    for name, why in (failed or {}).items():
        rows[name] = {"mmd": None, "mmd_se": None, "mmd_gap": None, "within_noise": False, "loglik": None,
                      "se": None, "gap": None, "gap_se": None, "likelihood": None, "fit_s": None, "score_s": None,
                      "error": why}
    floor = mmd2(unit(train[:m]), unit(ref)) if train is not None and min(len(train), m) >= 2 else None
    return Selection(chosen=chosen, candidates=rows, n_held_out=len(held_out), dim=held_out.shape[1],
                     mmd_floor=floor)


def write_selection(folder: Path, selection: Selection) -> Path:
    """Store `selection` as folder/selection.json, atomically."""
    path = Path(folder) / FILE
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(selection.to_json(), indent=1) + "\n")
    except OSError as e:
        raise AeganError(f"cannot write {path} ({e.strerror or e}): free space or fix the folder's permissions") \
            from None
    return path


def read_selection(folder: Path) -> Selection | None:
    """The selection stored in `folder`, None if there is none; CheckpointError if it is corrupt or foreign."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    fix = f"delete {path} to choose the default code model again"

    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"{path} {why}: {fix}")

    record = read_json_record(path, format=FORMAT, version=VERSION, what="code-model selection", fail=fail)
    try:
        return Selection.from_json(record)
    except (KeyError, TypeError, ValueError) as e:
        raise fail(f"is incomplete ({type(e).__name__}: {e})") from None
