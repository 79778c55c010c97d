"""Stabilisers for GAN training, switchable on any model with a discriminator D.

From Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498:
feature matching (§3.1), historical averaging (§3.3), one-sided label smoothing (§3.4). Minibatch discrimination
(§3.2) is in aegan.nets.minibatch, virtual batch norm (§3.4) in aegan.nets.vbn.
Modern additions: R1 penalty (Mescheder et al. 2018, arXiv:1801.04406), EMA of the generator (Karras et al. 2018,
arXiv:1710.10196; Yazıcı et al. 2019, arXiv:1806.04498), packing (PacGAN, Lin et al. 2018, arXiv:1712.04086),
spectral norm (Miyato et al. 2018, arXiv:1802.05957). Unrolled GAN (Metz et al. 2017, arXiv:1611.02163): the k
differentiable optimizer steps of D that the generator looks ahead through (`adam_step`, `unroll`; the loop applies
them, aegan/loop/tricks.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def feature_matching(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """G's feature-matching loss ‖E f(x) − E f(G(z))‖² (Salimans 2016, §3.1), f = D's penultimate layer.

    f_real, f_fake: (N, ...) and (M, ...) features; the batch means are compared, so N and M may differ.
    f_real is detached: only G (through f_fake) is trained by this loss.
    """
    if f_real.shape[1:] != f_fake.shape[1:]:
        raise ValueError(f"feature_matching: real features {tuple(f_real.shape)} and fake features "
                         f"{tuple(f_fake.shape)} differ beyond the batch dimension")
    mu_real = f_real.detach().flatten(1).mean(0)  # E_x f(x)
    mu_fake = f_fake.flatten(1).mean(0)  # E_z f(G(z))
    return (mu_real - mu_fake).square().sum()  # ‖E f(x) − E f(G(z))‖²₂


def smoothed_discriminator_loss(real_logit: torch.Tensor, *fake_logits: torch.Tensor,
                                real_target: float = 0.9) -> torch.Tensor:
    """D's cross-entropy with one-sided label smoothing (Salimans 2016, §3.4): real target t (0.9), fakes 0.

    Real term: BCE(l, t) = −t log σ(l) − (1 − t) log(1 − σ(l)) = t·softplus(−l) + (1 − t)·softplus(l).
    Each kind of fake adds −log(1 − σ(l)) = softplus(l). With t = 1 this is aegan.losses.discriminator.
    Only the real side is smoothed: smoothing fakes would reward G's samples where there is no data (§3.4).
    """
    t = real_target
    loss = (t * F.softplus(-real_logit) + (1 - t) * F.softplus(real_logit)).mean()  # BCE(D(x), t)
    for fake in fake_logits:
        loss = loss + F.softplus(fake).mean()  # −log(1 − σ(D(fake))): target 0, not smoothed
    return loss


class HistoricalAverage:
    """Historical averaging (Salimans 2016, §3.3): penalty ‖θ − (1/t) Σ_{i=1..t} θ[i]‖², θ[i] the past values.

    Call `update(params)` after each optimizer step of the network (t counts the calls); add
    `λ · penalty(params)` to that network's loss. Before the first update the penalty is 0.
    State for checkpoints: `state_dict()` gives {"count": 0-d int64, "mean.0": θ̄_0, ...}, plain tensors.
    """

    def __init__(self) -> None:
        self.count = 0  # t: how many parameter values are averaged
        self.means: list[torch.Tensor] = []  # θ̄, one tensor per parameter, no grad

    @torch.no_grad()
    def update(self, params: Iterable[torch.Tensor]) -> None:
        params = list(params)
        if self.count == 0:
            self.means = [torch.zeros_like(p, memory_format=torch.contiguous_format) for p in params]
        self._check(params)
        self.count += 1
        for mean, p in zip(self.means, params):
            mean.add_((p.detach() - mean) / self.count)  # θ̄ ← θ̄ + (θ − θ̄) / t

    def penalty(self, params: Iterable[torch.Tensor]) -> torch.Tensor:
        params = list(params)
        if self.count == 0:
            return params[0].new_zeros(()) if params else torch.zeros(())
        self._check(params)
        return sum((p - mean).square().sum() for p, mean in zip(params, self.means))  # Σ ‖θ − θ̄‖²

    def _check(self, params: Sequence[torch.Tensor]) -> None:
        shapes = [tuple(p.shape) for p in params]
        if shapes != [tuple(m.shape) for m in self.means]:
            raise ValueError(f"HistoricalAverage: got {len(shapes)} parameters of shapes {shapes[:4]}..., but the "
                             f"average holds {len(self.means)}; pass the same parameter list every time")

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {"count": torch.tensor(self.count, dtype=torch.int64)}
        state.update({f"mean.{i}": m.detach().clone() for i, m in enumerate(self.means)})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        n = sum(1 for k in state if k.startswith("mean."))
        self.count = int(state["count"])
        self.means = [state[f"mean.{i}"].detach().clone() for i in range(n)]


def r1_penalty(d: nn.Module, *real: torch.Tensor) -> torch.Tensor:
    """R1 = ½ E_x ‖∇_x D(x)‖² on real data (Mescheder et al. 2018, arXiv:1801.04406, Eq. 9 without γ).

    `real`: D's real input, x (N, ...), or several tensors for a D of several inputs, e.g. the pairs (x, z) of a
    joint discriminator (bigan, veegan), whose gradient is then taken over the whole input: ‖∇_x D‖² + ‖∇_z D‖².
    The caller multiplies by γ and adds it to D's loss. The gradient is built with create_graph=True, so the
    penalty backpropagates into D's parameters. The inputs are cloned and detached here.
    """
    inputs = [r.detach().clone().requires_grad_(True) for r in real]
    d_real = d(*inputs)  # D(x): (N, 1)
    grads = torch.autograd.grad(d_real.sum(), inputs, create_graph=True)  # ∇_x D(x), row by row: (N, ...)
    return 0.5 * sum(g.flatten(1).square().sum(1) for g in grads).mean()  # ½ E ‖∇_x D(x)‖²


class EMA:
    """Exponential moving average of a module's weights (Karras et al. 2018; Yazıcı et al. 2019, arXiv:1806.04498).

    `.module` is a deep copy in eval mode without gradients; `update(module)` after each optimizer step does
    θ_ema ← decay·θ_ema + (1 − decay)·θ for parameters and copies buffers. Checkpoint `ema.module.state_dict()`.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        params = dict(module.named_parameters())
        if params.keys() != dict(self.module.named_parameters()).keys():
            raise ValueError("EMA.update: the module's parameters differ from the averaged copy's; pass the same "
                             "(unwrapped) module that the EMA was built from")
        for name, p_ema in self.module.named_parameters():
            p_ema.lerp_(params[name].detach(), 1.0 - self.decay)  # θ_ema ← decay·θ_ema + (1 − decay)·θ
        buffers = dict(module.named_buffers())
        for name, b_ema in self.module.named_buffers():
            b_ema.copy_(buffers[name])  # running statistics, reference codes, spectral-norm vectors: copied


