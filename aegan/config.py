"""Typed configuration: one dataclass tree, YAML files, and `key=value` overrides checked against field types.

Every CLI flag maps to a field (`--steps` -> `steps`, `--batch-size` -> `batch_size`); nested fields are
addressed with dots (`optim.lr=1e-4`, `net.width=128`, `fabric.precision=bf16-mixed`). A model may
supply its own defaults (`Model.defaults(kind)`), applied before the user's file and overrides.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from aegan.errors import ConfigError


@dataclass
class NetConfig:
    width: int = 0  # MLP hidden units, or base channels of the DCGAN-style conv nets; 0 = 128 (vectors) / 32 (images)
    depth: int = 3  # MLP hidden layers (vectors only)
    d_depth: int = 0  # the discriminator's hidden layers (vectors only); 0 = depth
    d_width: int = 0  # the discriminator's own width (units, or base channels on images); 0 = width
    c_width: int = 0  # hidden units of the code discriminator C (aae, alphagan); 0 = max(width, 64)
    latent_dim: int = 0  # size of z; 0 = 8 for vectors, 64 for images (the encoder models choose 16 on images)


@dataclass
class OptimConfig:
    lr: float = 2e-4  # Adam learning rate, every network (the models' presets set their own on images)
    beta1: float = 0.5
    beta2: float = 0.999
    schedule: str = "constant"  # constant | cosine: hold lr for `hold` of the steps, then cosine-decay to `final`·lr
    hold: float = 0.5  # fraction of steps at full lr before the cosine decay
    final: float = 0.02  # final lr as a fraction of lr (cosine only)
    rollback: int = 0  # on NaN/Inf, go back to the last good checkpoint with a lower lr, at most this often; 0 = stop
    rollback_factor: float = 0.5  # each rollback multiplies the learning rate by this


@dataclass
class FabricConfig:
    """Passed to lightning_fabric.Fabric: the same run on a laptop CPU or on many GPUs and nodes."""

    accelerator: str = "cpu"  # cpu | cuda | gpu | mps | auto
    devices: int = 1  # processes per node (GPUs, or CPU processes for DDP on CPU)
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp | ddp_spawn | ...
    precision: str = "32-true"  # 32-true | bf16-mixed | 16-mixed
    threads: int = 0  # torch CPU threads; 0 = 1 for vector data (small MLPs), torch's default for images


@dataclass
class TricksConfig:
    """Improved techniques (Salimans et al. 2016, arXiv:1606.03498) and stabilisers, for models with a data
    discriminator D. Each is off at its default."""

    feature_matching: float = 0.0  # weight of ‖mean f(x) − mean f(G(z))‖², f = D's penultimate layer; 0 = off
    feature_matching_only: bool = False  # true: feature matching replaces G's adversarial loss on G(z) (§3.1)
    minibatch_discrimination: bool = False  # minibatch features before D's last layer (§3.2)
    minibatch_kernels: int = 100  # B
    minibatch_kernel_dim: int = 5  # C
    historical_averaging: float = 0.0  # weight of ‖θ − mean of past θ‖² for G and D (§3.3); 0 = off
    label_smoothing: float = 1.0  # D's target for real data, one-sided (§3.4); 1.0 = off, 0.9 = the paper's
    virtual_batch_norm: bool = False  # G normalised with a reference batch fixed at the start (§3.4)
    virtual_batch_size: int = 64  # size of that reference batch
    spectral_norm: bool = False  # spectral normalisation of D's layers (Miyato et al. 2018)
    r1: float = 0.0  # γ of the R1 penalty γ/2·E‖∇ₓD(x)‖² on real data (Mescheder et al. 2018); 0 = off
    r1_every: int = 16  # lazy regularization: R1 on every k-th step with weight k·γ (Karras et al. 2020); 1 = always
    ema: float = 0.0  # decay of the generator's exponential moving average used for sampling; 0 = off
    pack: int = 1  # PacGAN packing degree: D judges k samples at once (Lin et al. 2018); 1 = off
    unroll: int = 0  # k: G's loss against D unrolled k Adam steps ahead, backpropagated (Metz et al. 2017); 0 = off


@dataclass
class MonitorConfig:
    """The live collapse monitor (aegan.monitor): cheap coverage and diversity on a fixed probe set."""

    every: int = 500  # steps between checks; 0 = off
    probe: int = 500  # generated samples and real examples per check
    warn: float = 0.5  # warn when diversity < warn, or coverage < warn × its best so far
    stop: bool = False  # stop the run after `patience` warnings in a row
    patience: int = 3


@dataclass
class Config:
    model: str = "gan"
    data: str = "ring8"
    steps: int = 2000  # optimizer steps of the training loop (each step runs every due phase once)
    minutes: float = 0.0  # wall-time budget of training; 0 = none. With a budget, steps = minutes·60 / step_seconds
    step_seconds: float = 0.0  # seconds per step of a budgeted run: measured at its start, then at its re-plan
    replan_step: int = 0  # a budgeted run's re-plan from its own step times: 0 = due, -1 = none, N = done at step N
    batch_size: int = 0  # global batch; 0 = 256 for vectors, 64 for images
    seed: int = 0
    log_every: int = 50  # steps between metrics.jsonl / TensorBoard records
    sample_every: int = 0  # steps between sample pictures; 0 = steps // 8
    checkpoint_every: int = 0  # steps between checkpoints; 0 = steps // 8 (and always at the end)
    keep_checkpoints: int = 3  # newest checkpoints kept on disk
    progress: bool = True  # progress bar with live losses
    # encoder models: the code models that compete to be the default sampler (aegan.samplers.selection),
    # comma-separated, e.g. "gaussian,gmm"; "" = every candidate. $AEGAN_CODE_MODELS, where set, takes precedence
    code_models: str = ""
    # how a folder of images or an image .npy file is read (aegan.data.stream): memory | stream (batch by batch from
    # disk, for data larger than memory) | auto (streams when the training split would take over half of the memory
    # left). config.yaml records the choice that ran
    loader: str = "auto"
    loader_workers: int = 0  # DataLoader worker processes when streaming; 0 = 2, or 1 on a machine with 2 cores
    net: NetConfig = field(default_factory=NetConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    fabric: FabricConfig = field(default_factory=FabricConfig)
    tricks: TricksConfig = field(default_factory=TricksConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    model_args: dict[str, Any] = field(default_factory=dict)  # model-specific settings, e.g. {"loss": "l1"}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        cfg = cls()
        apply_dict(cfg, d)
        return cfg

    def validate(self) -> None:
        """Reject values no run can use; the message names the field and the fix."""
        for key, value in _numbers(self):
            if not math.isfinite(value):
                raise ConfigError(f"{key} must be a finite number, got {value}")
        checks = [
            (self.steps >= 1, f"steps must be at least 1, got {self.steps}"),
            (self.minutes >= 0 and self.step_seconds >= 0 and self.replan_step >= -1,
             f"minutes is a wall-time budget, 0 = none; got {self.minutes}"),
            (0 <= self.seed <= MAX_SEED, f"seed must lie in 0..{MAX_SEED} (NumPy's and scikit-learn's seed range); "
                                         f"got {self.seed}"),
            (self.batch_size >= 0, f"batch_size must be positive (0 = default), got {self.batch_size}"),
            (self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}"),
            (self.sample_every >= 0, f"sample_every must be >= 0, got {self.sample_every}"),
            (self.checkpoint_every >= 0, f"checkpoint_every must be >= 0, got {self.checkpoint_every}"),
            (self.keep_checkpoints >= 1, f"keep_checkpoints must be at least 1, got {self.keep_checkpoints}"),
            (self.net.width >= 0 and self.net.depth >= 1 and self.net.latent_dim >= 0 and self.net.d_depth >= 0
             and self.net.d_width >= 0 and self.net.c_width >= 0,
             "net.width, net.latent_dim, net.d_depth, net.d_width and net.c_width must be >= 0 and net.depth >= 1"),
            (self.optim.lr > 0, f"optim.lr must be positive, got {self.optim.lr}"),
            (0 <= self.optim.beta1 < 1 and 0 <= self.optim.beta2 < 1, "optim.beta1 and optim.beta2 must lie in [0, 1)"),
            (self.optim.schedule in ("constant", "cosine"),
             f"optim.schedule must be constant or cosine, got {self.optim.schedule!r}"),
            (0 <= self.optim.hold <= 1 and 0 < self.optim.final <= 1,
             "optim.hold must lie in [0, 1], optim.final in (0, 1]"),
            (self.optim.rollback >= 0, f"optim.rollback is a count of rollbacks, 0 = off; got {self.optim.rollback}"),
            (0 < self.optim.rollback_factor < 1,
             f"optim.rollback_factor multiplies the lr at each rollback, in (0, 1); got {self.optim.rollback_factor}"),
            (self.fabric.devices >= 1 and self.fabric.num_nodes >= 1,
             "fabric.devices and fabric.num_nodes must be >= 1"),
            (self.loader_workers >= 0, f"loader_workers must be >= 0 (0 = default), got {self.loader_workers}"),
            (self.fabric.threads >= 0, f"fabric.threads must be >= 0 (0 = default), got {self.fabric.threads}"),
            (self.tricks.feature_matching >= 0 and self.tricks.historical_averaging >= 0 and self.tricks.r1 >= 0,
             "tricks.feature_matching, tricks.historical_averaging and tricks.r1 are weights: use 0 (off) or more"),
            (not self.tricks.feature_matching_only or self.tricks.feature_matching > 0,
             "tricks.feature_matching_only needs a weight: set tricks.feature_matching=1"),
            (0.5 < self.tricks.label_smoothing <= 1.0,
             f"tricks.label_smoothing is D's real target, in (0.5, 1]; got {self.tricks.label_smoothing}"),
            (0 <= self.tricks.ema < 1, f"tricks.ema is a decay in [0, 1), e.g. 0.999; got {self.tricks.ema}"),
            (self.tricks.pack >= 1 and self.batch_size % self.tricks.pack == 0,
             f"tricks.pack must be >= 1 and divide batch_size {self.batch_size}; got {self.tricks.pack}"),
            (self.tricks.unroll >= 0, f"tricks.unroll is the number of D updates G looks ahead, 0 = off (e.g. 5); "
                                      f"got {self.tricks.unroll}"),
            (self.tricks.minibatch_kernels >= 1 and self.tricks.minibatch_kernel_dim >= 1
             and self.tricks.virtual_batch_size >= 1 and self.tricks.r1_every >= 1, "tricks sizes must be at least 1"),
            (self.monitor.every >= 0 and self.monitor.probe >= 10 and self.monitor.patience >= 1,
             "monitor.every must be >= 0 (0 = off), monitor.probe >= 10 and monitor.patience >= 1"),
            (0 < self.monitor.warn < 1, f"monitor.warn is a fraction in (0, 1); got {self.monitor.warn}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


MAX_SEED = 2**32 - 1  # seeds reach NumPy's SeedSequence and scikit-learn's random_state, which take 0..2³² − 1


def _numbers(obj: Any, prefix: str = "") -> list[tuple[str, float]]:
    """Every float field of a config (sections included), as (dotted key, value)."""
    found = []
    for f in fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            found += _numbers(value, f"{key}.")
        elif isinstance(value, float):
            found.append((key, value))
    return found


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Convert `value` (from YAML or a `key=value` string) to the field type `tp`, or raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{key} expects a mapping such as {{loss: l1}}, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{key} expects true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key} expects an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key} expects an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} expects a number, got {value!r}")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key} expects a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported field type {tp}")  # pragma: no cover - a programming error


def _field_types(obj: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(type(obj))
    return {f.name: hints[f.name] for f in fields(obj)}


def set_value(cfg: Config, key: str, value: Any) -> None:
    """Set a dotted field (`optim.lr`) from a typed or string value; unknown keys name the valid ones."""
    obj: Any = cfg
    parts = key.split(".")
    for i, part in enumerate(parts):
        types = _field_types(obj)
        path = ".".join(parts[: i + 1])
        if part not in types:
            prefix = ".".join(parts[:i])
            valid = ", ".join(f"{prefix + '.' if prefix else ''}{n}" for n in types)
            raise ConfigError(f"unknown config key {path!r}: valid keys here are {valid}")
        tp = types[part]
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(tp):
                if not isinstance(value, dict):
                    raise ConfigError(f"{path} is a section: set its fields as {path}.NAME=VALUE")
                apply_dict(getattr(obj, part), value, prefix=path)
            elif typing.get_origin(tp) is dict and len(parts) == i + 1 and not isinstance(value, (dict, str)):
                raise ConfigError(f"{path} expects a mapping, got {value!r}")
            else:
                setattr(obj, part, _convert(value, tp, path))
            return
        if typing.get_origin(tp) is dict:  # model_args.loss=l1: free-form, parsed as YAML scalars
            rest = ".".join(parts[i + 1:])
            getattr(obj, part)[rest] = yaml.safe_load(value) if isinstance(value, str) else value
            return
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(f"{path} is not a section, so {key!r} is not a config key")
        obj = getattr(obj, part)


def apply_dict(obj: Any, d: dict[str, Any], prefix: str = "") -> None:
    """Apply a (nested) mapping, as read from YAML, field by field with type checks."""
    if not isinstance(d, dict):
        raise ConfigError(f"config {prefix or 'file'} must be a mapping of fields, got {type(d).__name__}")
    for k, v in d.items():
        _set_on(obj, str(k), v, f"{prefix}.{k}" if prefix else str(k))


def _set_on(obj: Any, name: str, value: Any, key: str) -> None:
    types = _field_types(obj)
    if name not in types:
        raise ConfigError(f"unknown config key {key!r}: valid keys here are {', '.join(types)}")
    tp = types[name]
    if dataclasses.is_dataclass(tp):
        apply_dict(getattr(obj, name), value, prefix=key)
    else:
        setattr(obj, name, _convert(value, tp, key))


def parse_override(text: str) -> tuple[str, str]:
    """'optim.lr=1e-4' -> ('optim.lr', '1e-4')."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"expected key=value, got {text!r} (e.g. optim.lr=1e-4)")
    return key.strip().replace("-", "_"), value.strip()


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping, or raise ConfigError with the file and the reason."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config file {p} is a folder, not a file: give the path of a YAML file")
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        d = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"config file {p} is not valid YAML: {first}") from None
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ConfigError(f"config file {p} must hold a mapping of fields, got {type(d).__name__}")
    return d
