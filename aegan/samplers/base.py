"""What every code model shares: the protocol, the checks on codes, the standardization, and the minibatch loop
that fits the neural ones (flow, twostage, diffusion).

Log-likelihoods are in nats, of codes in the encoder's own units: a model fitted to standardized codes
u = (z − μ) / σ adds the Jacobian of the standardization, log p(z) = log p(u) − Σ_i log σ_i, so that every code
model's number is a density of the same variable and the numbers can be compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn

from aegan.errors import AeganError


class FitError(AeganError):
    """A code model's fit diverged (its loss is no longer finite): that model cannot be used on these codes."""


# What a code model's `log_likelihood` returns: the exact log density, or an estimate that is a lower bound (in
# expectation) of it; None: the model has no density (codegan) and cannot be compared by likelihood.
EXACT, BOUND = "exact", "bound"
# The code models whose `sample(n, generator, temperature=τ)` scales the noise of their draws by τ (1 = the fitted
# model): the Gaussian and the mixture (z = μ + τ L ε) and the flow (base noise τ ε).
TEMPERED = ("gaussian", "gmm", "flow")


@runtime_checkable
class CodeSampler(Protocol):
    """A density model of codes (N, d), fitted once and sampled many times."""

    name: ClassVar[str]
    likelihood: ClassVar[str | None]  # EXACT, BOUND or None (no density)

    def fit(self, codes: torch.Tensor, seed: int = 0, progress: bool = False) -> CodeSampler:
        """Fit to codes (N, d); deterministic for a given seed; `progress` shows a bar while it fits. Returns self."""
        ...

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, d), float32 on CPU; the same generator state gives the same codes."""
        ...

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors, JSON-able meta) from which `from_state` rebuilds the fitted sampler."""
        ...

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> CodeSampler:
        ...


class CodeDensity(CodeSampler, Protocol):
    """A code model with a log-likelihood: exact, or a stated lower bound (`likelihood`)."""

    def log_likelihood(self, codes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(z) (N,) float64 in nats for codes (N, d) in code units; for BOUND models a lower-bound estimate
        drawn with `generator`."""
        ...


def check_codes(codes: torch.Tensor, min_n: int = 2, dim: int | None = None) -> torch.Tensor:
    """Codes as a float64 CPU tensor (N, d), checked for shape, size and finiteness."""
    codes = torch.as_tensor(codes).detach().cpu().clone().to(torch.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (N, d), got {tuple(codes.shape)}")
    if dim is not None and codes.shape[1] != dim:
        raise ValueError(f"this code model was fitted to {dim}-D codes, got codes of shape {tuple(codes.shape)}")
    if len(codes) < min_n:
        raise ValueError(f"a code model needs at least {min_n} codes, got {len(codes)}")
    if not torch.isfinite(codes).all():
        raise AeganError("the encoder's codes contain NaN or inf, so no code model can be fitted: the run has "
                         "diverged; train again with a lower learning rate or resume from an earlier checkpoint")
    return codes


def check_n(n: int) -> None:
    if n < 0:
        raise ValueError(f"the number of samples must be at least 0, got {n}")


def need(tensors: dict[str, torch.Tensor], key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """tensors[key] as float32, checked against `shape` (a stored state that does not fit raises ValueError)."""
    if key not in tensors:
        raise ValueError(f"tensor {key!r} is missing")
    t = tensors[key]
    if tuple(t.shape) != shape:
        raise ValueError(f"tensor {key!r} has shape {tuple(t.shape)}, expected {shape}")
    return t.to(torch.float32)


def load_net(net: nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> nn.Module:
    """net with the weights stored under `prefix` (strict: RuntimeError on missing, extra or mis-shaped tensors),
    in eval mode and frozen."""
    net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    return net.eval().requires_grad_(False)


def net_tensors(net: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}


class Standardize:
    """u = (z − μ) / σ per code dimension, fitted to the training codes and stored with the model.

    log p(z) = log p(u) + `log_det`, log_det = −Σ_i log σ_i (the Jacobian of z -> u)."""

    def __init__(self, mu: torch.Tensor, std: torch.Tensor) -> None:
        self.mu, self.std = mu.to(torch.float32), std.to(torch.float32)  # (d,), (d,)

    @classmethod
    def fit(cls, z: torch.Tensor) -> Standardize:
        std = z.std(0)
        return cls(z.mean(0), torch.where(std > 1e-8 * std.max().clamp_min(1e-30), std, std.max().clamp_min(1e-8)))

    @property
    def log_det(self) -> float:
        return -float(self.std.double().log().sum())

    def to_unit(self, z: torch.Tensor) -> torch.Tensor:
        return ((z - self.mu.to(z.dtype)) / self.std.to(z.dtype)).to(torch.float32)

    def from_unit(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.std + self.mu

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"standardize.mu": self.mu, "standardize.std": self.std}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], d: int) -> Standardize:
        std = need(tensors, "standardize.std", (d,))
        if not (torch.isfinite(std).all() and (std > 0).all()):
            raise ValueError("the stored standardization has a non-positive or non-finite std")
        return cls(need(tensors, "standardize.mu", (d,)), std)


def fit_network(params: Iterable[nn.Parameter], loss_fn: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
                u: torch.Tensor, *, steps: int, batch_size: int, lr: float, seed: int, desc: str,
                progress: bool = False, clip: float = 5.0) -> list[float]:
    """Adam on loss_fn(batch, generator) over `steps` minibatches of the standardized codes u (N, d), drawn with
    replacement by a generator seeded with `seed` (the same generator draws the loss's own noise); the learning
    rate decays from `lr` to 0 on a cosine; gradients are clipped to norm `clip`. A progress bar (tqdm, on
    stderr, only on a terminal) shows the loss while it fits. Returns the mean loss of each tenth of the steps."""
    from tqdm import tqdm

    params = list(params)
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    b = min(batch_size, len(u))
    curve: list[float] = []
    total, count = 0.0, 0
    bar = tqdm(total=steps, desc=desc, unit="step", disable=None if progress else True, leave=False,
               dynamic_ncols=True)
    try:
        with torch.enable_grad():
            for step in range(steps):
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
                loss = loss_fn(u[torch.randint(len(u), (b,), generator=g)], g)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, clip)
                opt.step()
                total, count = total + float(loss.detach()), count + 1
                if (step + 1) % max(1, steps // 10) == 0 or step + 1 == steps:
                    curve.append(total / count)
                    bar.set_postfix(loss=f"{curve[-1]:.4g}", refresh=False)
                    total, count = 0.0, 0
                bar.update()
    finally:
        bar.close()
    if not math.isfinite(curve[-1]):
        raise FitError(f"{desc}: the loss became {curve[-1]} while fitting; the codes may be degenerate (a constant "
                       f"code dimension, say): use another --sampler")
    return curve
