"""Markov chains in code space, conditioned on a class or a cluster: PPGN's chain and Metropolis-adjusted Langevin.

PPGN (Nguyen, Clune, Bengio, Dosovitskiy & Yosinski, Plug & Play Generative Networks, CVPR 2017,
arXiv:1612.00005, Eq. 11) moves a code h toward likely codes of class c:

    h ← h + ε₁ (R(h) − h) + ε₂ ∇ₕ log p(y = c | G(h)) + N(0, ε₃²)

with R a denoising autoencoder of the codes ((R(h) − h)/σ² estimates ∇ log p(h), Alain & Bengio 2014;
aegan.samplers.dae) and p(y | x) a condition network. As in the authors' released sampler (sampler.py of
github.com/Evolving-AI-Lab/ppgn), the update d is rescaled to a mean absolute value of the step size lr, which
goes linearly from lr to lr_end, and h is clipped to the range the codes take; the released defaults are ε₁ = 1e-5,
ε₂ = 1, ε₃ = 1e-17, lr = lr_end = 1, 200 steps. The released code back-propagates (1 − p_c) through the logit of c
only; here the gradient is the exact ∇ log softmax_c. With ε₃ ≈ 0 this is gradient ascent, not sampling (the
authors' "MALA-approx": no Metropolis–Hastings step).

`mala` is the sampler PPGN approximates, made exact (Roberts & Tweedie, Exponential convergence of Langevin
distributions and their discrete approximations, Bernoulli 1996): the target is

    log π(u) = log q(u) + β log p(y = c | G(u))

with q a code model whose density is exact (the GMM), the proposal u' = u + τ ∇log π(u) + √(2τ) ξ and the
Metropolis–Hastings acceptance of u' with the proposal densities both ways. The step size τ adapts toward an
acceptance rate of 0.574 (Roberts & Rosenthal, Optimal scaling of discrete approximations to Langevin diffusions,
JRSS B 1998) during the first `adapt` steps only, so that the chain after them is a proper MH chain; proposals
outside the codes' range are rejected, which targets π restricted to that box, exactly.

Stopping. `plateau` (ppgn's default) stops a chain once neither log p(y = c | x) nor log q(u) has improved on its
best by more than `tol` nats within the last `window` steps and p(y = c | x) is at least `min_p` (a chain that
stalls below it goes on, as the fixed-length chain would); `rhat` (mala's default) stops all chains once the
split-R̂ (Gelman et al., Bayesian Data Analysis, 3rd ed., §11.4) of log π and log p(y = c | x) over the chains'
post-adaptation draws is below `rhat` (checked every 10 steps, after at least 20 such draws); `none` runs `steps`
steps as the released sampler does. Each chain records the step it stopped at and why.

Conditioning on a cluster instead of a class (no labels needed): log p(cluster k | u) is the log-responsibility of
component k of the GMM fitted to the codes, a function of the code itself.

Everything here works on standardized codes u (the caller's Standardize) and on callables; the networks are the
caller's (aegan.run.Run.chain_sample puts them together).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch

from aegan.errors import ConfigError

Fn = Callable[[torch.Tensor], torch.Tensor]  # u (n, d) -> (n,) or (n, d), differentiable in u

CHAIN_SAMPLERS = ("ppgn", "mala")
STOPS = ("auto", "plateau", "rhat", "none")
DEFAULT_STEPS = {"ppgn": 200, "mala": 400}  # ppgn: the released sampler's; mala: README (hit rate against steps)
STRIP = 8  # pictures per chain strip (start -> end)
KEEP = 8  # chains whose path is kept for the strips


@dataclass
class ChainSettings:
    """The chains' settings; the defaults of ppgn are the released sampler's (module docstring)."""

    steps: int = 0  # most steps a chain takes; 0 = the sampler's own: ppgn 200 (the released), mala 400
    eps1: float = 1e-5  # ppgn: weight of the prior term R(h) − h
    eps2: float = 1.0  # ppgn: weight of the condition term ∇ log p(y | G(h))
    eps3: float = 1e-17  # ppgn: standard deviation of the added noise
    lr: float = 0.1  # ppgn: mean |step| per code dimension, in code standard deviations, at the first step
    lr_end: float = -1.0  # ppgn: ... at the last step, linearly in between; negative = lr (constant)
    chains: int = 0  # parallel chains; 0 = one per sample; fewer: each gives several samples, `thin` steps apart
    thin: int = 10  # steps between the samples of one chain after it stopped
    stop: str = "auto"  # auto (ppgn: plateau, mala: rhat) | plateau | rhat | none
    window: int = 10  # plateau: steps without a gain of more than tol
    tol: float = 0.01  # plateau: the gain in log p(y | x) and in log q(u) that counts, in nats
    min_p: float = 0.99  # plateau: a chain stops only once p(y | x) is at least this; below, it keeps looking
    rhat: float = 1.05  # rhat: stop once every monitored split-R̂ is below this
    adapt: int = 50  # mala: first steps, during which τ adapts toward `accept`
    accept: float = 0.574  # mala: target acceptance rate
    tau: float = 0.05  # mala: initial Langevin step size (u' = u + τ ∇log π(u) + √(2τ) ξ)
    beta: float = 10.0  # mala: weight of log p(y | x) in the target (1: the exact conditional q(u | y); README)
    metropolis: int = 1  # mala: 0 drops the Metropolis–Hastings step (the unadjusted Langevin chain, biased)

    @classmethod
    def parse(cls, items: list[str] | dict[str, Any] | None) -> ChainSettings:
        """Settings from `key=value` strings or a dict; ConfigError naming the key for anything wrong."""
        names = {f.name: f.type for f in fields(cls)}
        pairs = items.items() if isinstance(items, dict) else [_split(i) for i in (items or [])]
        values: dict[str, Any] = {}
        for key, raw in pairs:
            if key not in names:
                raise ConfigError(f"unknown chain setting {key!r}: use one of {', '.join(names)}")
            kind = {"int": int, "float": float, "str": str}[str(names[key])]
            try:
                values[key] = kind(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"chain setting {key} must be a {kind.__name__}, got {raw!r}") from None
        s = cls(**values)
        s.check()
        return s

    def check(self) -> None:
        if self.steps < 0 or self.thin < 1 or self.window < 1 or self.chains < 0 or self.adapt < 0:
            raise ConfigError("chain settings thin and window must be at least 1, steps, chains and adapt at least 0")
        if self.stop not in STOPS:
            raise ConfigError(f"chain setting stop must be one of {', '.join(STOPS)}, got {self.stop!r}")
        finite = all(math.isfinite(getattr(self, k)) for k in ("eps1", "eps2", "eps3", "lr", "tol", "tau", "beta"))
        if not finite or self.lr <= 0 or self.tau <= 0 or self.eps3 < 0 or self.tol < 0 or self.beta < 0:
            raise ConfigError("chain settings lr and tau must be positive, eps3, tol and beta non-negative, all finite")
        if not 0 < self.accept < 1 or not self.rhat > 1 or not 0 <= self.min_p <= 1:
            raise ConfigError("chain setting accept must lie in (0, 1), min_p in [0, 1] and rhat above 1")

    def stop_rule(self, sampler: str) -> str:
        return ("plateau" if sampler == "ppgn" else "rhat") if self.stop == "auto" else self.stop

    def for_sampler(self, sampler: str) -> ChainSettings:
        """These settings with `steps` = 0 replaced by the sampler's own (DEFAULT_STEPS)."""
        return replace(self, steps=self.steps or DEFAULT_STEPS[sampler])


