"""BiGAN / ALI: an encoder learned by the adversarial game itself, through a discriminator of joint (x, z) pairs.

Donahue, Krähenbühl & Darrell, "Adversarial Feature Learning" (BiGAN), ICLR 2017, arXiv:1605.09782; Dumoulin,
Belghazi, Poole, Mastropietro, Lamb, Arjovsky & Courville, "Adversarially Learned Inference" (ALI), ICLR 2017,
arXiv:1606.00704. Networks: encoder E: x -> ẑ, generator G: z -> x, joint discriminator D: (x, z) -> logit (JointD
below: a branch for x, a branch for z, joined before the last layers). D tells encoder pairs (x, E(x)) from
generator pairs (G(z), z); at the game's optimum the two joint distributions agree and E inverts G (BiGAN §3;
ALI §2).

One training step, in the order the loop runs it; both phases run every step (phase.every = 1):
  shared:  z ~ N(0, I),  ẑ = E(x),  x' = G(z)                         once, before the phases (begin_step)
  1. D   updates D:     −log σ(D(x, ẑ)) − log(1 − σ(D(x', z)))         −V(D, E, G) of BiGAN §3; ẑ and x' detached
  2. EG  updates E, G:  −log(1 − σ(D(x, ẑ)))                          E's pairs should look generated
                        − log σ(D(x', z))                              G's pairs should look encoded
E and G minimise the labels-swapped cross-entropy (model_args.adversarial=nonsaturating, the default): ALI's
Algorithm 1 writes exactly this ℓ_g, and BiGAN trains E and G with the same "inverse" objective (§3, as GANs'
non-saturating generator loss), since the minimax V saturates when D wins early. model_args.adversarial=minimax gives
V itself to E and G, log σ(D(x, ẑ)) + log(1 − σ(D(x', z))) (BiGAN §3). Both papers take D's and (E, G)'s gradients at
the same weights; here, as in every model of the family, phase EG sees D as phase D just updated it. One Adam over E
and G together is two Adams, one per network, on the same loss.

E is deterministic by default, as BiGAN's; ALI's encoder adds noise (z = μ(x) + σ(x)⊙ε): model_args.noise=σ draws
the encoder pairs' codes from N(E(x), σ²I) with a fixed σ, as the Gaussian reconstructor of VEEGAN's released 2-D code
that its ALI runs share (aegan.models.veegan); the samplers fit the means E(x). The prior is N(0, I) (ALI; BiGAN's
is uniform on [−1, 1]). tricks.label_smoothing acts on D's real class, the encoder pairs; tricks.feature_matching
compares D's joint features of the generator pairs (x', z) with those of the encoder pairs (x, ẑ), and replaces
(feature_matching_only) G's term only: E keeps its adversarial term; tricks.r1 penalises ∇ of D over the whole real
pair (x, ẑ); tricks.pack packs x's and z's alike.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aegan import tricks
from aegan.config import Config
from aegan.models.base import (
    ENCODER_SAMPLERS,
    ENCODER_VECTOR_DEFAULTS,
    Logs,
    Model,
    Phase,
    encoder_image_defaults,
)
from aegan.nets import ConvEncoder, build_encoder

ADVERSARIAL_FORMS = ("nonsaturating", "minimax")  # E's and G's loss: the labels swapped (default) or V itself
Pair = tuple[torch.Tensor, torch.Tensor]  # (x, z): (N, *shape) and (N, latent_dim)


class JointD(nn.Module):
    """Joint discriminator (x, z) -> logit: x (N, *shape) and z (N, latent_dim) -> (N, 1), or (N/k, 1) packed.

    Vectors: x -> Linear -> LeakyReLU and z -> Linear -> LeakyReLU, concatenated, then `depth − 1` hidden layers of
    `width` and a linear head: `depth` hidden layers along each path as in the GAN's D (depth 1: the head reads the
    joined branches, one hidden layer of 2·width whose weights keep x and z apart). Images: a DCGAN
    conv branch for x (aegan.nets.ConvEncoder, to 4·width features) and a two-layer MLP for z, concatenated, then one
    hidden layer and the head, as BiGAN's and ALI's joint discriminators join their D_x and D_z before D_xz.
    `features(x, z)` is the joined representation before the head (feature matching; minibatch discrimination goes
    between it and the head). pack = k > 1: k pairs judged at once, x's and z's each concatenated along
    channels/features (PacGAN, Lin et al. 2018, arXiv:1712.04086).
    """

    def __init__(self, shape: tuple[int, ...], latent_dim: int, width: int, depth: int, pack: int = 1) -> None:
        super().__init__()
        self.k = pack
        x_shape, z_dim = tricks.packed_shape(shape, pack), pack * latent_dim
        if len(shape) == 1:
            joint = width
            self.x_branch = nn.Sequential(nn.Linear(x_shape[0], joint), nn.LeakyReLU(0.2))
            self.z_branch = nn.Sequential(nn.Linear(z_dim, joint), nn.LeakyReLU(0.2))
            hidden = depth - 1  # the branches are the first hidden layer
        else:
            joint = 4 * width
            self.x_branch = nn.Sequential(ConvEncoder(x_shape, joint, width), nn.LeakyReLU(0.2))
            self.z_branch = nn.Sequential(nn.Linear(z_dim, joint), nn.LeakyReLU(0.2), nn.Linear(joint, joint),
                                          nn.LeakyReLU(0.2))
            hidden = 1
        layers: list[nn.Module] = []
        d = 2 * joint
        for _ in range(hidden):
            layers += [nn.Linear(d, joint), nn.LeakyReLU(0.2)]
            d = joint
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(d, 1)

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (N/k, k·...): samples g·k .. g·k + k − 1 side by side in row g (as aegan.tricks.Pack)."""
        n = t.shape[0]
        if n % self.k:
            raise ValueError(f"JointD: batch of {n} pairs does not split into packs of k={self.k}; use a batch size "
                             f"divisible by {self.k}")
        return t.reshape(n // self.k, self.k * t.shape[1], *t.shape[2:])

    def features(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if len(x) != len(z):
            raise ValueError(f"JointD: {len(x)} examples x but {len(z)} codes z; pairs need as many of each")
        if self.k > 1:
            x, z = self.pack(x), self.pack(z)
        h = torch.cat([self.x_branch(x), self.z_branch(z)], dim=1)  # [D_x(x), D_z(z)]: (N, 2·joint)
        return self.body(h)  # (N, joint), or (N, 2·joint) at depth 1

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x, z))  # (N, 1)


