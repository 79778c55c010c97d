"""The one training loop. Every model runs through it; it owns zero_grad/backward/step for every phase.

Per step:  s = model.begin_step(x)               # random inputs and the forward passes phases share
           for phase in model.phases():           # e.g. D then G
               freeze every network but phase.nets
               loss = phase.loss(s); zero_grad; backward; step   (only phase.nets' optimizer steps)
Around it: logging (metrics.jsonl, TensorBoard, progress bar), sample pictures, atomic checkpoints,
exact resumption (the batch order and every random draw are pure functions of seed and step), NaN/Inf checks
of losses and weights with optional rollback, and Lightning Fabric for devices, precision and processes: each
of N processes takes its share of the global batch and the z drawn for the whole batch, and the loop averages
the gradients, so N processes follow the run of one.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from lightning_fabric import Fabric

from aegan import checkpoint, models, monitor
from aegan import data as data_lib
from aegan.config import Config, apply_dict, parse_override, read_yaml, set_value
from aegan.errors import AeganError, CheckpointError, ConfigError
from aegan.models.base import Model, Phase
from aegan.run import Run, build_model, generate_eval, picture

PICTURE_SEED = 1_234_567  # fixed z for sample pictures: the same points over time, no draw from the training RNG


class TrainingDiverged(AeganError):
    """A loss or a network's weights became NaN or infinite (and no rollback was left)."""


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
    build_model(cfg, ds.shape)  # the model checks its own settings (model_args, tricks) before anything is written
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


# --- randomness ----------------------------------------------------------------------------------

def step_seed(seed: int, step: int, stream: int) -> int:
    """A seed for one step's draws, mixed by NumPy's SeedSequence (torch seeds its CPU generator with 32 bits).

    stream 0: the prior draws z of the global batch, the same in every process; 1 + rank: one process's own draws.
    """
    return int(np.random.SeedSequence([seed % 2**32, step, stream]).generate_state(1)[0])


