"""The tricks that act on the loop rather than on a model's networks (aegan/tricks.py holds their maths):
R1 on D's phase, historical averaging of G and D, the generator's moving average, and the unrolled D that the
generator's phases are scored against. Their state is checkpointed with the run (aegan/loop/state.py); the unrolled
GAN has none of its own (it reads D's weights and D's Adam moments, which the checkpoint holds)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from aegan import checkpoint, tricks
from aegan.config import Config
from aegan.models import Model, Phase
from aegan.models.base import Logs
from aegan.nets.minibatch import MinibatchDiscrimination


class LoopTricks:
    """R1 (Mescheder 2018, lazily as Karras 2020), historical averaging (Salimans 2016 §3.3), EMA (Yazıcı 2019) and
    the unrolled GAN (Metz 2017), as the training loop applies them around each phase."""

    def __init__(self, cfg: Config, model: Model, nets: dict[str, torch.nn.Module]) -> None:
        t = cfg.tricks
        self.r1 = t.r1 if "D" in nets else 0.0
        self.r1_every = t.r1_every
        self.ha_weight = t.historical_averaging
        self.ha = {n: tricks.HistoricalAverage() for n in ("G", "D") if n in nets and t.historical_averaging > 0}
        self.ema = None
        if t.ema > 0:
            self.ema = tricks.EMA(nets["G"], t.ema)
            model.g_ema = self.ema.module
        self.unroll = t.unroll if "D" in nets else 0  # k: D's updates the generator looks ahead through; 0 = off
        self.d = nets.get("D")
        self.d_phase = next((p for p in model.phases() if tuple(p.nets) == ("D",)), None)  # D's own update

    def unrolls(self, phase: Phase) -> bool:
        """Whether `phase` is scored against the unrolled D: the phases that train G, when tricks.unroll > 0."""
        return self.unroll > 0 and "G" in phase.nets

    def unrolled_loss(self, phase: Phase, s: SimpleNamespace, optimizers: dict[str, Any],
                      k: int | None = None) -> tuple[torch.Tensor, Logs]:
        """`phase`'s own loss with D replaced by D unrolled k steps ahead: the surrogate f_k(θ_G, θ_D) =
        f(θ_G, θ_D^k(θ_G, θ_D)) of Metz et al. 2017, arXiv:1611.02163, §2, with the model's own generator loss as f.

        θ_D^0 = D's weights now (after this step's update of D, phase D runs first) and its optimizer's Adam moments;
        θ_D^{i+1} = one Adam step on D's own phase loss at θ_D^i (aegan.tricks.unroll), with the step's batch and draws
        (as Metz et al.'s reference code; each process its own share), differentiable; then the phase's loss, as the
        model writes it, with every use of D in it (logits, features) at θ_D^k. In D's loss the step's shared forward
        passes (x', x̂, ẑ, …: the tensors of `s`) stay attached to the networks that made them, so θ_D^k depends on G
        (and on E or F where D judges their codes) and the gradient flows through the k updates, the term that makes
        the generator see how D would answer. D's real update is unchanged: the unrolled D (θ_D^k, with copies of D's
        buffers, the batch-norm statistics and spectral-norm vectors, which its forward passes update) is a look-ahead,
        and nothing of it is written back to D. Not in the unrolled steps: R1 and historical averaging (the loop's
        penalties on D). k = 0 gives the phase's own loss, bit for bit, with D itself (its statistics updated as in the
        plain model).
        """
        if self.d is None or self.d_phase is None:
            raise ValueError(f"tricks.unroll needs a data discriminator D with a phase of its own; phase {phase.name} "
                             f"has none to unroll")
        d, k = self.d, self.unroll if k is None else k
        opt = optimizers[self.d_phase.name]
        group = opt.param_groups[0]
        if group.get("amsgrad") or group.get("maximize") or len(opt.param_groups) != 1:
            raise ValueError("tricks.unroll applies torch.optim.Adam's plain update: D's optimizer must be one Adam "
                             "group without amsgrad or maximize")
        theta = {n: p.detach().requires_grad_(True) for n, p in d.named_parameters()}  # θ_D^0
        step, moments = 0, {}
        for n, p in d.named_parameters():
            state = opt.state.get(p, {})
            if state:
                step = int(state["step"])
                moments[n] = (state["exp_avg"].detach(), state["exp_avg_sq"].detach())
            else:  # D not stepped yet: Adam starts from zero moments
                moments[n] = (torch.zeros_like(p), torch.zeros_like(p))
        buffers = {n: b.detach().clone() for n, b in d.named_buffers()}  # the unrolled passes update copies only
        scratch = SimpleNamespace(**vars(s))  # anything D's phase caches in its step state stays out of s
        shared = [v for v in vars(s).values() if isinstance(v, torch.Tensor)]

        def d_loss(weights: dict[str, torch.Tensor]) -> torch.Tensor:
            with _KeepAttached(shared):
                return with_weights(d, {**weights, **buffers}, lambda: self.d_phase.loss(scratch)[0])

        with twice_differentiable(d):  # the generator's gradient differentiates D's gradient
            theta = tricks.unroll(d_loss, theta, moments, step, k, lr=float(group["lr"]), betas=group["betas"],
                                  eps=group["eps"], weight_decay=group["weight_decay"])  # θ_D^k
            unrolled = {**theta, **buffers} if k > 0 else theta  # k = 0: D itself, statistics and all
            return with_weights(d, unrolled, lambda: phase.loss(s))  # f(θ_G, θ_D^k(θ_G, θ_D))

    @property
    def active(self) -> bool:
        return bool(self.r1 or self.ha or self.ema)

    def penalties(self, phase: Phase, s: Any, nets: dict[str, torch.nn.Module],
                  params: dict[str, list[torch.Tensor]], step: int) -> dict[str, torch.Tensor]:
        out = {}
        if self.r1 and "D" in phase.nets and step % self.r1_every == 0:
            real = getattr(s, "real_pair", (s.x,))  # D's real input: x, or the pair (x, z) of a joint D
            with twice_differentiable(nets["D"]):  # the penalty's gradient needs second derivatives
                # k·γ/2·E‖∇ₓD(x)‖² every k-th step: Mescheder 2018 Eq. (9), lazily (Karras 2020 §4)
                out["r1"] = self.r1_every * self.r1 * tricks.r1_penalty(nets["D"], *real)
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
            checkpoint.load_weights({"G": self.ema.module}, tensors, prefix="ema.")


class _KeepAttached(TorchFunctionMode):
    """Inside it, `t.detach()` returns t itself for the given tensors (other tensors detach as usual): D's phase loss,
    written for D's own update with its fakes detached, becomes a function of the networks that made them."""

    def __init__(self, tensors: Iterable[torch.Tensor]) -> None:
        super().__init__()
        self.ids = {id(t) for t in tensors}

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if func is torch.Tensor.detach and args and id(args[0]) in self.ids:
            return args[0]
        return func(*args, **(kwargs or {}))


class _Scope(nn.Module):
    """fn() as the forward of a module holding `net`, so that torch.func.functional_call can swap net's weights."""

    def __init__(self, net: nn.Module, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.net, self.fn = net, fn

    def forward(self) -> Any:
        return self.fn()


def with_weights(net: nn.Module, tensors: dict[str, torch.Tensor], fn: Callable[[], Any]) -> Any:
    """fn() with `net`'s parameters (and buffers) of the given names replaced by `tensors`, through
    torch.func.functional_call: every call of net inside fn, e.g. a model's own loss code, sees them."""
    return torch.func.functional_call(_Scope(net, fn), {f"net.{n}": t for n, t in tensors.items()}, ())


@contextmanager
def twice_differentiable(net: nn.Module) -> Iterator[None]:
    """Minibatch discrimination in `net` uses an explicit L1 (cdist has no second derivative) within the block."""
    layers = [m for m in net.modules() if isinstance(m, MinibatchDiscrimination)]
    for m in layers:
        m.twice_differentiable = True
    try:
        yield
    finally:
        for m in layers:
            m.twice_differentiable = False