def build_joint_D(model: Model, width: int, depth: int) -> JointD:
    """The joint D of `model`, with net.d_depth, net.d_width, tricks.pack, tricks.minibatch_discrimination and
    tricks.spectral_norm as for a data D (Model.build_D)."""
    t = model.cfg.tricks
    d = JointD(model.shape, model.latent_dim, model.d_width(width), model.d_depth(depth), t.pack)
    if t.minibatch_discrimination:
        from aegan.nets.minibatch import with_minibatch_discrimination

        with_minibatch_discrimination(d, t.minibatch_kernels, t.minibatch_kernel_dim)
    if t.spectral_norm:
        tricks.apply_spectral_norm(d)
    return d


def gaussian_draw(mean: torch.Tensor, sigma: float) -> torch.Tensor:
    """A draw of N(mean, σ²I), reparameterised so the network that made `mean` still learns through it; `mean`
    itself when σ = 0 (model_args.noise of bigan and veegan)."""
    return mean + sigma * torch.randn_like(mean) if sigma > 0 else mean


def joint_generator_term(model: Model, term: Callable[[torch.Tensor], torch.Tensor], fake: Pair,
                         real: Pair) -> torch.Tensor:
    """term(D(fake pair)), the generator's adversarial term on its own pairs, plus or replaced by feature matching
    ‖mean f(real pair) − mean f(fake pair)‖² in the joint D's features (tricks.feature_matching, Salimans 2016 §3.1;
    the real features are a fixed target), as Model.g_adversarial does for a data D."""
    t, d = model.cfg.tricks, model.nets["D"]
    if t.feature_matching == 0:
        return term(d(*fake))
    fm = t.feature_matching * tricks.feature_matching(d.features(*real), d.features(*fake))
    return fm if t.feature_matching_only else fm + term(d(*fake))


