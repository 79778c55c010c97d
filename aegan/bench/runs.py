"""A suite's runs: trained once into their folder and reused when finished, and their scores reused while nothing
they depend on changed, so an interrupted suite continues."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aegan.errors import AeganError


def finished_or_trained(folder: Path, finished: Callable[[Any, Path], bool], model: str, dataset: str,
                        **train_args: Any) -> Any:
    """The run in `folder` if it loads, is `finished` and has the recipe these settings give now; else trained there
    from the start with `train_args`: an interrupted benchmark continues where it stopped, and a run trained before a
    preset changed (α-GAN's D on stacked data, a code size, a λ) is not passed off as the new preset's."""
    from aegan.run import Run
    from aegan.train import train

    try:
        run = Run.load(folder)
        if finished(run, folder) and recipe(run.config) == recipe(config_now(model, dataset, train_args)):
            return run
    except AeganError:
        pass
    return train(model, dataset, out=folder, overwrite=True, **train_args)


def config_now(model: str, dataset: str, train_args: dict[str, Any]) -> Any:
    """The config a run of `model` on `dataset` with `train_args` gets today (presets as they are now)."""
    from aegan.loop.configure import make_config

    keys = ("steps", "seed", "minutes", "overrides")
    return make_config(model, dataset, **{k: train_args[k] for k in keys if train_args.get(k) is not None})[0]


def recipe(cfg: Any) -> dict[str, Any]:
    """What decides how a run trains: the model, data, seed, batch, budget, networks, optimizer, tricks, model_args
    and numeric precision. Left out: the bookkeeping that does not change the training (log, sample and checkpoint
    cadence, progress bar, loader, devices and threads, the monitor, the code models fitted afterwards) and, under a
    time budget, the steps and step time the run measured for itself."""
    from aegan import models

    d = cfg.to_dict()
    kept = ("model", "data", "seed", "batch_size", "minutes", "net", "optim", "tricks")
    # an older run recorded only the model settings it was given: the model's check fills in today's defaults (and
    # refuses settings it no longer knows: a ConfigError, so the run is trained again)
    args = models.get(cfg.model).check_args(d["model_args"])
    return ({k: d[k] for k in kept} | {"model_args": args, "precision": d["fabric"]["precision"]}
            | ({} if cfg.minutes > 0 else {"steps": d["steps"]}))


def budget_done(run: Any, folder: Path) -> bool:
    """A budgeted run is finished when it reached its steps or spent its minutes (the clock stopped it)."""
    cfg = run.config
    return run.step >= cfg.steps or (cfg.minutes > 0 and run_train_seconds(folder) >= cfg.minutes * 60)


def run_train_seconds(folder: Path) -> float:
    """Training wall time of a run, from the last record of its metrics.jsonl (start-up and scoring excluded)."""
    lines = (folder / "metrics.jsonl").read_text().splitlines() if (folder / "metrics.jsonl").is_file() else []
    return float(json.loads(lines[-1])["time_s"]) if lines else 0.0


# what turns a checkpoint into scores, relative to the aegan package: any change here scores a run again
SCORING_CODE = ("evaluate.py", "metrics", "samplers", "bench/suites.py")


def score_key(run: Any, n: int, seed: int, check: bool) -> dict[str, Any]:
    """What a run's scores depend on: its checkpoint's weights (the SHA-256 its checkpoint record keeps), the samples
    scored (n, seed), aegan's scoring code and, on image data, the weights of the judges (the evaluator, and the check
    classifier with `check`). A suite stores the key in each row (`scored`) and, meeting the same key again, reuses
    the rows instead of scoring the run anew: scoring an encoder model's image run takes minutes."""
    from aegan.metrics import evaluator

    record = run.path / "checkpoints" / f"step_{run.step:07d}.json"
    key = {"checkpoint": json.loads(record.read_text())["sha256"], "n": n, "seed": seed, "code": scoring_code_digest()}
    ds = run.data()
    if ds.kind == "image":
        for role in ("evaluator", "check") if check else ("evaluator",):
            key[role] = evaluator.digest(*evaluator.for_data(ds, role=role).net.state_dict().values())
    return key


@functools.cache
def scoring_code_digest() -> str:
    """BLAKE2b of the SCORING_CODE files as this process imported them, read once per process."""
    import aegan

    code = hashlib.blake2b(digest_size=16)
    root = Path(aegan.__file__).parent
    for part in SCORING_CODE:
        for f in sorted((root / part).rglob("*.py")) if (root / part).is_dir() else [root / part]:
            code.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return code.hexdigest()


def reused_scores(previous: list[dict[str, Any]], key: dict[str, Any], samplers: list[str]) -> list[dict[str, Any]]:
    """The rows of `previous` scored with `key`, one per sampler of `samplers` in their order; [] unless every
    sampler has one."""
    rows = {r.get("sampler"): r for r in previous if r.get("scored") == key}
    return [rows[s] for s in samplers] if all(s in rows for s in samplers) else []