def packed_shape(shape: Sequence[int], k: int) -> tuple[int, ...]:
    """The input shape a discriminator must be built for to see k packed samples: (k·D,) or (k·C, H, W)."""
    return (k * shape[0], *shape[1:])


class Pack(nn.Module):
    """PacGAN (Lin et al. 2018, arXiv:1712.04086): D judges k samples at once, concatenated along channels/features.

    x (N, D) -> (N/k, k·D), x (N, C, H, W) -> (N/k, k·C, H, W); row g holds samples g·k .. g·k + k − 1, all of one
    kind (pack real and fake batches separately). forward gives (N/k, 1). Build the discriminator for
    `packed_shape(shape, k)`.
    """

    def __init__(self, discriminator: nn.Module, k: int) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"Pack: k must be >= 1 samples per packed input, got {k}")
        self.discriminator, self.k = discriminator, k

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if n % self.k != 0:
            raise ValueError(f"Pack: batch of {n} samples does not split into packs of k={self.k}; "
                             f"use a batch size divisible by {self.k}")
        return x.reshape(n // self.k, self.k * x.shape[1], *x.shape[2:])  # samples 0..k−1 side by side in row 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(self.pack(x))  # (N/k, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator.features(self.pack(x))  # (N/k, F)


def apply_spectral_norm(net: nn.Module) -> int:
    """W ← W / σ(W) for every nn.Linear and nn.Conv2d in `net`, σ estimated by one power iteration per training
    forward (Miyato et al. 2018, arXiv:1802.05957). In place; returns how many layers were wrapped (already
    normalised layers are skipped). State-dict keys become `<layer>.parametrizations.weight.original` plus
    `...weight.0._u` / `._v`; such a state_dict loads into a net built the same way and then spectral-normed.
    """
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrizations import spectral_norm

    layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))
              and not parametrize.is_parametrized(m, "weight")]
    for m in layers:
        spectral_norm(m)
    return len(layers)


