"""The one training loop. Every model runs through it; it owns zero_grad/backward/step for every phase.

Per step:  s = model.begin_step(x)               # random inputs and the forward passes phases share
           for phase in model.phases():           # e.g. D then G
               freeze every network but phase.nets
               loss = phase.loss(s); zero_grad; backward; step   (only phase.nets' optimizer steps)
Around it: logging (metrics.jsonl, TensorBoard, progress bar), sample pictures, atomic checkpoints,
exact resumption (the batch order is a pure function of seed and step; RNG states are checkpointed),
and Lightning Fabric for devices, precision and DDP.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from lightning_fabric import Fabric

from aegan import checkpoint, models
from aegan import data as data_lib
from aegan.config import Config, apply_dict, parse_override, read_yaml, set_value
from aegan.errors import AeganError, CheckpointError, ConfigError
from aegan.models.base import Model, Phase
from aegan.run import Run, build_model, picture

PICTURE_SEED = 1_234_567  # fixed z for sample pictures: the same points over time, no draw from the training RNG


class TrainingDiverged(AeganError):
    """A loss became NaN or infinite."""


# --- configuration -------------------------------------------------------------------------------

def make_config(model: str, data: str, *, steps: int | None = None, batch_size: int | None = None,
                seed: int | None = None, config_file: str | Path | None = None,
                overrides: Sequence[str] | dict[str, Any] = ()) -> tuple[Config, data_lib.Dataset]:
    """Defaults <- the model's defaults for the data kind <- config file <- flags and key=value overrides."""
    model_cls = models.get(model)
    ds = data_lib.load(data)
    cfg = Config(model=model, data=data)
    apply_dict(cfg, model_cls.defaults(ds.kind))
    if config_file is not None:
        file_values = read_yaml(config_file)
        for key in ("model", "data"):
            if key in file_values and file_values[key] != getattr(cfg, key):
                raise ConfigError(f"config file says {key}: {file_values[key]} but the command asks for "
                                  f"{getattr(cfg, key)}: remove it from the file or change the command")
        apply_dict(cfg, file_values)
    items = overrides.items() if isinstance(overrides, dict) else (parse_override(o) for o in overrides)
    for key, value in items:
        if key in ("model", "data"):
            raise ConfigError(f"set {key} as the command's argument, not as an override")
        set_value(cfg, key, value)
    for key, value in (("steps", steps), ("batch_size", batch_size), ("seed", seed)):
        if value is not None:
            set_value(cfg, key, value)
    resolve_defaults(cfg, ds.kind)
    cfg.validate()
    return cfg, ds