class StepNoise:
    """Every step's random draws as a pure function of (seed, step): resumption needs no RNG state, and N processes
    draw the z of one process.

    Installed as the model's `prior` while it trains: a draw of n codes takes the world·n codes of the global batch
    from a generator seeded by (seed, step), the same in every process, and keeps this process's rows. Draws with an
    explicit generator (the sample pictures) pass through. Other draws (a VAE's ε) come from the global RNG, seeded
    per step and process: exact on resumption, independent between processes, but not those of a 1-process run.
    """

    def __init__(self, model: Model, seed: int, rank: int = 0, world: int = 1,
                 device: torch.device | str = "cpu") -> None:
        self.model_prior = model.prior  # the model's own prior, bound to it
        self.seed, self.rank, self.world, self.device = seed, rank, world, torch.device(device)
        self.generator = torch.Generator()

    def start(self, step: int) -> None:
        self.generator.manual_seed(step_seed(self.seed, step, 0))
        own = step_seed(self.seed, step, 1 + self.rank)
        torch.default_generator.manual_seed(own)  # not torch.manual_seed: it visits every device type (~0.1 ms)
        if self.device.type == "cuda":
            torch.cuda.manual_seed(own)  # this process's GPU

    def __call__(self, n: int, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is not None:
            return self.model_prior(n, device, generator=generator)
        z = self.model_prior(n * self.world, "cpu", generator=self.generator)  # (world·n, latent_dim): global batch
        return z[self.rank * n:(self.rank + 1) * n].to(device)


# --- divergence ----------------------------------------------------------------------------------

class DivergenceWatch:
    """NaN/Inf checks after every optimizer step, kept on the device and read only when the loop logs, draws or
    checkpoints, so it never waits for the device in between (a checkpoint is written only after a clean read).

    Per phase: one isfinite over its loss and the weight sum of each network it updated. The first failure is stored
    as the code step·slots + slot, so `first()` names the step, and the loss or the network, that went wrong.
    """

    NONE = torch.iinfo(torch.long).max

    def __init__(self, phases: Sequence[Phase], device: torch.device | str = "cpu") -> None:
        self.what: list[str] = []  # slot -> what failed
        self.slots: dict[str, torch.Tensor] = {}  # phase -> its slots: its loss, then each network it updates
        for p in phases:
            first = len(self.what)
            self.what += [f"the loss of phase {p.name} is NaN or Inf",
                          *(f"the weights of {n} became NaN or Inf in phase {p.name}'s update" for n in p.nets)]
            self.slots[p.name] = torch.arange(first, len(self.what), device=device)
        self.code = torch.full((), self.NONE, dtype=torch.long, device=device)

    @torch.no_grad()
    def check(self, phase: Phase, step: int, loss: torch.Tensor, params: dict[str, list[torch.Tensor]]) -> None:
        sums = (torch.stack([p.sum() for p in params[n]]).sum().float() for n in phase.nets)  # NaN/Inf propagate
        values = torch.stack([loss.detach().float(), *sums])
        codes = torch.where(values.isfinite(), self.NONE, step * len(self.what) + self.slots[phase.name])
        torch.minimum(self.code, codes.min(), out=self.code)

    def first(self, world: int = 1) -> str | None:
        """'at step N: what' for the first failure since `reset`, agreed by every process; None if all is finite."""
        code = self.code.clone()
        if world > 1:
            torch.distributed.all_reduce(code, op=torch.distributed.ReduceOp.MIN)
        if int(code) == self.NONE:
            return None
        step, slot = divmod(int(code), len(self.what))
        return f"at step {step + 1}: {self.what[slot]}"

    def reset(self) -> None:
        self.code.fill_(self.NONE)


# --- the loop ------------------------------------------------------------------------------------

@dataclass
class Engine:
    """What the loop adds around each phase: Fabric's backward and autocast, the gradient mean over processes, and
    the divergence watch."""

    backward: Callable[..., Any] = torch.Tensor.backward
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext
    world: int = 1  # processes sharing the global batch
    watch: DivergenceWatch | None = None


class RunLog:
    """metrics.jsonl (one JSON object per record, with its `step`) and TensorBoard, written by global rank 0 only.

    `rewind(step)` drops what came after `step` (for a resumption or a rollback), so steps never repeat.
    """

    def __init__(self, out: Path, active: bool, start: int, resume: bool) -> None:
        self.out, self.active = out, active
        self.file: Any = None
        self.writer: Any = None
        if not active:
            return
        if resume:
            self.rewind(start)
        else:
            (out / "metrics.jsonl").unlink(missing_ok=True)
            self._open(purge_step=None)

    def _open(self, purge_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow import: only where it is used

        self.file = open(self.out / "metrics.jsonl", "a")
        self.writer = SummaryWriter(str(self.out / "tensorboard"), purge_step=purge_step)

    def write(self, record: dict[str, Any]) -> None:
        if not self.active:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        for k, v in record.items():
            if k != "step" and isinstance(v, (int, float)):
                self.writer.add_scalar(k, v, record["step"])

    def rewind(self, step: int) -> None:
        if not self.active:
            return
        self.close()
        _truncate_metrics(self.out / "metrics.jsonl", step)
        self._open(purge_step=step)

    def close(self) -> None:
        for f in (self.file, self.writer):
            if f is not None:
                f.close()
        self.file = self.writer = None


def start_fabric(cfg: Config) -> Fabric:
    """Lightning Fabric for `cfg.fabric`, launched: with strategy ddp on one node this starts the other processes,
    each re-running the same command; under torchrun or SLURM the launcher has started them already.

    Settings Fabric rejects (an accelerator this machine lacks, an unknown strategy or precision), spawning
    strategies (they need the loop as a function) and a batch the processes cannot share are ConfigErrors,
    raised before any other process starts.
    """
    f = cfg.fabric
    try:
        fabric = Fabric(accelerator=f.accelerator, devices=f.devices, num_nodes=f.num_nodes, strategy=f.strategy,
                        precision=f.precision)  # type: ignore[arg-type]
    except (ValueError, RuntimeError, TypeError, ImportError) as e:
        first = " ".join(str(e).split(". ")[0].split())
        raise ConfigError(f"Lightning Fabric rejects fabric.accelerator={f.accelerator} fabric.devices={f.devices} "
                          f"fabric.strategy={f.strategy} fabric.precision={f.precision}: {first}") from None
    if cfg.batch_size % fabric.world_size:
        raise ConfigError(f"batch_size {cfg.batch_size} must be divisible by the {fabric.world_size} processes "
                          f"(fabric.devices × fabric.num_nodes): change --batch-size or fabric.devices")
    try:
        fabric.launch()
    except TypeError:  # ddp_spawn, ddp_fork, ...: Fabric wants launch(function)
        raise ConfigError(f"fabric.strategy={f.strategy} is not supported: use fabric.strategy=ddp, which starts "
                          f"one process per device re-running the same command") from None
    return fabric


def fit(cfg: Config, ds: data_lib.Dataset, out: Path, resume: bool = False, fabric: Fabric | None = None) -> Run:
    """Train `cfg` on `ds` in run folder `out`, from its newest checkpoint if `resume`.

    Stops with TrainingDiverged when a loss or weight becomes NaN or Inf, or, with optim.rollback = N, goes back to
    the last good checkpoint with the learning rate times optim.rollback_factor, up to N times.
    """
    fabric = fabric or start_fabric(cfg)
    if cfg.fabric.threads:
        torch.set_num_threads(cfg.fabric.threads)
    torch.manual_seed(cfg.seed)  # every process builds the same initial weights
    model = build_model(cfg, ds.shape).to(fabric.device)
    nets = dict(model.nets.items())
    phases = model.phases()
    optimizers = {p.name: fabric.setup_optimizers(torch.optim.Adam(_params(nets, p.nets), lr=cfg.optim.lr,
                                                                   betas=(cfg.optim.beta1, cfg.optim.beta2)))
                  for p in phases}
    loop_tricks = LoopTricks(cfg, model, nets)
    params = {name: list(net.parameters()) for name, net in nets.items()}
    ckpt_dir, rank0 = out / "checkpoints", fabric.is_global_zero

    start, elapsed, lr_scale, rollbacks = 0, 0.0, 1.0, 0
    state = checkpoint.latest(ckpt_dir) if resume else None
    if state is not None:
        start, elapsed, lr_scale, rollbacks = _restore(state, nets, optimizers, loop_tricks)
        if start >= cfg.steps:
            print(f"aegan: {out} already reached step {start} of {cfg.steps}; nothing to do")
            return Run.load(out)

    if rank0:
        checkpoint.atomic_write_text(out / "config.yaml", cfg.to_yaml())
        checkpoint.atomic_write_text(out / "data.json", json.dumps(ds.info()))
    log = RunLog(out, rank0, start, resume)
    collapse = monitor.for_run(cfg, ds, model)  # before the prior is replaced: its probe draws stay fixed
    noise = StepNoise(model, cfg.seed, fabric.global_rank, fabric.world_size, fabric.device)
    model.prior = noise  # type: ignore[method-assign]
    engine = Engine(fabric.backward, fabric.autocast, fabric.world_size, DivergenceWatch(phases, fabric.device))
    x_train = fabric.to_device(ds.train)
    order = BatchOrder(len(ds.train), cfg.batch_size, cfg.seed, fabric.global_rank, fabric.world_size)
    z_picture = model.prior(64 if ds.kind == "image" else 2000, "cpu",
                            generator=torch.Generator().manual_seed(PICTURE_SEED + cfg.seed))
    modes = ds.info().get("modes")  # centres for the scatter pictures, computed once
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    from tqdm import tqdm
    bar = tqdm(total=cfg.steps, initial=start, disable=None if (cfg.progress and rank0) else True,
               desc=f"{cfg.model} on {cfg.data}", unit="step", dynamic_ncols=True)
    t0 = time.perf_counter()

    def save(done: int) -> None:
        if rank0:
            save_checkpoint(out, done, nets, optimizers, elapsed + time.perf_counter() - t0, cfg.keep_checkpoints,
                            loop_tricks.state(), {"lr_scale": lr_scale, "rollbacks": rollbacks})
        fabric.barrier()

    step = start
    try:
        if cfg.optim.rollback and state is None:
            save(0)  # a state to go back to before the first regular checkpoint
        while step < cfg.steps:
            noise.start(step)
            x = x_train[order.indices(step).to(x_train.device)]
            lr = lr_at(cfg, step) * lr_scale
            logs = train_step(model, nets, phases, optimizers, x, step, lr, engine, params, loop_tricks)
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
            step += 1
            bar.update(1)
            log_due = step % cfg.log_every == 0 or step == cfg.steps
            picture_due = step % cfg.sample_every == 0 or step == cfg.steps
            checkpoint_due = step % cfg.checkpoint_every == 0 or step == cfg.steps

            # read in every process at the same steps: the processes agree on a failure by an all-reduce
            failure = engine.watch.first(fabric.world_size) if log_due or picture_due or checkpoint_due else None
            if failure is not None:
                if rollbacks >= cfg.optim.rollback:
                    raise _diverged(failure, rollbacks, lr_scale, ckpt_dir)
                step = _restore(checkpoint.latest(ckpt_dir), nets, optimizers, loop_tricks)[0]
                rollbacks, lr_scale = rollbacks + 1, lr_scale * cfg.optim.rollback_factor
                if rank0:
                    print(f"aegan: training diverged {failure}; rollback {rollbacks} of {cfg.optim.rollback}: back "
                          f"to step {step} with lr × {lr_scale:g}", flush=True)
                log.rewind(step)
                log.write({"step": step, "time_s": round(elapsed + time.perf_counter() - t0, 3), "event": "rollback",
                           "rollback": rollbacks, "lr_scale": lr_scale, "reason": failure})
                engine.watch.reset()
                sums.clear(), counts.clear()
                bar.n = step
                bar.refresh()
                continue

            if log_due:
                keys = list(sums)
                means = (torch.stack([sums[k] / counts[k] for k in keys]) if keys
                         else torch.zeros(0, device=fabric.device))
                if fabric.world_size > 1:  # the mean over the global batch, not this process's share
                    torch.distributed.all_reduce(means)
                    means /= fabric.world_size
                record = {"step": step, "time_s": round(elapsed + time.perf_counter() - t0, 3), "lr": lr}
                record.update(zip(keys, means.tolist()))
                sums.clear(), counts.clear()
                log.write(record)
                bar.set_postfix({k.split("/")[-1]: f"{v:.3f}" for k, v in record.items() if k.startswith("loss/")})

            if picture_due and rank0:
                picture(model, nets, z_picture, ds.transform, ds.kind, modes,
                        out / "samples" / f"step_{step:07d}.png", title=f"{cfg.model} on {cfg.data}, step {step}")

            if collapse is not None and step % cfg.monitor.every == 0:
                check = collapse.check(generate_eval(model, nets, collapse.z))  # the same on every process
                log.write({"step": step, "time_s": round(elapsed + time.perf_counter() - t0, 3), **check.values})
                if check.warning and rank0:
                    bar.set_description_str(f"{cfg.model} on {cfg.data} [collapse?]")
                    bar.write(f"aegan: step {step}: possible mode collapse: {check.warning}")
                if check.stop:
                    save(step)
                    if rank0:
                        bar.write(f"aegan: stopped at step {step}: {cfg.monitor.patience} collapse warnings in a "
                                  f"row (monitor.stop); the run is kept as it is now")
                    break

            if checkpoint_due:
                save(step)
    except OSError as e:
        raise AeganError(f"cannot write to run folder {out} at step {step}: {e.strerror or e}; the last good "
                         f"checkpoint is kept: free space or fix permissions, then continue with "
                         f"`aegan train --resume {out}`") from None
    finally:
        bar.close()
        log.close()
        del model.prior  # the model's own prior again
        for net in nets.values():
            net.requires_grad_(True)
    run = Run.load(out)
    if rank0 and run.default_sampler != "prior":
        run._data = ds
        run.code_sampler(run.default_sampler)  # fit the default code model now, so the run folder is complete
    return run


def _diverged(failure: str, rollbacks: int, lr_scale: float, ckpt_dir: Path) -> TrainingDiverged:
    """The one-line error for a run that diverged with no rollback left."""
    tried = f" after {rollbacks} rollback(s) to lr × {lr_scale:g}" if rollbacks else ""
    kept = (f"the last good checkpoint is kept in {ckpt_dir}" if checkpoint.list_checkpoints(ckpt_dir)
            else "no checkpoint had been written yet")
    return TrainingDiverged(f"training diverged {failure}{tried}; {kept}: lower optim.lr, or set optim.rollback=2 "
                            f"to go back to the last good checkpoint with a lower learning rate automatically")


def _restore(state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None, nets: dict[str, torch.nn.Module],
             optimizers: dict[str, Any], loop_tricks: LoopTricks) -> tuple[int, float, float, int]:
    """Load a checkpoint into the networks, optimizers and loop tricks -> (step, elapsed_s, lr_scale, rollbacks)."""
    if state is None:
        raise CheckpointError("no checkpoint to go back to")
    tensors, meta = state
    load_weights(nets, tensors)
    loop_tricks.load(tensors)
    for name, opt in optimizers.items():
        checkpoint.load_optimizer_state(name, opt, tensors, meta["optim"][name])
    checkpoint.set_rng_state(tensors, meta["rng"])
    return (int(meta["step"]), float(meta.get("elapsed_s", 0.0)), float(meta.get("lr_scale", 1.0)),
            int(meta.get("rollbacks", 0)))


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
               x: torch.Tensor, step: int, lr: float, engine: Engine | None = None,
               params: dict[str, list[torch.Tensor]] | None = None,
               loop_tricks: LoopTricks | None = None) -> dict[str, torch.Tensor]:
    """One step: the shared forward passes, then each due phase with every network but its own frozen.

    x: this process's share of the global batch. `params` maps each network name to its parameter list (computed
    here if not given; the loop passes it once, since walking the modules every step costs more than a small
    network's forward pass). Returns the detached losses and extra logs of the phases that ran, keyed
    `loss/<phase>`, `<phase>/<name>`.
    """
    engine = engine or Engine()
    params = params if params is not None else {name: list(net.parameters()) for name, net in nets.items()}
    _set_trainable(params, nets)  # the shared forward passes record graphs for every network
    with engine.autocast():
        s = model.begin_step(x)
    logs: dict[str, torch.Tensor] = {}
    for phase in phases:
        if step % phase.every:
            continue
        _set_trainable(params, phase.nets)  # new forward passes record no weight gradients for frozen nets
        with engine.autocast():
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
        trained = [p for n in phase.nets for p in params[n]]
        engine.backward(loss, inputs=trained, retain_graph=True)
        if engine.world > 1:
            average_gradients(trained, engine.world)
        opt.step()
        if engine.watch is not None:
            engine.watch.check(phase, step, loss, params)
        if loop_tricks is not None and loop_tricks.active:
            loop_tricks.after_step(phase, nets, params)
        logs[f"loss/{phase.name}"] = loss.detach().float()
        logs.update({f"{phase.name}/{k}": v.detach().float() for k, v in extra.items()})
    return logs


def average_gradients(params: Sequence[torch.Tensor], world: int) -> None:
    """DDP's gradient mean over the processes, as one all-reduce of the phase's flattened gradients.

    Each process's loss is a mean over its equal share of the global batch, so the mean of their gradients is the
    gradient of the mean over the global batch. Done here rather than by DistributedDataParallel, whose hooks
    expect every wrapped parameter to receive a gradient in every backward pass: phases freeze all networks but
    their own, and backpropagate through frozen ones.
    """
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def _set_trainable(params: dict[str, list[torch.Tensor]], trainable: Any) -> None:
    for name, ps in params.items():
        flag = name in trainable
        for p in ps:
            p.requires_grad_(flag)


def _params(nets: dict[str, torch.nn.Module], names: Sequence[str]) -> list[torch.Tensor]:
    return [p for n in names for p in nets[n].parameters()]


def save_checkpoint(out: Path, step: int, nets: dict[str, torch.nn.Module], optimizers: dict[str, Any],
                    elapsed: float, keep: int, extra: dict[str, torch.Tensor] | None = None,
                    meta: dict[str, Any] | None = None) -> None:
    """Checkpoint `step`: weights, `extra` tensors, optimizer and RNG states, and `meta` (JSON values)."""
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
                    {"optim": optim_meta, "rng": rng_meta, "elapsed_s": round(elapsed, 3), **(meta or {})}, keep=keep)


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
    fabric = start_fabric(cfg)
    return fit(cfg, ds, _on_rank_zero(fabric, lambda: prepare_out(out, cfg, overwrite)), fabric=fabric)


def _on_rank_zero(fabric: Fabric, fn: Callable[[], Any]) -> Any:
    """fn() in global rank 0 only; its result, or its AeganError, reaches every process."""
    result: tuple[bool, Any] = (True, None)
    if fabric.is_global_zero:
        try:
            result = (True, fn())
        except AeganError as e:
            result = (False, str(e))
    ok, value = fabric.broadcast(result)
    if not ok:
        raise AeganError(value)
    return value


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