class BiGAN(Model):
    name = "bigan"
    paper = ("Donahue et al. 2017, Adversarial Feature Learning, arXiv:1605.09782; Dumoulin et al. 2017, "
             "Adversarially Learned Inference, arXiv:1606.00704")
    has_D = True
    samplers = ENCODER_SAMPLERS
    args = {
        "adversarial": "nonsaturating",  # E's and G's loss: nonsaturating (labels swapped, ALI Alg. 1) | minimax (V)
        "noise": 0.0,  # σ of a Gaussian encoder q(z|x) = N(E(x), σ²I) whose draws make D's encoder pairs; 0 = E(x)
    }
    choices = {"adversarial": ADVERSARIAL_FORMS}
    nonnegative = ("noise",)

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__(shape, cfg)
        width, depth = cfg.net.width, cfg.net.depth
        self.nets["E"] = build_encoder(self.shape, self.latent_dim, width, depth)
        self.nets["G"] = self.build_G(width, depth)
        self.nets["D"] = build_joint_D(self, width, depth)

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        if kind != "vector":
            return encoder_image_defaults(channels)
        # the encoder models' vector setting (a 2-D code for the code models; lr 5e-4 held, then cosine-decayed; 5000
        # steps). Measured on ring8 in 1,200 steps (seed 0, lr 1e-3, 2,500 samples), a 2-D code beat an 8-D one on
        # the modes covered through gmm / prior: bigan 1 / 5 against 0 / 3, veegan 4 / 3 against 1 / 2; no run that
        # short converges, so the full-length benchmark runs are what confirm or change it
        return {**ENCODER_VECTOR_DEFAULTS}

    def phases(self) -> list[Phase]:
        return [Phase("D", ("D",), self.loss_D), Phase("EG", ("E", "G"), self.loss_EG)]

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        z = self.prior(len(x), x.device)
        z_hat = gaussian_draw(self.nets["E"](x), self.arg["noise"])  # ẑ = E(x) or a draw around it: (x, ẑ)
        x_gen = self.nets["G"](z)  # x' = G(z): the generator pair (x', z)
        return SimpleNamespace(x=x, z=z, z_hat=z_hat, x_gen=x_gen, real_pair=(x, z_hat))

    def loss_D(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        d_enc = self.nets["D"](s.x, s.z_hat.detach())
        d_gen = self.nets["D"](s.x_gen.detach(), s.z)
        loss = self.d_loss(d_enc, d_gen)  # −log D(x, E(x)) − log(1 − D(G(z), z)): −V(D, E, G), BiGAN §3
        return loss, {"d_enc": d_enc.mean(), "d_gen": d_gen.mean()}

    def loss_EG(self, s: SimpleNamespace) -> tuple[torch.Tensor, Logs]:
        if self.arg["adversarial"] == "nonsaturating":  # ALI Algorithm 1's ℓ_g; BiGAN's inverse objective
            enc_term = F.softplus(self.nets["D"](s.x, s.z_hat)).mean()  # −log(1 − σ(D(x, ẑ)))
            gen_term = joint_generator_term(self, lambda logit: F.softplus(-logit).mean(),  # −log σ(D(x', z))
                                            (s.x_gen, s.z), (s.x, s.z_hat))
        else:  # V(D, E, G) of BiGAN §3, which E and G minimise
            enc_term = -F.softplus(-self.nets["D"](s.x, s.z_hat)).mean()  # log σ(D(x, ẑ))
            gen_term = joint_generator_term(self, lambda logit: -F.softplus(logit).mean(),  # log(1 − σ(D(x', z)))
                                            (s.x_gen, s.z), (s.x, s.z_hat))
        return enc_term + gen_term, {"enc": enc_term, "gen": gen_term}