def adam_step(theta: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, t: int,
              lr: float, betas: tuple[float, float], eps: float,
              weight_decay: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Adam update as a differentiable function: (θ_t, m_t, v_t) from θ_{t−1}, the gradient g_t, m_{t−1}, v_{t−1}.

    Kingma & Ba 2015, arXiv:1412.6980, Algorithm 1, with torch.optim.Adam's ε outside the root and its L2 decay:
        g ← g + λ·θ,   m_t = β₁·m + (1 − β₁)·g,   v_t = β₂·v + (1 − β₂)·g²,
        θ_t = θ − lr · (m_t / (1 − β₁ᵗ)) / (√(v_t / (1 − β₂ᵗ)) + ε)
    t: the step number this update makes (1 for an optimizer's first). Where v_t = 0 (no loss reaches the weight)
    the root's derivative is infinite; it is taken as 0 there, so a NaN never enters the gradient through it.
    """
    beta1, beta2 = betas
    if weight_decay:
        grad = grad + weight_decay * theta  # L2 penalty as torch.optim.Adam adds it
    m = beta1 * exp_avg + (1 - beta1) * grad  # m_t: first moment
    v = beta2 * exp_avg_sq + (1 - beta2) * grad * grad  # v_t: second moment
    m_hat = m / (1 - beta1**t)  # bias-corrected
    v_hat = v / (1 - beta2**t)
    reached = v_hat > 0
    root = torch.where(reached, v_hat, torch.ones_like(v_hat)).sqrt() * reached  # √v̂, with 0 gradient at v̂ = 0
    return theta - lr * m_hat / (root + eps), m, v


def unroll(d_loss: Callable[[dict[str, torch.Tensor]], torch.Tensor], theta: dict[str, torch.Tensor],
           moments: dict[str, tuple[torch.Tensor, torch.Tensor]], step: int, k: int, lr: float,
           betas: tuple[float, float], eps: float, weight_decay: float = 0.0) -> dict[str, torch.Tensor]:
    """θ_D^k: k Adam updates of D's weights on its own loss, each a differentiable function of the one before.

    Metz, Poole, Pfau & Sohl-Dickstein 2017, "Unrolled Generative Adversarial Networks", arXiv:1611.02163, §2:
    θ_D^0 = θ_D, θ_D^{i+1} = θ_D^i + η^i·df(θ_G, θ_D^i)/dθ_D^i (ascent on the value f, i.e. descent on D's loss), with
    D's own optimizer as the update rule (here Adam, whose moments are unrolled too, as in the paper's code). The
    gradients are built with create_graph=True, so a loss of θ_D^k backpropagates through all k updates into whatever
    d_loss depends on: for θ_G, the term (∂f/∂θ_D^k)·(dθ_D^k/dθ_G) of the surrogate's gradient df_k/dθ_G.

    d_loss(θ) -> D's scalar loss with its weights replaced by θ (name -> tensor). theta: θ_D^0, tensors that require
    grad. moments: Adam's (m, v) at θ_D^0 by name, zeros before D's first step; step: Adam's step count at θ_D^0.
    A weight that d_loss does not reach is left as it is, as torch.optim.Adam leaves a parameter without gradient.
    """
    m = {n: moments[n][0] for n in theta}
    v = {n: moments[n][1] for n in theta}
    for i in range(k):
        loss = d_loss(theta)
        grads = torch.autograd.grad(loss, list(theta.values()), create_graph=True, allow_unused=True)  # df/dθ_D^i
        updated = {}
        for (name, th), g in zip(theta.items(), grads):
            if g is None:
                updated[name] = th
                continue
            updated[name], m[name], v[name] = adam_step(th, g, m[name], v[name], step + i + 1, lr, betas, eps,
                                                        weight_decay)  # θ_D^{i+1}, by Adam's rule
        theta = updated
    return theta