def _split(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise ConfigError(f"chain settings are key=value, got {item!r}")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


@dataclass
class Target:
    """What a chain climbs or samples, on standardized codes u (n, d).

    condition: log p(y = c | G(u)) or log p(cluster = c | u), (n,), differentiable.
    log_density: log q(u) up to a constant (n,), differentiable; mala's prior, and a statistic of the plateau rule.
    residual: R(u) − u (n, d) of the DAE; ppgn's prior term.
    lo, hi: (d,) the box the codes take (min and max of the training codes)."""

    condition: Fn
    lo: torch.Tensor
    hi: torch.Tensor
    log_density: Fn | None = None
    residual: Fn | None = None


@dataclass
class ChainResult:
    samples: torch.Tensor  # (n, d) standardized codes
    steps: list[int]  # the step each chain stopped at
    reasons: list[str]  # why it stopped there
    strip: torch.Tensor  # (k, STRIP, d): the path of the first k chains, start -> stop
    strip_steps: list[list[int]]  # the step of each picture of the strips
    trace: dict[str, list[float]] = field(default_factory=dict)  # mean over running chains of each statistic
    acceptance: list[float] | None = None  # mala: each chain's acceptance rate after the adaptation
    tau: float | None = None  # mala: the step size after the adaptation
    settings: dict[str, Any] = field(default_factory=dict)  # the settings the chains ran with

    def record(self) -> dict[str, Any]:
        """JSON-able summary (without the codes)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("samples", "strip")}
        out["mean_steps"] = sum(self.steps) / len(self.steps)
        if self.acceptance is not None:
            out["mean_acceptance"] = sum(self.acceptance) / len(self.acceptance)
        return out


def value_and_grad(f: Fn, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f(u) (n,) and ∇ᵤ Σ f (n, d): each row's gradient, as f's rows depend on their own u only."""
    with torch.enable_grad():
        u = u.detach().requires_grad_(True)
        v = f(u)
        (g,) = torch.autograd.grad(v.sum(), u)
    return v.detach(), g.detach()


def split_rhat(draws: torch.Tensor) -> float:
    """Split-R̂ of draws (T, m): T draws of m chains, each chain cut in two halves (BDA3 §11.4)."""
    t = draws.shape[0] // 2
    if t < 2:
        return math.inf
    halves = torch.cat([draws[:t], draws[-t:]], dim=1).double()  # (t, 2m)
    w = halves.var(0, unbiased=True).mean()
    b_over_n = halves.mean(0).var(unbiased=True)
    if w <= 0:
        return 1.0 if b_over_n <= 0 else math.inf
    var_plus = (t - 1) / t * w + b_over_n
    return float((var_plus / w).sqrt())


class _Plateau:
    """Per chain: stop once no statistic has beaten its best before the window by more than tol in `window` steps."""

    def __init__(self, n: int, window: int, tol: float) -> None:
        self.window, self.tol = window, tol
        self.best: list[torch.Tensor] = []  # per step: (n, s) best-so-far of each statistic
        self.n = n

    def update(self, stats: torch.Tensor) -> torch.Tensor:
        """stats (n, s) at this step -> (n,) bool: the chain has plateaued."""
        best = stats if not self.best else torch.maximum(self.best[-1], stats)
        self.best.append(best)
        if len(self.best) <= self.window:
            return torch.zeros(self.n, dtype=torch.bool)
        gain = best - self.best[-1 - self.window]  # (n, s)
        return (gain <= self.tol).all(1)


def run_chains(sampler: str, u0: torch.Tensor, target: Target, settings: ChainSettings, n: int,
               generator: torch.Generator | None = None) -> ChainResult:
    """Run len(u0) chains of `sampler` (ppgn | mala) from u0 (chains, d) and return n samples (standardized codes).

    Chains stop by `settings.stop_rule(sampler)` or after settings.steps; with fewer chains than n each chain then
    goes on and gives ceil(n / chains) samples, `thin` steps apart."""
    if sampler not in CHAIN_SAMPLERS:
        raise ConfigError(f"unknown chain sampler {sampler!r}: use one of {', '.join(CHAIN_SAMPLERS)}")
    if sampler == "ppgn" and target.residual is None:
        raise ConfigError("the ppgn chain needs a prior term R(h) − h (a DAE on the codes)")
    if sampler == "mala" and target.log_density is None:
        raise ConfigError("the mala chain needs a code model with an exact density (gmm)")
    settings = settings.for_sampler(sampler)
    rule = settings.stop_rule(sampler)
    m, d = u0.shape
    chain = _PPGN(target, settings) if sampler == "ppgn" else _MALA(target, settings)
    u = u0.detach().clone()
    u = chain.start(u)
    active = torch.ones(m, dtype=torch.bool)
    stop_step, reasons = [settings.steps] * m, [f"reached the most steps ({settings.steps})"] * m
    keep = min(m, KEEP)
    path = [u[:keep].clone()]
    plateau = _Plateau(m, settings.window, settings.tol)
    monitored: list[torch.Tensor] = []  # mala: (m, 2) statistics after the adaptation, for R̂
    rhat_text = ""
    trace: dict[str, list[float]] = {name: [] for name in chain.stat_names}
    for step in range(1, settings.steps + 1):
        u, stats = chain.step(u, step, active, generator)  # stats (m, s), of the new state
        for i, name in enumerate(chain.stat_names):
            trace[name].append(float(stats[active, i].mean()) if active.any() else float("nan"))
        path.append(u[:keep].clone())
        if rule == "plateau":
            confident = stats[:, chain.cond_index] >= math.log(settings.min_p) if settings.min_p > 0 else active
            done = plateau.update(stats) & active & confident
            for i in done.nonzero().flatten().tolist():
                stop_step[i] = step
                gains = ", ".join(chain.stat_names)
                reasons[i] = (f"plateau: {gains} gained at most {settings.tol:g} nats over the last "
                              f"{settings.window} steps, with p(c|x) at least {settings.min_p:g}")
            active &= ~done
        elif rule == "rhat" and step > chain.burn_in:
            monitored.append(stats)
            if len(monitored) >= 20 and len(monitored) % 10 == 0:
                draws = torch.stack(monitored)  # (T, m, s)
                rhats = [split_rhat(draws[:, :, i]) for i in range(draws.shape[2])]
                rhat_text = ", ".join(f"{name} {r:.3f}" for name, r in zip(chain.stat_names, rhats))
                if max(rhats) < settings.rhat:
                    for i in range(m):
                        stop_step[i], reasons[i] = step, f"split-R̂ below {settings.rhat:g}: {rhat_text}"
                    active[:] = False
        if not active.any():
            break
    if rhat_text and active.any():
        reasons = [f"{r}; split-R̂ still {rhat_text}" if a else r for r, a in zip(reasons, active.tolist())]
    strip_steps = [[round(k * stop_step[i] / (STRIP - 1)) for k in range(STRIP)] for i in range(keep)]
    strip = torch.stack([torch.stack([path[s][i] for s in strip_steps[i]]) for i in range(keep)]) if keep else \
        torch.empty(0, STRIP, d)
    per_chain = math.ceil(n / m)
    samples = [u.clone()]
    everyone = torch.ones(m, dtype=torch.bool)
    for k in range(1, per_chain):  # further samples of each chain, `thin` steps apart
        for j in range(settings.thin):
            u, _ = chain.step(u, settings.steps + (k - 1) * settings.thin + j + 1, everyone, generator)
        samples.append(u.clone())
    out = torch.stack(samples, dim=1).reshape(m * per_chain, d)[:n]  # chain by chain
    return ChainResult(samples=out, steps=stop_step, reasons=reasons, strip=strip, strip_steps=strip_steps,
                       trace=trace, acceptance=chain.acceptance(), tau=getattr(chain, "tau", None),
                       settings=asdict(settings))


class _PPGN:
    """The released sampler's update, with the box clip; stops moving the chains that are no longer active."""

    burn_in = 0

    def __init__(self, target: Target, s: ChainSettings) -> None:
        self.t, self.s = target, s
        self.stat_names = ["log p(c|x)"] + (["log q(u)"] if target.log_density is not None else [])
        self.cond_index = 0

    def start(self, u: torch.Tensor) -> torch.Tensor:
        u = torch.maximum(torch.minimum(u, self.t.hi), self.t.lo)
        self.cond, self.grad = value_and_grad(self.t.condition, u)  # of the current state, reused by the next step
        self.last = self.stats(u, self.cond.float())  # (n, s) statistics of the current state
        return u

    def lr(self, step: int) -> float:
        end = self.s.lr if self.s.lr_end < 0 else self.s.lr_end
        return self.s.lr + (end - self.s.lr) * min(step - 1, self.s.steps) / self.s.steps

    def stats(self, u: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        cols = [cond]
        if self.t.log_density is not None:
            with torch.no_grad():
                cols.append(self.t.log_density(u).to(cond.dtype))
        return torch.stack(cols, dim=1)

    def step(self, u: torch.Tensor, step: int, active: torch.Tensor, g: torch.Generator | None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        idx = active.nonzero().flatten()  # only the running chains cost a pass: stopped ones are left as they are
        if len(idx) == 0:
            return u, self.last
        with torch.no_grad():
            ua = u[idx]
            d = self.s.eps1 * self.t.residual(ua) + self.s.eps2 * self.grad[idx]  # type: ignore[misc]
            if self.s.eps3 > 0:
                d = d + self.s.eps3 * torch.randn(ua.shape, generator=g)
            scale = d.abs().mean(1, keepdim=True)  # (n, 1): the update rescaled to mean |step| = lr
            d = torch.where(scale > 0, d * (self.lr(step) / scale.clamp_min(1e-30)), torch.zeros_like(d))
            u = u.clone()
            u[idx] = torch.maximum(torch.minimum(ua + d, self.t.hi), self.t.lo)
        cond, grad = value_and_grad(self.t.condition, u[idx])  # one pass of G and p(y|x) per step
        self.cond, self.grad = self.cond.clone(), self.grad.clone()
        self.cond[idx], self.grad[idx] = cond, grad
        self.last = self.last.clone()
        self.last[idx] = self.stats(u[idx], cond.float())
        return u, self.last

    def acceptance(self) -> None:
        return None


class _MALA:
    """Metropolis-adjusted Langevin on log π = log q + β log p(c | ·); τ shared by the chains, adapted in burn-in."""

    def __init__(self, target: Target, s: ChainSettings) -> None:
        self.t, self.s = target, s
        self.burn_in = s.adapt
        self.tau = s.tau
        self.stat_names = ["log pi(u)", "log p(c|x)"]
        self.cond_index = 1
        self.accepted: torch.Tensor | None = None
        self.tried = 0

    def log_pi(self, u: torch.Tensor) -> torch.Tensor:
        cond = self.t.condition(u).to(torch.float64)
        self.last_cond = cond.detach()  # kept, so that log p(c | x) costs no second pass
        return self.t.log_density(u).to(torch.float64) + self.s.beta * cond  # type: ignore[misc]

    def _eval(self, u: torch.Tensor) -> None:
        self.lp, self.grad = value_and_grad(self.log_pi, u)
        self.cond = self.last_cond

    def start(self, u: torch.Tensor) -> torch.Tensor:
        u = torch.maximum(torch.minimum(u, self.t.hi), self.t.lo)
        self._eval(u)
        self.accepted = torch.zeros(len(u), dtype=torch.float64)
        return u

    def step(self, u: torch.Tensor, step: int, active: torch.Tensor, g: torch.Generator | None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        tau = self.tau
        grad = self.grad.to(u.dtype)
        prop = u + tau * grad + math.sqrt(2 * tau) * torch.randn(u.shape, generator=g)
        lp_new, grad_new = value_and_grad(self.log_pi, prop)
        cond_new = self.last_cond
        with torch.no_grad():
            fwd = -(prop - u - tau * grad).double().square().sum(1) / (4 * tau)  # log N(u' | u + τ∇, 2τ) + c
            bwd = -(u - prop - tau * grad_new.to(u.dtype)).double().square().sum(1) / (4 * tau)
            log_alpha = lp_new - self.lp + bwd - fwd
            inside = ((prop >= self.t.lo) & (prop <= self.t.hi)).all(1)
            log_alpha = torch.where(inside & torch.isfinite(log_alpha), log_alpha,
                                    torch.full_like(log_alpha, -math.inf))
            uniform = torch.rand(len(u), generator=g, dtype=torch.float64)
            take = ((uniform.log() < log_alpha) if self.s.metropolis else torch.ones_like(inside)) & active
            if step <= self.s.adapt:  # Robbins–Monro on log τ toward the target acceptance, burn-in only
                alpha = log_alpha.clamp(max=0).exp()[active].mean() if active.any() else torch.tensor(self.s.accept)
                self.tau = tau * math.exp(float(alpha - self.s.accept) * (step ** -0.5))
            else:
                assert self.accepted is not None
                self.accepted += (take & active).double()
                self.tried += 1
            u = torch.where(take[:, None], prop, u)
            self.lp = torch.where(take, lp_new, self.lp)
            self.grad = torch.where(take[:, None], grad_new, self.grad)
            self.cond = torch.where(take, cond_new, self.cond)
        return u, torch.stack([self.lp, self.cond], dim=1).float()

    def acceptance(self) -> list[float]:
        assert self.accepted is not None
        return (self.accepted / max(self.tried, 1)).tolist()
