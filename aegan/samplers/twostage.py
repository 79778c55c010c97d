"""`twostage`: a second VAE trained on the codes, sampled through its own prior.

Dai & Wipf, Diagnosing and Enhancing VAE Models, ICLR 2019, arXiv:1903.05789, §4 "the two-stage VAE": the codes
of a first autoencoder do not fill its prior, but they fill their own space, where the paper shows that a VAE with
a learned observation variance γ² can recover the true density; a second VAE fitted to the codes is then sampled
through its prior. Here the second stage sees the standardized codes x = (z − μ)/σ (stored with the model), its
latent u has as many dimensions as the codes (κ = d, as in the paper), encoder q_φ(u|x) = N(μ_φ(x), diag σ²_φ(x))
and decoder p_θ(x|u) = N(μ_θ(u), γ² I) are MLPs with the input joined to the last hidden layer (the paper's
second-stage networks), and γ is one learned scalar. The loss is the negative ELBO (Kingma & Welling, Auto-Encoding
Variational Bayes, ICLR 2014, arXiv:1312.6114), per code:

    −log p_θ(x|u) = ‖x − μ_θ(u)‖² / (2γ²) + d log γ + (d/2) log 2π,     u = μ_φ(x) + σ_φ(x) ⊙ ε
    KL(q_φ(u|x) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)

Samples are drawn from the model whose likelihood is scored: u ~ N(0, I), then x ~ N(μ_θ(u), γ² I).
`decoder_noise=False` decodes the mean μ_θ(u) instead, as Dai & Wipf's generation does, which is the same as
γ -> 0; with a small network and a short fit γ stays large (about 0.26 in standardized units on the 8-D test
mixture), and there the noise halves the MMD of the samples to held-out codes.

The held-out log-likelihood is the importance-weighted bound of Burda, Grosse & Salakhutdinov (Importance Weighted
Autoencoders, ICLR 2016, arXiv:1509.00519, Eq. 8) with K samples of q_φ:

    log p(x) ≥ E[ log (1/K) Σ_k p_θ(x|u_k) p(u_k) / q_φ(u_k|x) ],    u_k ~ q_φ(u|x)

a lower bound in expectation that tightens with K (K = 1 is the ELBO), reported as a BOUND; on the 8-D test
mixture K = 64 is within 0.002 nats per dimension of K = 512.

Default sizes: width 128, 3 hidden layers in each network, 3,000 Adam steps of 256 codes (lr 2e-3, cosine decay),
K = 64. The paper's second stage is wider (1,024) and trained for hundreds of epochs; on 2 CPU cores this budget
leaves it the weakest of the learned code models on the 8-D test mixture (0.06 nats per dimension below the true
held-out log-likelihood, where flow and diffusion come within 0.02-0.03), which the choice of the default measures.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from aegan.samplers.base import BOUND, Standardize, check_codes, check_n, fit_network, load_net, net_tensors

BATCH = 10_000  # codes per pass when sampling
LOG_2PI = math.log(2 * math.pi)
MIN_LOG_GAMMA = math.log(1e-3)  # γ ≥ 0.001 standardized units: a floor that keeps the loss finite on flat codes


class SkipMLP(nn.Module):
    """(N, in_dim) -> (N, out_dim): `depth` hidden layers of `width` ReLU units, the head on [input, last hidden
    layer] (the input concatenated before the output layer, as in Dai & Wipf's second-stage networks), so that a
    near-linear map is easy to learn."""

    def __init__(self, in_dim: int, out_dim: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(in_dim + width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([x, self.body(x)], dim=1))


class TwoStageVAESampler:
    """A VAE on standardized codes: encoder q_φ(u|x), decoder mean μ_θ(u), learned scalar log γ."""

    name: ClassVar[str] = "twostage"
    likelihood: ClassVar[str | None] = BOUND

    def __init__(self, latent_dim: int | None = None, width: int = 128, depth: int = 3, steps: int = 3000,
                 batch_size: int = 256, lr: float = 2e-3, iw_samples: int = 64, decoder_noise: bool = True) -> None:
        self.latent_dim = latent_dim  # κ; None = the code dimension d (Dai & Wipf)
        self.width, self.depth = width, depth
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.iw_samples = iw_samples  # K of the importance-weighted bound
        self.decoder_noise = decoder_noise  # sample x ~ N(μ_θ(u), γ² I); False = the mean μ_θ(u) (Dai & Wipf)
        self.encoder: SkipMLP | None = None  # x (d) -> (μ_φ, log σ²_φ) (2κ)
        self.decoder: SkipMLP | None = None  # u (κ) -> μ_θ (d)
        self.log_gamma: torch.Tensor | None = None  # () log γ
        self.standardize: Standardize | None = None
        self.dim: int | None = None
        self.fit_loss: list[float] = []  # mean negative ELBO per dimension of each tenth of the fit

    def _nets(self, d: int, k: int) -> tuple[SkipMLP, SkipMLP]:
        return SkipMLP(d, 2 * k, self.width, self.depth), SkipMLP(k, d, self.width, self.depth)

    def fit(self, codes: torch.Tensor, seed: int = 0, progress: bool = False) -> TwoStageVAESampler:
        z = check_codes(codes)  # (N, d), float64
        self.dim = d = z.shape[1]
        k = self.latent_dim = self.latent_dim or d
        self.standardize = Standardize.fit(z)
        x = self.standardize.to_unit(z)  # (N, d) float32
        with torch.random.fork_rng(devices=[]):  # initial weights from `seed`; the caller's RNG is untouched
            torch.manual_seed(seed)
            encoder, decoder = self._nets(d, k)
        log_gamma = torch.zeros((), requires_grad=True)  # γ = 1 at the start, as in Dai & Wipf's code

        def loss(x_batch: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            mu, log_var = encoder(x_batch).chunk(2, dim=1)  # (b, κ) each
            u = mu + (0.5 * log_var).exp() * torch.randn(mu.shape, generator=g)  # reparameterized u ~ q_φ(u|x)
            lg = log_gamma.clamp_min(MIN_LOG_GAMMA)
            rec = ((x_batch - decoder(u)).square().sum(1) / (2 * (2 * lg).exp())
                   + d * lg + 0.5 * d * LOG_2PI)  # −log N(x; μ_θ(u), γ² I)
            kl = 0.5 * (mu.square() + log_var.exp() - 1 - log_var).sum(1)  # KL(q_φ(u|x) ‖ N(0, I)), analytic
            return (rec + kl).mean() / d  # negative ELBO per dimension

        params = [*encoder.parameters(), *decoder.parameters(), log_gamma]
        self.fit_loss = fit_network(params, loss, x, steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                                    seed=seed, desc=f"code model {self.name}", progress=progress)
        self.encoder, self.decoder = encoder.eval().requires_grad_(False), decoder.eval().requires_grad_(False)
        self.log_gamma = log_gamma.detach().clamp_min(MIN_LOG_GAMMA)
        return self

    def _fitted(self) -> tuple[SkipMLP, SkipMLP, torch.Tensor, Standardize]:
        if self.encoder is None or self.decoder is None or self.log_gamma is None or self.standardize is None:
            raise RuntimeError("TwoStageVAESampler used before fit")
        return self.encoder, self.decoder, self.log_gamma, self.standardize

    @property
    def gamma(self) -> float:
        """The learned observation noise γ, in standardized code units."""
        return float(self._fitted()[2].exp())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        _, decoder, log_gamma, std = self._fitted()
        check_n(n)
        u = torch.randn(n, self.latent_dim, generator=generator)  # (n, κ), u ~ N(0, I): the second stage's prior
        x = torch.cat([decoder(u[i:i + BATCH]) for i in range(0, n, BATCH)]) if n else torch.empty(0, self.dim)
        if self.decoder_noise:
            x = x + log_gamma.exp() * torch.randn(x.shape, generator=generator)  # x ~ N(μ_θ(u), γ² I)
        return std.from_unit(x)  # (n, d), code units

    @torch.no_grad()
    def log_likelihood(self, codes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The importance-weighted lower bound on log p(z) (N,) float64, K = `iw_samples`, one draw per code."""
        encoder, decoder, log_gamma, std = self._fitted()
        x = std.to_unit(check_codes(codes, min_n=1, dim=self.dim))  # (N, d)
        d, k, K = self.dim, self.latent_dim, self.iw_samples
        out = []
        for i in range(0, len(x), max(1, 20_000 // K)):
            xb = x[i:i + max(1, 20_000 // K)].double()  # (b, d)
            mu, log_var = encoder(xb.float()).double().chunk(2, dim=1)  # (b, κ)
            eps = torch.randn(K, *mu.shape, generator=generator, dtype=torch.float64)  # (K, b, κ)
            u = mu + (0.5 * log_var).exp() * eps  # u_k ~ q_φ(u|x)
            x_mean = decoder(u.reshape(-1, k).float()).double().reshape(K, len(xb), d)
            lg = float(log_gamma)
            log_px_u = -((xb - x_mean).square().sum(-1) / (2 * math.exp(2 * lg)) + d * lg + 0.5 * d * LOG_2PI)
            log_pu = -0.5 * (u.square().sum(-1) + k * LOG_2PI)  # log N(u; 0, I)
            log_qu = -0.5 * (eps.square().sum(-1) + log_var.sum(-1) + k * LOG_2PI)  # log q_φ(u|x)
            out.append(torch.logsumexp(log_px_u + log_pu - log_qu, 0) - math.log(K))  # Burda et al., Eq. 8
        return torch.cat(out) + std.log_det

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        encoder, decoder, log_gamma, std = self._fitted()
        tensors = {**net_tensors(encoder, "encoder."), **net_tensors(decoder, "decoder."),
                   "log_gamma": log_gamma.reshape(1).clone(), **std.tensors()}
        meta = {"dim": self.dim, "latent_dim": self.latent_dim, "width": self.width, "depth": self.depth,
                "steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, "iw_samples": self.iw_samples,
                "decoder_noise": self.decoder_noise, "gamma": float(log_gamma.exp()), "fit_loss": self.fit_loss}
        return tensors, meta

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> TwoStageVAESampler:
        d, k = int(meta["dim"]), int(meta["latent_dim"])
        sampler = cls(latent_dim=k, width=int(meta["width"]), depth=int(meta["depth"]), steps=int(meta["steps"]),
                      batch_size=int(meta["batch_size"]), lr=float(meta["lr"]), iw_samples=int(meta["iw_samples"]),
                      decoder_noise=bool(meta["decoder_noise"]))
        sampler.dim, sampler.fit_loss = d, list(meta.get("fit_loss", []))
        sampler.standardize = Standardize.from_tensors(tensors, d)
        encoder, decoder = sampler._nets(d, k)
        sampler.encoder = load_net(encoder, tensors, "encoder.")
        sampler.decoder = load_net(decoder, tensors, "decoder.")
        if "log_gamma" not in tensors or tensors["log_gamma"].shape != (1,):
            raise ValueError("tensor 'log_gamma' is missing or not a scalar")
        sampler.log_gamma = tensors["log_gamma"].reshape(()).float().clamp_min(MIN_LOG_GAMMA)
        return sampler
