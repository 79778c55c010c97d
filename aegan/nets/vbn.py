"""Virtual batch normalization: normalise each example with a fixed reference batch's statistics plus its own.

Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498, §3.4.
Batch norm makes G(z_i) depend on the other codes in its minibatch. VBN removes that dependence: a reference
batch of codes z_ref (n rows) is drawn once at the start of training and run through G with every minibatch.
Per feature (and over the spatial positions of conv maps), each example x_i is normalised with
    μ_i = (n·μ_ref + μ(x_i)) / (n + 1),   s_i = (n·E_ref[x²] + μ(x_i²)) / (n + 1),   σ_i² = s_i − μ_i²
    VBN(x_i) = γ · (x_i − μ_i) / sqrt(σ_i² + ε) + β
where μ(x_i) is x_i itself for vectors, or its mean over H, W for conv maps (the example weighs as much as one
reference row, as in the paper's reference code). The reference rows are normalised with their own statistics
(μ_ref, E_ref[x²]) alone, so the reference activations, and hence every layer's reference statistics, depend only on
z_ref and the weights: never on the other rows, never on earlier calls.

Use: `G = VBNGenerator(generator, z_ref)`; it converts BatchNorm layers to VBN and runs cat(z_ref, z) through G.
An MLP generator has no batch norm: call `insert_vbn_after_hidden_linears(mlp)` before wrapping it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class VirtualBatchNorm(nn.Module):
    """x (N, F) or (N, F, H, W) [any (N, F, ...)] -> same shape. The first `n_ref` rows are the reference batch.

    `n_ref` is set by `VBNGenerator` (through `reference_rows`) around each forward; there are no running
    statistics, so train and eval mode compute the same thing. γ (`weight`) and β (`bias`) are learned per feature.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.weight = nn.Parameter(torch.ones(num_features))  # γ
        self.bias = nn.Parameter(torch.zeros(num_features))  # β
        self.n_ref = 0  # rows [0, n_ref) of the input are the reference batch; 0 = not inside a VBNGenerator call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.n_ref
        if n <= 0:
            raise RuntimeError("VirtualBatchNorm needs a reference batch in the first rows of its input: wrap the "
                               "generator in aegan.nets.vbn.VBNGenerator(generator, z_ref), or call it inside "
                               "reference_rows(module, n_ref)")
        if x.dim() < 2 or x.shape[1] != self.num_features or x.shape[0] < n:
            raise ValueError(f"VirtualBatchNorm({self.num_features}) expects (N >= {n}, {self.num_features}, ...), "
                             f"got {tuple(x.shape)}")
        spatial = tuple(range(2, x.dim()))  # () for vectors, (2, 3) for conv maps
        ref, ex = x[:n], x[n:]
        mu_ref = ref.mean((0, *spatial), keepdim=True)  # μ_ref: (1, F, 1, 1)
        sq_ref = ref.square().mean((0, *spatial), keepdim=True)  # E_ref[x²]
        mu_x = ex.mean(spatial, keepdim=True) if spatial else ex  # μ(x_i): (N − n, F, 1, 1)
        sq_x = ex.square().mean(spatial, keepdim=True) if spatial else ex.square()  # μ(x_i²)
        mu_i = (n * mu_ref + mu_x) / (n + 1)  # μ_i = (n·μ_ref + μ(x_i)) / (n + 1)
        sq_i = (n * sq_ref + sq_x) / (n + 1)  # s_i = (n·E_ref[x²] + μ(x_i²)) / (n + 1)
        ref_hat = (ref - mu_ref) / ((sq_ref - mu_ref.square()).clamp_min(0) + self.eps).sqrt()  # reference: own stats
        ex_hat = (ex - mu_i) / ((sq_i - mu_i.square()).clamp_min(0) + self.eps).sqrt()  # (x_i − μ_i) / sqrt(σ_i² + ε)
        shape = (1, -1) + (1,) * len(spatial)
        return torch.cat([ref_hat, ex_hat]) * self.weight.view(shape) + self.bias.view(shape)  # γ x̂ + β

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


