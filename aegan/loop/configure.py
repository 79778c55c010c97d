"""A run's config, assembled in one order: defaults <- the model's presets for the data kind <- config file <-
command-line flags and key=value overrides; then the 0 = default sentinels resolved (on stacked data the model's
D width too), so config.yaml records what actually ran. Every check happens here, before a run folder is written."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aegan import data as data_lib
from aegan import models
from aegan.config import Config, apply_dict, parse_override, read_yaml, set_value
from aegan.data.stream import LOADER_CHOICES
from aegan.errors import ConfigError


def make_config(model: str, data: Any, *, steps: int | None = None, batch_size: int | None = None,
                seed: int | None = None, config_file: str | Path | None = None,
                overrides: Sequence[str] | dict[str, Any] = (),
                minutes: float | None = None, nets: Any = None) -> tuple[Config, data_lib.Dataset]:
    """Defaults <- the model's defaults for the data kind <- config file <- flags and key=value overrides; on stacked
    data the model's D : G width ratio (`stacked_d_ratio`) sets net.d_width unless the file or overrides do.
    `nets`: the user's own networks, checked here against the model's (aegan.models.replace_nets)."""
    model_cls = models.get(model)
    file_values = read_yaml(config_file) if config_file is not None else {}
    items = list(overrides.items() if isinstance(overrides, dict) else (parse_override(o) for o in overrides))
    loader = dict(items).get("loader", file_values.get("loader", "auto"))  # how to read the data, known before it is
    ds = data_lib.load(data, loader if isinstance(loader, str) else "auto")
    cfg = Config(model=model, data=ds.name if ds.digest is not None else str(data))  # a Python object: its name
    apply_dict(cfg, model_cls.defaults(ds.kind, ds.shape[0] if ds.kind == "image" else 1))
    for key in ("model", "data"):
        if key in file_values and file_values[key] != getattr(cfg, key):
            raise ConfigError(f"config file says {key}: {file_values[key]} but the command asks for "
                              f"{getattr(cfg, key)}: remove it from the file or change the command")
    apply_dict(cfg, file_values)
    for key, value in items:
        if key in ("model", "data"):
            raise ConfigError(f"set {key} as the command's argument, not as an override")
        set_value(cfg, key, value)
    if cfg.loader not in LOADER_CHOICES:
        raise ConfigError(f"loader must be one of {', '.join(LOADER_CHOICES)} (how a folder or .npy file is read), "
                          f"got {cfg.loader!r}")
    if cfg.loader == "stream" and ds.loader != "stream":
        raise ConfigError(f"loader=stream reads folders of images and image .npy files; {cfg.data} is read into "
                          f"memory: use loader=auto or loader=memory")
    cfg.loader = ds.loader  # what ran, recorded in config.yaml: a resumed or evaluated run reads the data the same way
    for key, value in (("steps", steps), ("batch_size", batch_size), ("seed", seed), ("minutes", minutes)):
        if value is not None:
            set_value(cfg, key, value)
    resolve_defaults(cfg, ds.kind)
    d_width_given = "d_width" in (file_values.get("net") or {}) or any(key == "net.d_width" for key, _ in items)
    if getattr(ds, "base", None) is not None and model_cls.stacked_d_ratio and not d_width_given:
        cfg.net.d_width = max(1, round(cfg.net.width * model_cls.stacked_d_ratio))  # what the model measured there
    cfg.validate()
    if cfg.code_models:
        from aegan.samplers.selection import candidates

        candidates(models.get(model).samplers, cfg.code_models)  # unknown names fail here, before a folder is made
    # the model checks its own settings (model_args, tricks) and the data they need, before anything is written
    model = models.build_model(cfg, ds.shape, nets)
    model.check_data(ds)
    # every model setting, defaults included: config.yaml records what ran, and a run resumed, evaluated or reused
    # by a suite after a default changed keeps the value it trained with
    cfg.model_args = dict(model.arg)
    return cfg, ds


def resolve_defaults(cfg: Config, kind: str) -> None:
    """Replace the 0 = default sentinels by concrete values, so config.yaml records what actually ran."""
    vector = kind == "vector"
    # images: 32 base channels. At equal wall time on fashion-mnist (4 min, one core) the narrower nets take about
    # twice the steps and score better: gan fd 136 -> 91, alphagan (latent 16, prior) 178 -> 100 (README, Image presets)
    cfg.net.width = cfg.net.width or (128 if vector else 32)
    cfg.net.latent_dim = cfg.net.latent_dim or (8 if vector else 64)
    cfg.batch_size = cfg.batch_size or (256 if vector else 64)
    cfg.loader_workers = cfg.loader_workers or (1 if (os.cpu_count() or 1) <= 2 else 2)
    if vector and cfg.fabric.threads == 0:
        cfg.fabric.threads = 1  # small MLPs step faster on one CPU thread than on two (measured: 13 vs 17 ms)
    if cfg.minutes and not cfg.step_seconds:
        return  # steps are known once the step time is measured (aegan/loop/budget.py); resolved again then
    cfg.sample_every = cfg.sample_every or max(1, cfg.steps // 8)
    cfg.checkpoint_every = cfg.checkpoint_every or max(1, cfg.steps // 8)
