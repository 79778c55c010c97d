"""Layer 3: each phase's gradient, as the training loop computes it, equals the gradient of the paper's loss.

For every model and every phase, the loss is written again here from the paper, in plain torch (no aegan.losses,
no model loss helper), with the same networks and the same random draws; the gradient that the real `train_step`
gives each network the phase trains (captured just before its Adam step) must equal the gradient of this
independent loss, and the phase must give no gradient to any other network.

What the loop means, and so what the reference computes (the loop's contract, aegan/train.py `train_step`):
  s = begin_step(x) draws z (and ε) and runs the forward passes the phases share (ẑ = E(x), x̂ = G(ẑ), x' = G(z), …)
  with the weights as they are at the start of the step; then each phase in turn computes its loss and steps its
  own networks. So the loss of phase k is evaluated with
    - the shared forward passes as begin_step computed them: a network updated by an earlier phase of this step
      (E before G in aae, vaegan and α-GAN) enters later phases through its output from *before* its update;
    - every network the phase itself runs (the discriminators D and C judging x, x̂, x', z, ẑ) with its weights
      *after* the earlier phases of the step (D already stepped when α-GAN's G is scored by D(x̂));
    - the gradient taken with respect to the phase's own networks, whose weights are still those of begin_step
      (each network is stepped by one phase a step; asserted below).
  One minibatch and one set of draws per step, as in the papers' algorithms; the updates follow one another in the
  model's phase order, as the model docstrings state (Larsen 2016 Alg. 1 takes all three gradients at the same
  weights; the vaegan docstring says so).
A large learning rate makes each Adam step move the weights far, so a reference that took a network's weights
from the wrong moment would miss by far more than the tolerance (test_reference_tells_the_moments_apart).

Reductions: the papers write per-example losses and average them over a minibatch. The models document
(aegan/losses.py, the model docstrings, DESIGN §1) pixel reconstructions as means over every element of the batch,
1/(N·D) Σ_n Σ_d |x_nd − x̂_nd| (ae, aegan, aae, alphagan: a weight λ means the same at any data size), perceptual
terms as means over every feature, 1/(N·F) Σ_n ‖φ(x_n) − φ(x̂_n)‖², and log-likelihoods as per-example sums with a
batch mean (the VAE's −log p(x|z) and KL, vaegan's ½‖D_l(x) − D_l(x̃)‖² and KL: an ELBO adds over dimensions); GAN
terms are batch means of per-example cross-entropies. The references below use exactly that.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aegan import models
from aegan.config import Config, apply_dict
from aegan.train import train_step

SHAPES = {"vector": (2,), "image": (1, 8, 8)}
BATCH = 6  # batch norm needs more than one example
STEPS = 2  # the second step starts with Adam state and with gradients left over from the first
LR = 0.05  # large: an Adam step then moves each weight by about 0.05, so stale weights are far off

# Which networks each phase trains, in the loop's order: the papers' assignment of losses to networks.
PHASES = {
    "gan": [("D", ("D",)), ("G", ("G",))],
    "ae": [("AE", ("E", "G"))],
    "aegan": [("D", ("D",)), ("AE", ("E", "G"))],
    "vae": [("VAE", ("E", "G"))],
    "aae": [("C", ("C",)), ("E", ("E",)), ("G", ("G",))],
    "vaegan": [("D", ("D",)), ("E", ("E",)), ("G", ("G",))],
    "alphagan": [("D", ("D",)), ("C", ("C",)), ("E", ("E",)), ("G", ("G",))],
    "bigan": [("D", ("D",)), ("EG", ("E", "G"))],
    "veegan": [("D", ("D",)), ("GF", ("G", "F"))],
    "ppgn": [("D", ("D",)), ("AE", ("E", "G"))],
}

# (model, data kind, model_args): the defaults on vectors and images, and every model_args choice that changes a
# loss. "bce" reads x̂ as Bernoulli means of pixels in [−1, 1], so it is tested on images only.
CASES = [
    ("gan", "vector", {}), ("gan", "image", {}),
    ("ae", "vector", {}), ("ae", "image", {}), ("ae", "vector", {"recon": "mse"}), ("ae", "image", {"recon": "mse"}),
    ("ae", "image", {"recon": "bce"}),
    ("aegan", "vector", {}), ("aegan", "image", {}), ("aegan", "vector", {"recon": "mse"}),
    ("aegan", "image", {"recon": "bce"}),
    ("vae", "vector", {}), ("vae", "image", {}), ("vae", "vector", {"sigma": 0.7}),
    ("vae", "image", {"likelihood": "bernoulli"}),
    ("aae", "vector", {}), ("aae", "image", {}), ("aae", "vector", {"prior": "mog"}),
    ("aae", "image", {"prior": "mog"}), ("aae", "vector", {"prior": "uniform"}), ("aae", "vector", {"recon": "mse"}),
    ("aae", "image", {"recon": "bce"}), ("aae", "vector", {"posterior": "gaussian"}),
    ("aae", "image", {"posterior": "gaussian", "prior": "mog"}),
    ("vaegan", "vector", {}), ("vaegan", "image", {}),
    ("vaegan", "vector", {"gamma": 0.3}), ("vaegan", "image", {"gamma": 0.3}),  # the default γ is 1: test γ ≠ 1
    ("alphagan", "vector", {}), ("alphagan", "image", {}),
    ("alphagan", "vector", {"adversarial": "ratio"}), ("alphagan", "image", {"adversarial": "ratio"}),
    # the perceptual term W·mean ‖φ(x) − φ(x̂)‖² (images only), with each φ a model can use; W ≠ 1 and large enough
    # that its gradient is far above the tolerance
    ("ae", "image", {"perceptual": 3.0, "perceptual_net": "features"}),
    ("aegan", "image", {"perceptual": 3.0, "perceptual_net": "D"}),
    ("aegan", "image", {"perceptual": 3.0, "perceptual_net": "features", "recon": "mse"}),
    ("aae", "image", {"perceptual": 3.0, "perceptual_net": "features"}),
    ("aae", "vector", {"mmd": 2.0}), ("aae", "image", {"mmd": 5.0, "posterior": "gaussian"}),
    ("alphagan", "image", {"perceptual": 3.0, "perceptual_net": "D"}),
    ("alphagan", "image", {"perceptual": 3.0, "perceptual_net": "features"}),
    ("alphagan", "image", {"perceptual": 3.0, "perceptual_net": "D", "adversarial": "ratio"}),
    ("bigan", "vector", {}), ("bigan", "image", {}),
    ("bigan", "vector", {"adversarial": "minimax"}), ("bigan", "image", {"adversarial": "minimax"}),
    # veegan's image preset draws D's data-pair codes around F(x) (noise 1); the reference here has no draw, so the
    # image cases set noise 0 (the draw itself: tests/test_bigan_veegan.py)
    ("veegan", "vector", {}), ("veegan", "image", {"noise": 0.0}), ("veegan", "vector", {"lam": 0.3}),
    ("veegan", "vector", {"adversarial": "nonsaturating"}),
    ("veegan", "image", {"adversarial": "nonsaturating", "noise": 0.0}),
    ("ppgn", "vector", {}), ("ppgn", "image", {}), ("ppgn", "vector", {"adv": 0.3, "lam": 2.0}),
    ("ppgn", "image", {"recon": "l1", "perceptual_net": "D", "perceptual": 2.0}),
    ("ppgn", "image", {"perceptual": 3.0, "perceptual_net": "features"}),
    ("ppgn", "image", {"recon": "bce", "perceptual": 0.0}),

]


def case_id(case: tuple) -> str:
    name, kind, args = case
    return "-".join([name, kind, *(f"{k}={v}" for k, v in args.items())])


# --- the papers' terms, in plain torch ---------------------------------------------------------------------

def real_term(logit: torch.Tensor) -> torch.Tensor:
    """−log σ(logit): cross-entropy with target "real", batch mean."""
    return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))


def fake_term(logit: torch.Tensor) -> torch.Tensor:
    """−log(1 − σ(logit)): cross-entropy with target "fake", batch mean."""
    return F.binary_cross_entropy_with_logits(logit, torch.zeros_like(logit))


def adversarial(logit: torch.Tensor, form: str) -> torch.Tensor:
    """What a network that wants to pass as real minimises: −log D (non-saturating) or −log(D / (1 − D))."""
    if form == "nonsaturating":
        return real_term(logit)  # −log σ(logit), Goodfellow 2014 §3
    d = torch.sigmoid(logit.double())
    return -(d.log() - (1 - d).log()).mean().to(logit.dtype)  # −log(D/(1 − D)) = −logit, Rosca 2017 §3


def element_errors(x: torch.Tensor, x_rec: torch.Tensor, kind: str) -> torch.Tensor:
    """err(x_nd, x̂_nd) of every element."""
    if kind == "l1":
        return (x - x_rec).abs()  # |x − x̂|
    if kind == "mse":
        return (x - x_rec) ** 2  # (x − x̂)²
    # Bernoulli NLL, pixels in [−1, 1] read as means in [0, 1]: −[t log p + (1 − t) log(1 − p)]
    t, p = (x + 1) / 2, (x_rec + 1) / 2
    return -(t * p.log() + (1 - t) * (1 - p).log())


def recon_error(x: torch.Tensor, x_rec: torch.Tensor, kind: str) -> torch.Tensor:
    """1/(N·D) Σ_n Σ_d err(x_nd, x̂_nd): the pixel reconstruction, a mean over every element of the batch."""
    err = element_errors(x, x_rec, kind)
    return err.sum() / err.numel()


def perceptual_term(x: torch.Tensor, x_rec: torch.Tensor, r, N, arg) -> torch.Tensor | float:
    """W · 1/(N·F) Σ_n ‖φ(x_n) − φ(x̂_n)‖², φ = D's penultimate layer as the phase sees D (perceptual_net=D), or
    the fixed feature network r.phi (features); 0 when W = model_args.perceptual = 0."""
    w = arg.get("perceptual", 0.0)
    if w == 0:
        return 0.0
    phi = N["D"].features if arg["perceptual_net"] == "D" else r.phi
    f_x, f_rec = phi(x).detach(), phi(x_rec)  # φ(x) is the target
    return w * ((f_x - f_rec) ** 2).sum() / f_x.numel()


def gaussian_posterior(e_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E's output read as (μ, log σ²), halves along the code dimension."""
    mu, log_var = e_out.chunk(2, dim=1)
    # the models clamp log σ² to [−20, 10]; the papers do not: the reference is only valid inside that range
    assert log_var.min() > -20 and log_var.max() < 10
    return mu, log_var


