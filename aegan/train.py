"""The one training loop. Every model runs through it; it owns zero_grad/backward/step for every phase.

Per step:  s = model.begin_step(x)               # random inputs and the forward passes phases share
           for phase in model.phases():           # e.g. D then G
               freeze every network but phase.nets
               loss = phase.loss(s); zero_grad; backward; step   (only phase.nets' optimizer steps)
then the periodic hooks: log, picture, collapse monitor, checkpoint. What surrounds the loop lives in aegan/loop/:
the config (configure), the batch order and step noise (steps), the NaN/Inf watch (divergence), Lightning Fabric
and the gradient mean (distributed), the run folder and its log (run_folder), checkpoints of the whole state
(state), the loop tricks (tricks), and the hooks between steps with the loop's state (hooks).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric

from aegan import checkpoint, monitor
from aegan import data as data_lib
from aegan.config import Config, read_yaml, set_value
from aegan.errors import AeganError, CheckpointError
from aegan.loop import budget, distributed
from aegan.loop.configure import make_config
from aegan.loop.distributed import Engine, average_gradients, make_optimizers, on_rank_zero, start_fabric
from aegan.loop.hooks import Loop, budget_spent, flush_log, replan, rollback, save, watch_collapse
from aegan.loop.run_folder import RunLog, prepare_out, write_records
from aegan.loop.state import Progress, restore_state
from aegan.loop.steps import Batches, BatchOrder, StepNoise, lr_at
from aegan.loop.tricks import LoopTricks
from aegan.metrics.feature_net import feature_network
from aegan.models import Model, Phase, build_model
from aegan.plots import picture
from aegan.run import Run, check_nets_record, data_to_resume

PICTURE_SEED = 1_234_567  # fixed z for sample pictures: the same points over time, no draw from the training RNG


def fit(cfg: Config, ds: data_lib.Dataset, out: Path, resume: bool = False, fabric: Fabric | None = None,
        own_nets: dict[str, torch.nn.Module] | None = None) -> Run:
    """Train `cfg` on `ds` in run folder `out`, from its newest checkpoint if `resume`; `own_nets`: the user's own
    networks (copied; RUN/nets.json names them, and loading the run asks for them again).

    Stops with TrainingDiverged when a loss or weight becomes NaN or Inf, or, with optim.rollback = N, goes back to
    the last good checkpoint with the learning rate times optim.rollback_factor, up to N times.
    """
    from tqdm import tqdm

    fabric = fabric or start_fabric(cfg)
    if cfg.fabric.threads:
        torch.set_num_threads(cfg.fabric.threads)
    torch.manual_seed(cfg.seed)  # every process builds the same initial weights
    model = build_model(cfg, ds.shape, own_nets).to(fabric.device)
    if model.needs_feature_net:  # perceptual reconstruction in a separate, cached network (never the evaluator)
        model.phi = feature_network(ds).to(fabric.device)
    nets, phases = dict(model.nets.items()), model.phases()
    distributed.broadcast_weights(nets, fabric.world_size)  # the user's own modules start alike in every process
    optimizers = make_optimizers(cfg, nets, phases, fabric)
    loop_tricks, rank0 = LoopTricks(cfg, model, nets), fabric.is_global_zero
    state = checkpoint.latest(out / "checkpoints") if resume else None
    progress = restore_state(state, nets, optimizers, loop_tricks) if state is not None else Progress()
    if progress.step >= cfg.steps or (cfg.minutes and progress.elapsed_s >= cfg.minutes * 60):
        print(f"aegan: {out} already reached step {progress.step} of {cfg.steps} "
              f"({progress.elapsed_s / 60:.1f} min of training); nothing to do")
        return Run.load(out)
    if rank0:
        write_records(out, cfg, ds, resume, own_nets)
    bar = tqdm(total=cfg.steps, initial=progress.step, disable=None if (cfg.progress and rank0) else True,
               desc=f"{cfg.model} on {cfg.data}", unit="step", dynamic_ncols=True)
    loop = Loop(cfg, ds, out, fabric, model, nets, phases, optimizers, loop_tricks, progress,
                RunLog(out, rank0, progress.step, resume), bar)
    collapse = monitor.for_run(cfg, ds, model)  # before the prior is replaced: its probe draws stay fixed
    noise = StepNoise(model, cfg.seed, fabric.global_rank, fabric.world_size, fabric.device)
    model.prior = noise  # type: ignore[method-assign]
    order = BatchOrder(ds.n_train, cfg.batch_size, cfg.seed, fabric.global_rank, fabric.world_size)
    batches = Batches(ds, order, fabric.device, cfg.loader_workers)
    if ds.stream is not None and rank0:
        print(f"aegan: streaming the {ds.n_train:,} training examples of {cfg.data} from disk "
              f"(loader workers: {cfg.loader_workers}; {len(ds.train):,} kept in memory for evaluation)")
    z_picture = model.prior(64 if ds.kind == "image" else 2000, "cpu",
                            generator=torch.Generator().manual_seed(PICTURE_SEED + cfg.seed))
    modes = ds.info().get("modes")  # centres for the scatter pictures, computed once
    x_recon = ds.test[:32] if model.has_encoder and ds.kind == "image" else None  # reconstructed in the pictures
    replan_step = budget.replan_at(cfg.steps)
    loop.started = time.perf_counter()
    try:
        if cfg.optim.rollback and state is None:
            save(loop)  # a state to go back to before the first regular checkpoint
        while (step := loop.progress.step) < cfg.steps:
            noise.start(step)
            x = batches(step)
            lr = lr_at(cfg, step) * loop.progress.lr_scale
            loop.means.add(train_step(model, nets, phases, optimizers, x, step, lr, loop.engine, loop.params,
                                      loop_tricks))
            step = loop.progress.step = step + 1
            bar.update(1)
            if cfg.minutes and cfg.replan_step == 0 and step >= replan_step:  # once, from the run's own step time
                replan(loop, budget.replanned_steps(cfg, step, loop.seconds()))
            last = step == cfg.steps or budget_spent(loop)  # every hook runs at the last step
            log_due = step % cfg.log_every == 0 or last
            picture_due = step % cfg.sample_every == 0 or last
            checkpoint_due = step % cfg.checkpoint_every == 0 or last
            # read in every process at the same steps: the processes agree on a failure by an all-reduce
            if log_due or picture_due or checkpoint_due:
                failure = loop.engine.watch.first(fabric.world_size)
                if failure is not None:
                    rollback(loop, failure)
                    continue
            record = flush_log(loop, lr) if log_due else {}
            if picture_due and rank0:
                picture(model, nets, z_picture, ds.transform, ds.kind, modes, out / "samples" / f"step_{step:07d}.png",
                        title=f"{cfg.model} on {cfg.data}, step {step}", x_recon=x_recon)
            stop = collapse is not None and step % cfg.monitor.every == 0 and watch_collapse(loop, collapse, record)
            if record:
                loop.log.write(record)
            if checkpoint_due or stop:
                save(loop)
            if stop or last:
                break
    except OSError as e:
        raise AeganError(f"cannot write to run folder {out} at step {loop.progress.step}: {e.strerror or e}; the "
                         f"last good checkpoint is kept: free space or fix permissions, then continue with "
                         f"`aegan train --resume {out}`") from None
    finally:
        batches.close()
        bar.close()
        loop.log.close()
        del model.prior  # the model's own prior again
        for net in nets.values():
            net.requires_grad_(True)
    run = Run.load(out, nets=own_nets)
    if rank0 and run.default_sampler != "prior":
        run._data = ds
        run.code_sampler(run.default_sampler)  # fit the default code model now, so the run folder is complete
    return run


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
            if loop_tricks is not None and loop_tricks.unrolls(phase):
                loss, extra = loop_tricks.unrolled_loss(phase, s, optimizers)  # against D k steps ahead, Metz 2017
            else:
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


def _set_trainable(params: dict[str, list[torch.Tensor]], trainable: Any) -> None:
    for name, ps in params.items():
        flag = name in trainable
        for p in ps:
            p.requires_grad_(flag)


def train(model: str, data: Any, *, steps: int | None = None, out: str | Path | None = None,
          seed: int | None = None, batch_size: int | None = None, config: str | Path | None = None,
          overrides: Sequence[str] | dict[str, Any] = (), overwrite: bool = False,
          minutes: float | None = None, nets: dict[str, torch.nn.Module] | None = None) -> Run:
    """Train `model` on `data` and return the finished run. See DESIGN §4b.

    `data`: a data set's name, a path, or a Python object (a NumPy array, a torch tensor, an (examples, labels) pair,
    a torch.utils.data.Dataset; aegan.data.objects), checked and transformed as a file would be. A run trained on an
    object keeps its held-out split and 10,000 training examples (RUN/data/), so it samples and evaluates without
    the object; resuming it needs the object again: `aegan.resume(RUN, data=X)`.
    `minutes`: a wall-time budget; steps are then what fits in it (at most `steps` if given too).
    `nets`: your own networks by name (E, G, D, C: those the model has), e.g. {"G": my_generator}; each is checked
    for the shapes the model needs (one ConfigError naming it otherwise) and a copy trains in place of the model's
    (`run.model.nets["G"]` is the trained one). Checkpoints hold only tensors: loading or resuming the run takes the
    same modules again (`aegan.load(RUN, nets=...)`).

    >>> run = aegan.train("gan", data="grid25", steps=2000, out="runs/g", seed=0)
    >>> run = aegan.train("alphagan", data=np.load("my_images.npy"), minutes=10)
    """
    cfg, ds = make_config(model, data, steps=steps, batch_size=batch_size, seed=seed, config_file=config,
                          overrides=overrides, minutes=minutes, nets=nets)
    fabric = start_fabric(cfg)
    if cfg.minutes:
        budget.plan(cfg, ds, fabric, train_step, cap=steps, nets=nets)
    return fit(cfg, ds, on_rank_zero(fabric, lambda: prepare_out(out, cfg, overwrite)), fabric=fabric, own_nets=nets)


def resume(run_dir: str | Path, steps: int | None = None, minutes: float | None = None, data: Any = None,
           nets: dict[str, torch.nn.Module] | None = None) -> Run:
    """Continue `run_dir` from its newest good checkpoint (optionally to a new total of `steps` or `minutes`).

    `data`: for a run trained on a Python object, the same object again (checked by its SHA-256). `nets`: for a run
    trained with your own networks, the same modules again (their weights come from the checkpoint)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(f"{run_dir} is not an aegan run folder (no config.yaml): nothing to resume")
    cfg = Config.from_dict(read_yaml(run_dir / "config.yaml"))
    if steps is not None:
        set_value(cfg, "steps", steps)
    if minutes is not None:  # a new total budget: the schedule spans it, at the step time measured before
        set_value(cfg, "minutes", float(minutes))
        cfg.step_seconds = cfg.step_seconds or round(budget.measured_step_seconds(run_dir), 6)
        cfg.steps = budget.budget_steps(cfg.minutes, cfg.step_seconds, steps)
        cfg.replan_step = cfg.replan_step or -1  # planned from the run's own step time already
    cfg.validate()
    ds = data_to_resume(run_dir, cfg, data)
    check_nets_record(run_dir, nets)
    return fit(cfg, ds, run_dir, resume=True, own_nets=nets)

