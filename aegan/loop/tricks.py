"""The tricks that act on the loop rather than on a model's networks (aegan/tricks.py holds their maths):
R1 on D's phase, historical averaging of G and D, and the generator's moving average. Their state is
checkpointed with the run (aegan/loop/state.py)."""

from __future__ import annotations

from typing import Any

import torch

from aegan import checkpoint, tricks
from aegan.config import Config
from aegan.models import Model, Phase
from aegan.nets.minibatch import MinibatchDiscrimination


class LoopTricks:
    """R1 (Mescheder 2018, lazily as Karras 2020), historical averaging (Salimans 2016 §3.3) and EMA (Yazıcı 2019),
    as the training loop applies them around each phase."""

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

    @property
    def active(self) -> bool:
        return bool(self.r1 or self.ha or self.ema)

    def penalties(self, phase: Phase, s: Any, nets: dict[str, torch.nn.Module],
                  params: dict[str, list[torch.Tensor]], step: int) -> dict[str, torch.Tensor]:
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
            checkpoint.load_weights({"G": self.ema.module}, tensors, prefix="ema.")