@contextmanager
def reference_rows(module: nn.Module, n_ref: int) -> Iterator[None]:
    """Within the block, every VirtualBatchNorm in `module` takes the first `n_ref` rows as its reference batch."""
    layers = [m for m in module.modules() if isinstance(m, VirtualBatchNorm)]
    for m in layers:
        m.n_ref = n_ref
    try:
        yield
    finally:
        for m in layers:
            m.n_ref = 0


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)


def convert_batchnorm_to_vbn(module: nn.Module) -> int:
    """Replace every BatchNorm1d/2d (and SyncBatchNorm) inside `module` by a VirtualBatchNorm with the same feature
    count, γ, β and ε, in place. Returns how many were replaced. Running statistics are dropped (VBN has none)."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, _BATCH_NORMS):
            vbn = VirtualBatchNorm(child.num_features, eps=child.eps)
            if child.affine:
                with torch.no_grad():
                    vbn.weight.copy_(child.weight)
                    vbn.bias.copy_(child.bias)
            setattr(module, name, vbn.to(next(child.parameters(), vbn.weight).device))
            count += 1
        else:
            count += convert_batchnorm_to_vbn(child)
    return count


def insert_vbn_after_hidden_linears(mlp: nn.Module) -> int:
    """For an MLP generator (aegan.nets.MLP): put a VirtualBatchNorm after each nn.Linear of `mlp.body`, in place
    (Linear -> VBN -> LeakyReLU; the head stays linear). Returns how many were inserted. Changes `body.*` indices
    in the state_dict: do it before loading a checkpoint, the same way it was done when the checkpoint was written."""
    body = getattr(mlp, "body", None)
    if not isinstance(body, nn.Sequential):
        raise ValueError(f"insert_vbn_after_hidden_linears needs a net with an nn.Sequential .body (aegan.nets.MLP), "
                         f"got {type(mlp).__name__}")
    layers: list[nn.Module] = []
    count = 0
    for layer in body:
        layers.append(layer)
        if isinstance(layer, nn.Linear):
            layers.append(VirtualBatchNorm(layer.out_features).to(layer.weight.device))
            count += 1
    mlp.body = nn.Sequential(*layers)
    return count


class VBNGenerator(nn.Module):
    """z (N, *latent) -> generator(z) (N, ...), normalised by VBN against the fixed reference codes `z_ref`.

    Converts the generator's batch norms to VBN in place, keeps `z_ref` as a persistent buffer (checkpoints hold it),
    and runs cat(z_ref, z) through the generator, returning only the rows of z. Costs len(z_ref) extra rows per call.
    """

    def __init__(self, generator: nn.Module, z_ref: torch.Tensor) -> None:
        super().__init__()
        convert_batchnorm_to_vbn(generator)
        if not any(isinstance(m, VirtualBatchNorm) for m in generator.modules()):
            raise ValueError("VBNGenerator: the generator has no BatchNorm or VirtualBatchNorm layer to use the "
                             "reference batch; for an MLP call insert_vbn_after_hidden_linears(mlp) first")
        if z_ref.dim() < 2 or len(z_ref) < 2:
            raise ValueError(f"VBNGenerator: z_ref must be a batch of at least 2 codes (n_ref, ...), "
                             f"got shape {tuple(z_ref.shape)}")
        self.generator = generator
        self.register_buffer("z_ref", z_ref.detach().clone())  # fixed reference codes, drawn once
        for name in ("latent_dim", "shape", "in_dim", "out_dim"):  # keep the generator's size attributes visible
            if hasattr(generator, name):
                setattr(self, name, getattr(generator, name))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[1:] != self.z_ref.shape[1:]:
            raise ValueError(f"VBNGenerator: codes of shape {tuple(z.shape)} do not match the reference codes "
                             f"{tuple(self.z_ref.shape)}")
        n_ref = len(self.z_ref)
        with reference_rows(self.generator, n_ref):
            x = self.generator(torch.cat([self.z_ref.to(z.dtype), z]))  # (n_ref + N, ...)
        return x[n_ref:]  # G(z): (N, ...)