def kl_to_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """−½ Σ_j (1 + log σ_j² − μ_j² − σ_j²): Kingma & Welling 2014, Eq. (10) and Appendix B; batch mean."""
    return (-0.5 * (1 + log_var - mu**2 - log_var.exp())).sum(1).mean()


# --- the random draws, in the order each model makes them from the global generator ------------------------

AAE_PRIORS = ("gaussian", "mog", "uniform")  # the priors aegan.models.aae.PRIORS ships with


def draws(name: str, arg: dict, n: int, d: int, seed: int) -> SimpleNamespace:
    gen = torch.Generator().manual_seed(seed)  # the same stream as torch.manual_seed(seed) on the CPU
    r = SimpleNamespace()
    if name in ("gan", "aegan", "alphagan", "bigan", "veegan"):
        r.z = torch.randn(n, d, generator=gen)  # z ~ N(0, I), begin_step
    elif name == "vae":
        r.eps = torch.randn(n, d, generator=gen)  # ε ~ N(0, I), drawn in the VAE phase (nothing before it)
    elif name == "vaegan":
        r.eps = torch.randn(n, d, generator=gen)  # ε for z̃ = μ + σ ⊙ ε, then
        r.z_p = torch.randn(n, d, generator=gen)  # z_p ~ N(0, I), both in begin_step
    elif name == "aae":
        if arg["prior"] == "gaussian":
            r.z = torch.randn(n, d, generator=gen)
        elif arg["prior"] == "uniform":
            r.z = torch.rand(n, d, generator=gen) * 2 - 1  # U(−1, 1)^d
        else:  # mog: 10 Gaussians, std 0.5, centred on a circle of radius 2 in the first two code dimensions (Fig. 4)
            assert arg["prior"] == "mog", f"no reference draw for the aae prior {arg['prior']!r}"
            k = torch.randint(10, (n,), generator=gen)
            angle = 2 * math.pi * k.double() / 10
            centre = torch.zeros(n, d, dtype=torch.float64)
            centre[:, 0] = 2.0 * angle.cos()
            if d > 1:
                centre[:, 1] = 2.0 * angle.sin()
            r.z = (centre + 0.5 * torch.randn(n, d, generator=gen).double()).float()
        if arg["posterior"] == "gaussian":
            r.eps = torch.randn(n, d, generator=gen)  # ε of ẑ = μ + σ ⊙ ε, after z (begin_step)
    return r