def resolve_defaults(cfg: Config, kind: str) -> None:
    """Replace the 0 = default sentinels by concrete values, so config.yaml records what actually ran."""
    vector = kind == "vector"
    cfg.net.width = cfg.net.width or (128 if vector else 64)
    cfg.net.latent_dim = cfg.net.latent_dim or (8 if vector else 64)
    cfg.batch_size = cfg.batch_size or (256 if vector else 64)
    cfg.sample_every = cfg.sample_every or max(1, cfg.steps // 8)
    cfg.checkpoint_every = cfg.checkpoint_every or max(1, cfg.steps // 8)
    if vector and cfg.fabric.threads == 0:
        cfg.fabric.threads = 1  # small MLPs step faster on one CPU thread than on two (measured: 13 vs 17 ms)


def lr_at(cfg: Config, step: int) -> float:
    """Learning rate at `step`: constant, or held for `hold`·steps then cosine-decayed to `final`·lr."""
    lr = cfg.optim.lr
    if cfg.optim.schedule == "constant":
        return lr
    start = cfg.optim.hold * cfg.steps
    if step < start:
        return lr
    t = (step - start) / max(1.0, cfg.steps - start)
    return lr * (cfg.optim.final + (1 - cfg.optim.final) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


# --- data order ----------------------------------------------------------------------------------

class BatchOrder:
    """Shuffled epochs whose order depends only on (seed, epoch): the batch of any step is known without state.

    Each process takes its contiguous share of the global batch, so N processes see the same global batch
    as one process with the same seed.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if batch_size % world:
            raise ConfigError(f"batch_size {batch_size} must be divisible by the {world} processes")
        self.n, self.batch, self.seed = n, batch_size, seed
        self.per_epoch = max(1, n // batch_size)
        self.local = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        positions = torch.arange(i * self.batch, (i + 1) * self.batch) % self.n
        return self._perm[positions][self.local]


# --- run folder ----------------------------------------------------------------------------------

def prepare_out(out: str | Path | None, cfg: Config, overwrite: bool) -> Path:
    """Pick or create the run folder. An existing non-empty folder is only replaced when asked, and only if it is a run."""
    if out is None:
        stem = Path(cfg.data).stem if ("/" in cfg.data or "." in cfg.data) else cfg.data
        base = Path("runs") / f"{cfg.model}-{stem}"
        out, i = base, 1
        while Path(out).exists():
            i += 1
            out = Path(f"{base}-{i}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AeganError(f"--out {out} is a file, not a folder: choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise AeganError(f"run folder {out} already exists: continue it with --resume {out}, "
                             f"replace it with --overwrite, or choose another --out")
        if not (out / "config.yaml").is_file():
            raise AeganError(f"{out} is not an aegan run folder (no config.yaml), so --overwrite will not delete it: "
                             f"choose another --out")
        shutil.rmtree(out)
    try:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise AeganError(f"cannot write to run folder {out}: {e.strerror or e}") from None
    return out


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records after `step` (written after the checkpoint we resume from) so steps never repeat."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a crash
    checkpoint.atomic_write_text(path, "".join(f"{line}\n" for line in kept))


# --- the loop ------------------------------------------------------------------------------------

def fit(cfg: Config, ds: data_lib.Dataset, out: Path, resume: bool = False) -> Run:
    """Train `cfg` on `ds` in run folder `out`, from its newest checkpoint if `resume`."""
    fabric = Fabric(accelerator=cfg.fabric.accelerator, devices=cfg.fabric.devices, num_nodes=cfg.fabric.num_nodes,
                    strategy=cfg.fabric.strategy, precision=cfg.fabric.precision)  # type: ignore[arg-type]
    fabric.launch()
    if cfg.fabric.threads:
        torch.set_num_threads(cfg.fabric.threads)
    torch.manual_seed(cfg.seed + fabric.global_rank)

    model = build_model(cfg, ds.shape)
    raw_nets = dict(model.nets.items())
    phases = model.phases()
    optimizers = {p.name: torch.optim.Adam(_params(raw_nets, p.nets), lr=cfg.optim.lr,
                                           betas=(cfg.optim.beta1, cfg.optim.beta2))
                  for p in phases}

    loop_tricks = LoopTricks(cfg, model, raw_nets)
    start, elapsed = 0, 0.0
    state = checkpoint.latest(out / "checkpoints") if resume else None
    if state is not None:
        tensors, meta = state
        load_weights(raw_nets, tensors)
        loop_tricks.load(tensors)
        for name, opt in optimizers.items():
            checkpoint.load_optimizer_state(name, opt, tensors, meta["optim"][name])
        checkpoint.set_rng_state(tensors, meta["rng"])
        start, elapsed = int(meta["step"]), float(meta.get("elapsed_s", 0.0))
        if start >= cfg.steps:
            print(f"aegan: {out} already reached step {start} of {cfg.steps}; nothing to do")
            return Run.load(out)

    for name, net in raw_nets.items():
        model.nets[name] = fabric.setup_module(net)
    optimizers = {name: fabric.setup_optimizers(opt) for name, opt in optimizers.items()}
    net_params = {name: list(net.parameters()) for name, net in raw_nets.items()}

    writer = None
    if fabric.is_global_zero:
        checkpoint.atomic_write_text(out / "config.yaml", cfg.to_yaml())
        checkpoint.atomic_write_text(out / "data.json", json.dumps(ds.info()))
        if resume:
            _truncate_metrics(out / "metrics.jsonl", start)
        elif (out / "metrics.jsonl").exists():
            (out / "metrics.jsonl").unlink()
        from torch.utils.tensorboard import SummaryWriter  # slow import: only where it is used
        writer = SummaryWriter(str(out / "tensorboard"), purge_step=start if resume else None)

    x_train = fabric.to_device(ds.train)
    order = BatchOrder(len(ds.train), cfg.batch_size, cfg.seed, fabric.global_rank, fabric.world_size)
    z_picture = model.prior(64 if ds.kind == "image" else 2000, "cpu",
                            generator=torch.Generator().manual_seed(PICTURE_SEED + cfg.seed))
    modes = ds.info().get("modes")  # centres for the scatter pictures, computed once
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    from tqdm import tqdm
    bar = tqdm(total=cfg.steps, initial=start, disable=None if (cfg.progress and fabric.is_global_zero) else True,
               desc=f"{cfg.model} on {cfg.data}", unit="step", dynamic_ncols=True)
    t0 = time.perf_counter()
    metrics_file = open(out / "metrics.jsonl", "a") if fabric.is_global_zero else None
    try:
        for step in range(start, cfg.steps):
            lr = lr_at(cfg, step)
            x = x_train[order.indices(step).to(x_train.device)]
            logs = train_step(model, raw_nets, phases, optimizers, x, step, lr, fabric.backward, net_params,
                              loop_tricks)
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
            done = step + 1
            bar.update(1)

            if done % cfg.log_every == 0 or done == cfg.steps:
                record = {"step": done, "time_s": round(elapsed + time.perf_counter() - t0, 3), "lr": lr}
                record.update({k: float(v / counts[k]) for k, v in sums.items()})
                sums.clear(), counts.clear()
                bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
                if bad:
                    raise TrainingDiverged(f"training diverged before step {done}: {', '.join(bad)} is not finite; "
                                           f"the last good checkpoint is kept in {out / 'checkpoints'} "
                                           f"(try a lower optim.lr)")
                if metrics_file is not None:
                    metrics_file.write(json.dumps(record) + "\n")
                    metrics_file.flush()
                    for k, v in record.items():
                        if k != "step":
                            writer.add_scalar(k, v, done)
                bar.set_postfix({k.split("/")[-1]: f"{v:.3f}" for k, v in record.items() if k.startswith("loss/")})

            if fabric.is_global_zero and (done % cfg.sample_every == 0 or done == cfg.steps):
                picture(model, raw_nets, z_picture, ds.transform, ds.kind, modes,
                        out / "samples" / f"step_{done:07d}.png", title=f"{cfg.model} on {cfg.data}, step {done}")

            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                if metrics_file is not None:
                    metrics_file.flush()
                if fabric.is_global_zero:
                    save_checkpoint(out, done, raw_nets, optimizers, elapsed + time.perf_counter() - t0,
                                    cfg.keep_checkpoints, loop_tricks.state())
                fabric.barrier()
    finally:
        bar.close()
        if metrics_file is not None:
            metrics_file.close()
        if writer is not None:
            writer.close()
        for name, net in raw_nets.items():
            model.nets[name] = net
            net.requires_grad_(True)
    run = Run.load(out)
    if fabric.is_global_zero and run.default_sampler != "prior":
        run._data = ds
        run.code_sampler(run.default_sampler)  # fit the default code model now, so the run folder is complete
    return run


class LoopTricks:
    """The tricks that act on the loop rather than on a model's networks: R1 on D's phase, historical averaging of
    G and D, and the generator's moving average. Their state is checkpointed with the run."""

    def __init__(self, cfg: Config, model: Model, nets: dict[str, torch.nn.Module]) -> None:
        from aegan import tricks

        t = cfg.tricks
        self.r1 = t.r1 if "D" in nets else 0.0
        self.r1_every = t.r1_every
        self.ha_weight = t.historical_averaging
        self.ha = {n: tricks.HistoricalAverage() for n in ("G", "D") if n in nets and t.historical_averaging > 0}
        self.ema = None
        if t.ema > 0:
            self.ema = tricks.EMA(nets["G"], t.ema)
            model.g_ema = self.ema.module

    @property
    def active(self) -> bool:
        return bool(self.r1 or self.ha or self.ema)

    def penalties(self, phase: Phase, s: Any, nets: dict[str, torch.nn.Module],
                  params: dict[str, list[torch.Tensor]], step: int) -> dict[str, torch.Tensor]:
        from aegan import tricks
        from aegan.nets.minibatch import MinibatchDiscrimination

        out = {}
        if self.r1 and "D" in phase.nets and step % self.r1_every == 0:
            mbd = [m for m in nets["D"].modules() if isinstance(m, MinibatchDiscrimination)]
            for m in mbd:
                m.twice_differentiable = True  # the penalty's gradient needs second derivatives
            # k·γ/2·E‖∇ₓD(x)‖² every k-th step: Mescheder 2018 Eq. (9), lazily (Karras 2020 §4)
            out["r1"] = self.r1_every * self.r1 * tricks.r1_penalty(nets["D"], s.x)
            for m in mbd:
                m.twice_differentiable = False
        for name in phase.nets:
            if name in self.ha:
                out[f"hist_{name}"] = self.ha_weight * self.ha[name].penalty(params[name])  # ‖θ − θ̄‖², Salimans §3.3
        return out

    def after_step(self, phase: Phase, nets: dict[str, torch.nn.Module], params: dict[str, list[torch.Tensor]]) -> None:
        for name in phase.nets:
            if name in self.ha:
                self.ha[name].update(params[name])
        if self.ema is not None and "G" in phase.nets:
            self.ema.update(nets["G"])

    def state(self) -> dict[str, torch.Tensor]:
        tensors = {f"ha.{n}.{k}": v for n, h in self.ha.items() for k, v in h.state_dict().items()}
        if self.ema is not None:
            tensors.update({f"ema.G.{k}": v for k, v in self.ema.module.state_dict().items()})
        return tensors

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, h in self.ha.items():
            prefix = f"ha.{name}."
            h.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        if self.ema is not None:
            load_weights({"G": self.ema.module}, tensors, prefix="ema.")


def train_step(model: Model, nets: dict[str, torch.nn.Module], phases: Sequence[Phase], optimizers: dict[str, Any],
               x: torch.Tensor, step: int, lr: float, backward: Callable[..., Any] = torch.Tensor.backward,
               params: dict[str, list[torch.Tensor]] | None = None,
               loop_tricks: LoopTricks | None = None) -> dict[str, torch.Tensor]:
    """One step: the shared forward passes, then each due phase with every network but its own frozen.

    `params` maps each network name to its parameter list (computed here if not given; the loop passes it
    once, since walking the modules every step costs more than a small network's forward pass).
    Returns the detached losses and extra logs of the phases that ran, keyed `loss/<phase>`, `<phase>/<name>`.
    """
    params = params if params is not None else {name: list(net.parameters()) for name, net in nets.items()}
    _set_trainable(params, nets)  # the shared forward passes record graphs for every network
    s = model.begin_step(x)
    logs: dict[str, torch.Tensor] = {}
    for phase in phases:
        if step % phase.every:
            continue
        _set_trainable(params, phase.nets)  # new forward passes record no weight gradients for frozen nets
        loss, extra = phase.loss(s)
        if loop_tricks is not None and loop_tricks.active:
            penalties = loop_tricks.penalties(phase, s, nets, params, step)
            loss = loss + sum(penalties.values())
            extra = {**extra, **penalties}
        opt = optimizers[phase.name]
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        # Gradients reach only this phase's networks, even through the shared forward passes, whose graphs are
        # kept for later phases: a network updated earlier in the step is never backpropagated through again.
        backward(loss, inputs=[p for n in phase.nets for p in params[n]], retain_graph=True)
        opt.step()
        if loop_tricks is not None and loop_tricks.active:
            loop_tricks.after_step(phase, nets, params)
        logs[f"loss/{phase.name}"] = loss.detach().float()
        logs.update({f"{phase.name}/{k}": v.detach().float() for k, v in extra.items()})
    return logs


def _set_trainable(params: dict[str, list[torch.Tensor]], trainable: Any) -> None:
    for name, ps in params.items():
        flag = name in trainable
        for p in ps:
            p.requires_grad_(flag)


def _params(nets: dict[str, torch.nn.Module], names: Sequence[str]) -> list[torch.Tensor]:
    return [p for n in names for p in nets[n].parameters()]


def save_checkpoint(out: Path, step: int, nets: dict[str, torch.nn.Module], optimizers: dict[str, Any],
                    elapsed: float, keep: int, extra: dict[str, torch.Tensor] | None = None) -> None:
    tensors: dict[str, torch.Tensor] = {f"nets.{name}.{k}": v for name, net in nets.items()
                                        for k, v in net.state_dict().items()}
    tensors.update(extra or {})
    optim_meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        t, m = checkpoint.optimizer_state(name, opt)
        tensors.update(t)
        optim_meta[name] = m
    rng_tensors, rng_meta = checkpoint.rng_state()
    tensors.update(rng_tensors)
    checkpoint.save(out / "checkpoints", step, tensors,
                    {"optim": optim_meta, "rng": rng_meta, "elapsed_s": round(elapsed, 3)}, keep=keep)


def load_weights(nets: dict[str, torch.nn.Module], tensors: dict[str, torch.Tensor], prefix: str = "nets.") -> None:
    """Load `<prefix><name>.*` tensors strictly: a checkpoint of another architecture is refused, not half-loaded."""
    root = prefix
    for name, net in nets.items():
        prefix = f"{root}{name}."
        sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[0]
            raise CheckpointError(f"checkpoint does not fit network {name} of this model ({first})") from None


# --- public entry points -------------------------------------------------------------------------

def train(model: str, data: str, *, steps: int | None = None, out: str | Path | None = None,
          seed: int | None = None, batch_size: int | None = None, config: str | Path | None = None,
          overrides: Sequence[str] | dict[str, Any] = (), overwrite: bool = False) -> Run:
    """Train `model` on `data` and return the finished run. See DESIGN §4b.

    >>> run = aegan.train("gan", data="grid25", steps=2000, out="runs/g", seed=0)
    """
    cfg, ds = make_config(model, data, steps=steps, batch_size=batch_size, seed=seed, config_file=config,
                          overrides=overrides)
    return fit(cfg, ds, prepare_out(out, cfg, overwrite))


def resume(run_dir: str | Path, steps: int | None = None) -> Run:
    """Continue `run_dir` from its newest good checkpoint (optionally to a new total of `steps`)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(f"{run_dir} is not an aegan run folder (no config.yaml): nothing to resume")
    cfg = Config.from_dict(read_yaml(run_dir / "config.yaml"))
    if steps is not None:
        set_value(cfg, "steps", steps)
    cfg.validate()
    ds = data_lib.load(cfg.data)
    stored = json.loads((run_dir / "data.json").read_text()) if (run_dir / "data.json").is_file() else None
    if stored is not None and list(stored.get("shape", [])) != list(ds.shape):
        raise CheckpointError(f"data {cfg.data} now has shape {list(ds.shape)}, but {run_dir} was trained on "
                              f"{stored.get('shape')}: restore the original data to resume")
    return fit(cfg, ds, run_dir, resume=True)