# --- the papers' losses, phase by phase -----------------------------------------------------------------------
# S: the networks as begin_step ran them (shared forward passes); N: the networks as they are when the phase runs.

def loss_gan(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """Goodfellow et al. 2014, Eq. (1) and §3 (non-saturating G)."""
    x_fake = S["G"](r.z)  # x' = G(z), shared
    if phase == "D":  # D maximises V(D, G) = E log D(x) + E log(1 − D(G(z))): it minimises
        real = real_term(N["D"](x))  # −log D(x)
        fake = fake_term(N["D"](x_fake.detach()))  # −log(1 − D(G(z)))
        return real + fake
    return real_term(N["D"](x_fake))  # G: −log D(G(z)), non-saturating (§3)


def loss_ae(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """Autoencoder (Hinton & Salakhutdinov 2006): E and G minimise mean err(x, G(E(x))) (+ the perceptual term)."""
    x_rec = N["G"](N["E"](x))  # x̂ = G(E(x))
    return recon_error(x, x_rec, arg["recon"]) + perceptual_term(x, x_rec, r, N, arg)


def loss_aegan(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """AE + data GAN: D tells x from x̂ and x'; E, G: λ‖x − x̂‖ + adv(D(x̂)) + adv(D(x')) (E only through x̂)."""
    x_rec = S["G"](S["E"](x))  # x̂ = G(E(x)), shared
    x_gen = S["G"](r.z)  # x' = G(z), shared
    if phase == "D":
        real = real_term(N["D"](x))  # −log D(x)
        rec_fake = fake_term(N["D"](x_rec.detach()))  # −log(1 − D(x̂))
        gen_fake = fake_term(N["D"](x_gen.detach()))  # −log(1 − D(x'))
        return real + rec_fake + gen_fake
    rec = arg["lam"] * recon_error(x, x_rec, arg["recon"])  # λ·mean err(x, x̂)
    perceptual = perceptual_term(x, x_rec, r, N, arg)  # W·mean ‖φ(x) − φ(x̂)‖², φ = D as just updated, or fixed
    rec_adv = real_term(N["D"](x_rec))  # −log D(x̂)
    gen_adv = real_term(N["D"](x_gen))  # −log D(x')
    return rec + perceptual + rec_adv + gen_adv


def loss_vae(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """Kingma & Welling 2014, Eq. (10) with L = 1: −ELBO = −log p(x|z) + KL(q(z|x) ‖ N(0, I))."""
    mu, log_var = gaussian_posterior(N["E"](x))
    z = mu + (0.5 * log_var).exp() * r.eps  # z = μ + σ ⊙ ε (§2.4)
    x_rec = N["G"](z)
    if arg["likelihood"] == "bernoulli":  # −log p(x|z) = −Σ_d log Bernoulli(x_d; x̂_d), summed per example (C.1)
        nll = element_errors(x, x_rec, "bce").flatten(1).sum(1).mean()
    else:  # −log N(x; x̂, σ²I) = ‖x − x̂‖² / 2σ² + const (Appendix C.2, fixed σ)
        nll = ((x - x_rec) ** 2).flatten(1).sum(1).mean() / (2 * arg["sigma"] ** 2)
    kl = kl_to_standard_normal(mu, log_var)  # −½ Σ (1 + log σ² − μ² − σ²), Eq. (10)
    return nll + kl


def loss_aae(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """Makhzani et al. 2015 §2: reconstruction phase (E, G) and regularization phase (C: z ~ p(z) real, ẑ fake;
    E fools C). The model merges E's two updates into one step on λ‖x − x̂‖ − log C(ẑ) (documented)."""
    if arg["posterior"] == "gaussian":  # q(z|x) = N(μ(x), σ²(x)), reparameterised (§2.1)
        mu, log_var = gaussian_posterior(S["E"](x))
        z_hat = mu + (0.5 * log_var).exp() * r.eps
    else:
        z_hat = S["E"](x)  # ẑ = E(x), shared
    x_rec = S["G"](z_hat)  # x̂ = G(ẑ), shared
    if phase == "C":
        prior_real = real_term(N["C"](r.z))  # −log C(z), z ~ p(z)
        post_fake = fake_term(N["C"](z_hat.detach()))  # −log(1 − C(ẑ))
        return prior_real + post_fake
    rec = arg["lam"] * recon_error(x, x_rec, arg["recon"])  # λ·mean err(x, G(E(x)))
    perceptual = perceptual_term(x, x_rec, r, N, arg)  # W·mean ‖φ(x) − φ(x̂)‖², φ the fixed feature network
    if phase == "E":
        code_adv = real_term(N["C"](z_hat))  # −log C(ẑ): E fools C
        return rec + perceptual + code_adv + arg["mmd"] * imq_mmd(z_hat, r.z)
    return rec + perceptual  # G: reconstruction phase only


def imq_mmd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """WAE-MMD's penalty (Tolstikhin et al. 2018, Algorithm 2): the unbiased MMD² with the IMQ kernels
    c / (c + ‖·‖²), c = 2·d·s for s in 0.1 … 10, summed over the scales; written pair by pair."""
    n, m, d = len(a), len(b), a.shape[1]
    total = torch.zeros(())
    for c in (2 * d * s for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)):
        def k(u: torch.Tensor, v: torch.Tensor, c: float = c) -> torch.Tensor:
            return c / (c + ((u - v) ** 2).sum())

        total = total + sum(k(a[i], a[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        total = total + sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        total = total - 2 * sum(k(a[i], b[j]) for i in range(n) for j in range(m)) / (n * m)
    return total


def loss_vaegan(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """Larsen et al. 2016, Algorithm 1: E: L_prior + L_llike; G: γ·L_llike − L_GAN; D: L_GAN (no GAN loss into E).
    G's −L_GAN is written non-saturating (−log D(x̃) − log D(x_p)), as the model documents."""
    mu, log_var = gaussian_posterior(S["E"](x))  # shared
    z_tilde = mu + (0.5 * log_var).exp() * r.eps  # z̃ ~ q(z|x), reparameterised
    x_tilde = S["G"](z_tilde)  # x̃ = G(z̃), shared
    x_p = S["G"](r.z_p)  # x_p = G(z_p), shared
    if phase == "D":
        real = real_term(N["D"](x))  # −log Dis(x)
        tilde_fake = fake_term(N["D"](x_tilde.detach()))  # −log(1 − Dis(x̃))
        p_fake = fake_term(N["D"](x_p.detach()))  # −log(1 − Dis(x_p))
        return real + tilde_fake + p_fake
    f_x, f_tilde = N["D"].features(x), N["D"].features(x_tilde)  # Dis_l: D's penultimate layer
    llike = (0.5 * (f_x - f_tilde) ** 2).sum(1).mean()  # L_llike = −log N(Dis_l(x) | Dis_l(x̃), I) + const, Eq. (6)
    if phase == "E":
        prior = kl_to_standard_normal(mu, log_var)  # L_prior = KL(q(z|x) ‖ p(z))
        return prior + llike
    weighted_llike = arg["gamma"] * llike  # γ·L_llike (§2.3)
    tilde_adv = real_term(N["D"](x_tilde))  # −log Dis(x̃)
    p_adv = real_term(N["D"](x_p))  # −log Dis(x_p)
    return weighted_llike + tilde_adv + p_adv


def loss_alphagan(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """Rosca et al. 2017, Algorithm 1 with the code discriminator's classes as in the text (prior codes are real):
    E: λ‖x − x̂‖₁ + adv(C(ẑ));  G: λ‖x − x̂‖₁ + adv(D(x̂)) + adv(D(x'));  D: x real, x̂ and x' fake;  C: z real, ẑ fake."""
    z_hat = S["E"](x)  # ẑ = E(x), shared
    x_rec = S["G"](z_hat)  # x̂ = G(ẑ), shared
    x_gen = S["G"](r.z)  # x' = G(z), shared
    form = arg["adversarial"]
    if phase == "D":
        real = real_term(N["D"](x))  # −log D(x)
        rec_fake = fake_term(N["D"](x_rec.detach()))  # −log(1 − D(x̂))
        gen_fake = fake_term(N["D"](x_gen.detach()))  # −log(1 − D(x'))
        return real + rec_fake + gen_fake
    if phase == "C":
        prior_real = real_term(N["C"](r.z))  # −log C(z), z ~ p(z): the real class
        post_fake = fake_term(N["C"](z_hat.detach()))  # −log(1 − C(ẑ)), ẑ = E(x): the fake class
        return prior_real + post_fake
    rec = arg["lam"] * (x - x_rec).abs().mean()  # λ · 1/(N·D) Σ |x − x̂|
    perceptual = perceptual_term(x, x_rec, r, N, arg)  # W·mean ‖φ(x) − φ(x̂)‖², φ = D after phase D, or fixed
    if phase == "E":
        code_adv = adversarial(N["C"](z_hat), form)  # −log C(ẑ) or −log(C(ẑ)/(1 − C(ẑ)))
        return rec + perceptual + code_adv
    rec_adv = adversarial(N["D"](x_rec), form)  # adv(D(x̂))
    gen_adv = adversarial(N["D"](x_gen), form)  # adv(D(x'))
    return rec + perceptual + rec_adv + gen_adv


def loss_bigan(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """Donahue et al. 2017 §3, Dumoulin et al. 2017 Algorithm 1: D: −log D(x, E(x)) − log(1 − D(G(z), z)); E and G:
    ℓ_g = −log(1 − D(x, E(x))) − log D(G(z), z) (nonsaturating), or V = log D(x, E(x)) + log(1 − D(G(z), z))."""
    z_hat = S["E"](x)  # ẑ = E(x), shared
    x_gen = S["G"](r.z)  # x̃ = G(z), shared
    if phase == "D":
        enc_real = real_term(N["D"](x, z_hat.detach()))  # −log ρ_q, ρ_q = D(x, ẑ)
        gen_fake = fake_term(N["D"](x_gen.detach(), r.z))  # −log(1 − ρ_p), ρ_p = D(x̃, z)
        return enc_real + gen_fake
    rho_q = torch.sigmoid(N["D"](x, z_hat).double())
    rho_p = torch.sigmoid(N["D"](x_gen, r.z).double())
    if arg["adversarial"] == "nonsaturating":
        return (-(1 - rho_q).log().mean() - rho_p.log().mean()).float()  # ℓ_g
    return (rho_q.log().mean() + (1 - rho_p).log().mean()).float()  # V(D, E, G), which E and G minimise


def loss_veegan(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """Srivastava et al. 2017, Algorithm 1, in the paper's D_ω(z, x), whose real class is the generator pairs: the
    model's D(x, z) calls the data pairs real, D_ω(z, x) = −D(x, z). D: O_LR = −log σ(D_ω(z, G(z))) −
    log(1 − σ(D_ω(F(x), x))); G and F: Ô = D_ω(z, G(z)) + λ‖z − F(G(z))‖² (or −log σ(−D_ω(z, G(z))), nonsaturating)."""
    def D_omega(z, x_):
        return -N["D"](x_, z)

    x_g = S["G"](r.z)  # x_g = G(z), shared
    if phase == "D":
        z_g = S["F"](x)  # z_g = F(x), shared
        gen = torch.sigmoid(D_omega(r.z, x_g.detach()).double())
        dat = torch.sigmoid(D_omega(z_g.detach(), x).double())
        return (-gen.log().mean() - (1 - dat).log().mean()).float()  # O_LR
    z_r = S["F"](x_g)  # F(G(z))
    if arg["adversarial"] == "ratio":
        adv = D_omega(r.z, x_g).mean()  # D_ω(z, x_g): the KL's density-ratio estimate
    else:
        adv = -(1 - torch.sigmoid(D_omega(r.z, x_g).double())).log().mean().float()  # −log σ(D(x_g, z))
    rec = ((r.z - z_r) ** 2).sum(1).mean()  # d(z, F(G(z))) = ‖z − F(G(z))‖²
    return adv + arg["lam"] * rec


def loss_ppgn(phase: str, x, r, S, N, arg) -> torch.Tensor:
    """Nguyen et al. 2017, §3 (joint PPGN): D tells x from G(h), h = E(x); E and G: λ_img·mean err(x, G(h))
    + λ_feat·mean ‖φ(x) − φ(G(h))‖² + λ_adv·(−log D(G(h))). No prior draw."""
    x_rec = S["G"](S["E"](x))  # G(h), h = E(x), shared
    if phase == "D":
        return real_term(N["D"](x)) + fake_term(N["D"](x_rec.detach()))  # −log D(x) − log(1 − D(G(h)))
    image = arg["lam"] * recon_error(x, x_rec, arg["recon"])  # λ_img·mean err(x, G(h))
    feature = perceptual_term(x, x_rec, r, N, arg)  # λ_feat·mean ‖φ(x) − φ(G(h))‖²
    return image + feature + arg["adv"] * real_term(N["D"](x_rec))  # + λ_adv·(−log D(G(h)))


REFERENCE = {"gan": loss_gan, "ae": loss_ae, "aegan": loss_aegan, "vae": loss_vae, "aae": loss_aae,
             "vaegan": loss_vaegan, "alphagan": loss_alphagan, "bigan": loss_bigan, "veegan": loss_veegan,
             "ppgn": loss_ppgn}


# --- running the real loop and capturing what each phase gives ------------------------------------------------

@dataclass
class Capture:
    phase: str
    grads: dict[str, list[torch.Tensor | None]]  # every network's .grad just before the phase's Adam step
    nets: torch.nn.ModuleDict  # every network's weights just before that step: after the earlier phases' steps


def build(name: str, kind: str, model_args: dict):
    cfg = Config(model=name)
    apply_dict(cfg, models.get(name).defaults(kind))  # the model's preset for this data kind, as make_config does
    cfg.model_args = {**cfg.model_args, **model_args}
    cfg.net.width = 8  # tiny networks; depth is the default (3 hidden layers for MLPs)
    cfg.net.latent_dim = cfg.net.latent_dim or 8  # the model's preset if it has one (2 for encoders on vectors)
    torch.manual_seed(0)
    model = models.get(name)(SHAPES[kind], cfg)
    if model.needs_feature_net:  # what aegan.train.fit sets from the data set's cached feature network
        model.phi = tiny_feature_net(SHAPES[kind])
    nets = dict(model.nets.items())
    phases = model.phases()
    # one Adam per phase over its networks' parameters, as aegan.train.fit builds them
    optimizers = {p.name: torch.optim.Adam([q for n in p.nets for q in nets[n].parameters()], lr=cfg.optim.lr,
                                           betas=(cfg.optim.beta1, cfg.optim.beta2)) for p in phases}
    return model, nets, phases, optimizers


def tiny_feature_net(shape: tuple[int, int, int]) -> nn.Module:
    """A small frozen conv net (n, C, H, W) -> (n, 6), with batch norm (in eval mode, as the feature network is)."""
    g = torch.Generator().manual_seed(7)
    phi = nn.Sequential(nn.Conv2d(shape[0], 4, 3, padding=1), nn.BatchNorm2d(4), nn.Tanh(), nn.Flatten(),
                        nn.Linear(4 * shape[1] * shape[2], 6))
    with torch.no_grad():
        for p in phi.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        phi[1].running_mean.copy_(torch.randn(4, generator=g) * 0.1)
    return phi.requires_grad_(False).eval()


def snapshot(nets: dict[str, torch.nn.Module]) -> torch.nn.ModuleDict:
    copies = copy.deepcopy(torch.nn.ModuleDict(nets))
    for p in copies.parameters():
        p.grad = None
        p.requires_grad_(True)
    return copies


def run_step(model, nets, phases, optimizers, x, step, seed) -> tuple[torch.nn.ModuleDict, list[Capture]]:
    """One real train_step; returns the networks at begin_step and, per phase, the gradients and weights at its step."""
    captures: list[Capture] = []

    def capture(name):
        def hook(opt, args, kwargs):
            grads = {n: [None if p.grad is None else p.grad.detach().clone() for p in net.parameters()]
                     for n, net in nets.items()}
            captures.append(Capture(name, grads, snapshot(nets)))
        return hook

    handles = [opt.register_step_pre_hook(capture(name)) for name, opt in optimizers.items()]
    begin = snapshot(nets)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the model draws z and ε from the global generator
            train_step(model, nets, phases, optimizers, x, step, LR)
    finally:
        for h in handles:
            h.remove()
    assert [c.phase for c in captures] == [p.name for p in phases], "every phase steps once, in order"
    return begin, captures


def reference_grads(name, phase, x, r, begin, now, arg, shared_from=None):
    """Gradient of the paper's loss for `phase` with respect to the phase's networks (in `now`)."""
    trained = dict(PHASES[name])[phase]
    shared_from = begin if shared_from is None else shared_from
    S = {n: now[n] if n in trained else shared_from[n] for n in now}  # begin_step's passes, through the trained nets
    loss = REFERENCE[name](phase, x, r, S, now, arg)
    params = [p for n in trained for p in now[n].parameters()]
    grads = torch.autograd.grad(loss, params)
    out, i = {}, 0
    for n in trained:
        k = len(list(now[n].parameters()))
        out[n] = list(grads[i:i + k])
        i += k
    return out


def data(kind: str, step: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(100 + step)
    if kind == "vector":
        return torch.randn(BATCH, *SHAPES[kind], generator=g)  # standardized vectors
    return torch.rand(BATCH, *SHAPES[kind], generator=g) * 2 - 1  # images in [−1, 1]


def assert_close_to(got: torch.Tensor, want: torch.Tensor, where: str, scale: float) -> None:
    """float32 gradients summed in another order: 1e-4 relative, and 1e-5 of `scale` (the largest gradient entry of
    the network) absolute, since some entries are sums of nearly cancelling terms (a bias feeding batch norm gets
    exactly 0 in exact arithmetic: its computed gradient is the rounding of the others)."""
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * scale, msg=lambda m: f"{where}\n{m}")


def largest(grads: list[torch.Tensor]) -> float:
    return max(float(g.abs().max()) for g in grads)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_phase_gradients_match_the_papers_losses(case):
    name, kind, model_args = case
    model, nets, phases, optimizers = build(name, kind, model_args)
    assert [(p.name, tuple(p.nets)) for p in phases] == PHASES[name]
    last: dict[str, list[torch.Tensor | None]] = {n: [None] * len(list(net.parameters())) for n, net in nets.items()}
    for step in range(STEPS):
        x, seed = data(kind, step), 1000 + step
        begin, captures = run_step(model, nets, phases, optimizers, x, step, seed)
        r = draws(name, model.arg, BATCH, model.latent_dim, seed)
        r.phi = model.phi  # the fixed feature network, an input of the loss like the data
        for c in captures:
            trained = dict(PHASES[name])[c.phase]
            where = f"{case_id(case)}, step {step}, phase {c.phase}"
            for n in trained:  # each network is stepped by its own phase only: it still has its begin_step weights
                assert same_weights(c.nets[n], begin[n]), f"{where}: {n} changed before its own phase"
            want = reference_grads(name, c.phase, x, r, begin, c.nets, model.arg)
            for n in nets:
                for j, (got, p_name) in enumerate(zip(c.grads[n], dict(nets[n].named_parameters()))):
                    if n in trained:
                        assert got is not None, f"{where}: {n}.{p_name} got no gradient"
                        assert_close_to(got, want[n][j], f"{where}: gradient of {n}.{p_name}", largest(want[n]))
                    else:  # untouched: None before the network's own phase first ran, else that phase's gradient
                        prev = last[n][j]
                        assert (got is None) == (prev is None), f"{where}: {n}.{p_name} got a gradient"
                        if got is not None:
                            assert torch.equal(got, prev), f"{where}: {n}.{p_name} got a gradient"
            for n in trained:
                last[n] = c.grads[n]


@pytest.mark.parametrize("kind", list(SHAPES))
def test_reference_tells_the_moments_apart(kind):
    """The tolerance resolves the loop's semantics: α-GAN's G gradient is neither that of a fresh forward pass with
    the encoder E updated in phase E, nor that with the discriminator D from before its update in phase D."""
    model, nets, phases, optimizers = build("alphagan", kind, {})
    x, seed = data(kind, 0), 1000
    begin, captures = run_step(model, nets, phases, optimizers, x, 0, seed)
    r = draws("alphagan", model.arg, BATCH, model.latent_dim, seed)
    c = captures[-1]
    assert c.phase == "G"
    got = torch.cat([g.flatten() for g in c.grads["G"]])

    def flat(grads):
        return torch.cat([g.flatten() for g in grads["G"]])

    right = flat(reference_grads("alphagan", "G", x, r, begin, c.nets, model.arg))
    fresh_E = flat(reference_grads("alphagan", "G", x, r, begin, c.nets, model.arg, shared_from=c.nets))
    stale_D = flat(reference_grads("alphagan", "G", x, r, begin, begin, model.arg))
    scale = float(right.abs().max())
    assert_close_to(got, right, "alphagan G", scale)
    for wrong in (fresh_E, stale_D):  # off by more than ten times the tolerance
        excess = (got - wrong).abs() / (1e-5 * scale + 1e-4 * wrong.abs())
        assert excess.max() > 10, f"only {excess.max():.1f} times the tolerance"


def uses(cls, args: dict, key: str, value: str) -> bool:
    """A case with `args` runs model_args.key = value; a φ (perceptual_net) counts only where the term is on."""
    merged = {**cls.args, **args}
    return merged[key] == value and (key != "perceptual_net" or merged["perceptual"] > 0)


def test_cases_cover_every_model_and_loss_choice():
    """A model, or a model_args value with a fixed set of choices, added without a reference above fails here."""
    assert set(PHASES) == set(models.MODELS) == set(REFERENCE)
    for name, cls in models.MODELS.items():
        kinds = {kind for n, kind, _ in CASES if n == name}
        assert kinds == set(SHAPES), f"{name}: cases for {sorted(kinds)} only"
        for key, valid in getattr(cls, "choices", {}).items():
            for value in valid:
                if (name, key) == ("aae", "prior") and value not in AAE_PRIORS:
                    continue  # a prior registered by a user (or a test) at run time
                covered = any(n == name and uses(cls, args, key, value) for n, _, args in CASES)
                assert covered, f"no case for {name} with model_args.{key}={value}"
