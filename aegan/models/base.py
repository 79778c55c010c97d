"""What a model declares: its networks, its prior, its phases, and the forward passes its phases share.

A phase is one optimizer step: the networks it updates, every how many steps it runs, and the function
computing its loss. The training loop (aegan/train.py) owns zero_grad/backward/step, so which network
gets which gradient is visible in one place; a model only says what each phase minimises.

Also here, since four models share it: the perceptual reconstruction term W·mean‖φ(x) − φ(x̂)‖² of ae, aegan, aae
and alphagan (`model_args.perceptual` = W, `model_args.perceptual_net` = φ), a distance in a network's features
next to the pixel distance: Larsen, Sønderby, Larochelle & Winther 2016, "Autoencoding beyond pixels using a learned
similarity metric", arXiv:1512.09300 (φ = the GAN's own discriminator), and Dosovitskiy & Brox 2016, "Generating
Images with Perceptual Similarity Metrics based on Deep Networks", arXiv:1602.02644 (φ = a fixed feature network;
PPGN, Nguyen et al. 2017, trains its generator with it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import torch
from torch import nn

from aegan import losses, tricks
from aegan.config import Config
from aegan.errors import ConfigError
from aegan.nets import MLP, build_decoder, build_encoder

Logs = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Phase:
    name: str  # optimizer name, e.g. "D" or "G"; loss logged as loss/<name>
    nets: tuple[str, ...]  # networks this phase updates; all other networks are frozen during it
    loss: Callable[[SimpleNamespace], tuple[torch.Tensor, Logs]]  # step state -> (scalar loss, extra logs)
    every: int = 1  # run on steps where step % every == 0


class Model(nn.Module):
    """Base of every method. Subclasses set `name`, `paper`, build `self.nets` and define `phases` and `begin_step`."""

    name: ClassVar[str]
    paper: ClassVar[str]
    samplers: ClassVar[tuple[str, ...]] = ("prior",)  # the first is the default for sample and eval
    has_D: ClassVar[bool] = False  # has a data discriminator, so the tricks.* switches apply
    prior_trained: ClassVar[bool] = True  # training shapes G(z) for prior draws z (false: the ae's unregularized codes)
    args: ClassVar[dict[str, Any]] = {}  # model_args fields with their defaults (their types are checked)
    choices: ClassVar[dict[str, Collection[str]]] = {}  # model_args with a fixed set of values -> the valid ones
    positive: ClassVar[tuple[str, ...]] = ()  # numeric model_args that must be > 0 (a std; a weight a loss needs)
    nonnegative: ClassVar[tuple[str, ...]] = ()  # numeric model_args that must be >= 0 (weights; 0 = term off)

    def __init__(self, shape: tuple[int, ...], cfg: Config) -> None:
        super().__init__()
        self.shape = tuple(shape)  # one example as the model sees it: (D,) or (C, H, W)
        self.latent_dim = cfg.net.latent_dim
        self.cfg = cfg
        self.arg = self.check_args(cfg.model_args)
        self.nets = nn.ModuleDict()
        self.g_ema: nn.Module | None = None  # the generator's moving average (tricks.ema), used for sampling
        # φ of model_args.perceptual_net=features: a frozen network (n, C, H, W) -> (n, F) that the training loop
        # sets when `needs_feature_net`; held beside the model, not in it (see __setattr__): no checkpoint entry
        self.phi: nn.Module | None = None
        if self.arg.get("perceptual", 0.0) > 0 and len(self.shape) != 3:
            raise ConfigError(f"model_args.perceptual compares image features, but {cfg.model} trains on vectors "
                              f"of shape {self.shape}: leave model_args.perceptual at 0 on vector data")

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "phi":  # a plain attribute, not a submodule: not in state_dict(), parameters(), .to() or .train()
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @classmethod
    def check_args(cls, given: dict[str, Any]) -> dict[str, Any]:
        """model_args merged over the model's defaults. ConfigErrors: unknown keys, wrong types, a value outside
        `choices`, a number that is not finite, or outside `positive` / `nonnegative`."""
        merged = dict(cls.args)
        for key, value in given.items():
            if key not in cls.args:
                valid = ", ".join(f"model_args.{k}" for k in cls.args) or "none"
                raise ConfigError(f"model {cls.name} has no setting model_args.{key}: valid ones are {valid}")
            default = cls.args[key]
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not type(default):
                raise ConfigError(f"model_args.{key} expects a {type(default).__name__}, got {value!r}")
            merged[key] = value
        for key, valid in cls.choices.items():
            if merged[key] not in valid:
                raise ConfigError(f"model_args.{key} must be one of {', '.join(valid)}; got {merged[key]!r}")
        for key, value in merged.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"model_args.{key} must be a finite number (default {cls.args[key]!r}); "
                                  f"got {value!r}")
            if key in cls.positive and not value > 0:
                raise ConfigError(f"model_args.{key} must be > 0 (default {cls.args[key]!r}); got {value!r}")
            if key in cls.nonnegative and not value >= 0:
                raise ConfigError(f"model_args.{key} must be >= 0 (default {cls.args[key]!r}); got {value!r}")
        return merged

    def check_data(self, ds: Any) -> None:
        """Refuse data this model's settings cannot describe (a ConfigError), before anything is written.

        `ds` is the aegan.data.Dataset the run will train on (model scale: `ds.train`, `ds.kind`)."""

    @staticmethod
    def defaults(kind: str, channels: int = 1) -> dict[str, Any]:
        """Config values this model prefers for "vector" or "image" data (of `channels` channels), applied before the
        user's settings."""
        return {}

    # D's width as a fraction of net.width on stacked data (independent images as the channels of one example:
    # stacked-digits, stacked-fashion-mnist, where the 1,000-mode tables are counted), at whatever width the user
    # sets; 0 = D as wide as G. A net.d_width in the user's config file or overrides wins.
    stacked_d_ratio: float = 0.0

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def begin_step(self, x: torch.Tensor) -> SimpleNamespace:
        """Draw the step's random inputs and run the forward passes several phases use, once, with gradients."""
        raise NotImplementedError

    def prior(self, n: int, device: torch.device | str = "cpu",
              generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), (n, latent_dim); from `generator` if given (on its device), else the global RNG."""
        if generator is not None:
            return torch.randn(n, self.latent_dim, generator=generator).to(device)
        return torch.randn(n, self.latent_dim, device=device)

    @property
    def gaussian_prior(self) -> bool:
        """Whether `prior` is N(0, I), so that a temperature τ draws from N(0, τ² I) (Run.sample_model)."""
        return True

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """(n, latent_dim) -> (n, *shape) on the model's scale, by the generator's moving average if there is one."""
        return (self.g_ema if self.g_ema is not None else self.nets["G"])(z)

    @property
    def has_encoder(self) -> bool:
        return "E" in self.nets

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(n, *shape) -> codes (n, latent_dim); models with an encoder only."""
        return self.nets["E"](x)

    # --- networks and loss terms shared by every model with a data discriminator, with `tricks.*` applied ----

    def build_G(self, width: int, depth: int) -> nn.Module:
        """Generator z -> x; with tricks.virtual_batch_norm, normalised by a reference batch of codes drawn once.
        Built after E: a model with an encoder gets a decoder without batch norm on the codes (ConvDecoder)."""
        g = build_decoder(self.latent_dim, self.shape, width, depth, stem_norm=not self.has_encoder)
        t = self.cfg.tricks
        if t.virtual_batch_norm:
            from aegan.nets.vbn import VBNGenerator, convert_batchnorm_to_vbn, insert_vbn_after_hidden_linears

            if convert_batchnorm_to_vbn(g) == 0:
                insert_vbn_after_hidden_linears(g)
            z_ref = self.prior(t.virtual_batch_size, generator=torch.Generator().manual_seed(self.cfg.seed + 7919))
            g = VBNGenerator(g, z_ref)
        return g

    def d_depth(self, depth: int) -> int:
        """A discriminator's hidden layers on vectors: net.d_depth when set, else the networks' `depth`."""
        return self.cfg.net.d_depth or depth

    def build_C(self, width: int, depth: int) -> nn.Module:
        """Code discriminator z -> logit: an MLP of `depth` hidden layers of net.c_width units when set, else of
        max(width, 64), without batch norm (it judges prior codes and encoder codes in batches of their own)."""
        return MLP(self.latent_dim, 1, self.cfg.net.c_width or max(width, 64), depth)

    def d_width(self, width: int) -> int:
        """A discriminator's width: net.d_width when set, else the networks' `width` (net.d_width = width / 4 is
        the hard setting of the stacked-MNIST tables, Metz et al. 2017, arXiv:1611.02163, Table 2)."""
        return self.cfg.net.d_width or width

    def build_D(self, width: int, depth: int) -> nn.Module:
        """Data discriminator x -> logit, with minibatch discrimination, spectral norm and packing as configured;
        net.d_depth hidden layers on vectors and net.d_width when set, else `depth` and `width`."""
        t = self.cfg.tricks
        d = build_encoder(tricks.packed_shape(self.shape, t.pack) if t.pack > 1 else self.shape, 1,
                          self.d_width(width), self.d_depth(depth))
        if t.minibatch_discrimination:
            from aegan.nets.minibatch import with_minibatch_discrimination

            with_minibatch_discrimination(d, t.minibatch_kernels, t.minibatch_kernel_dim)
        if t.spectral_norm:
            tricks.apply_spectral_norm(d)
        return tricks.Pack(d, t.pack) if t.pack > 1 else d

    def d_loss(self, d_real: torch.Tensor, *d_fakes: torch.Tensor) -> torch.Tensor:
        """−log D(x) − Σ log(1 − D(fake)), with one-sided label smoothing of the real target if configured."""
        target = self.cfg.tricks.label_smoothing
        if target == 1.0:
            return losses.discriminator(d_real, *d_fakes)
        return tricks.smoothed_discriminator_loss(d_real, *d_fakes, real_target=target)

    def g_adversarial(self, x_fake: torch.Tensor, x_real: torch.Tensor, form: str = "nonsaturating") -> torch.Tensor:
        """G's adversarial loss for generated samples x_fake: −log D(x_fake) (or −logit), plus or replaced by
        feature matching ‖mean f(x) − mean f(x_fake)‖² on D's penultimate layer (Salimans 2016 §3.1)."""
        t, d = self.cfg.tricks, self.nets["D"]
        if t.feature_matching == 0:
            return losses.adversarial(d(x_fake), form)
        fm = t.feature_matching * tricks.feature_matching(d.features(x_real), d.features(x_fake))
        return fm if t.feature_matching_only else fm + losses.adversarial(d(x_fake), form)

    # --- the perceptual reconstruction term of ae, aegan, aae and alphagan (model_args.perceptual, perceptual_net) --

    @property
    def needs_feature_net(self) -> bool:
        """True when the loss uses the separate feature network (model_args.perceptual > 0 and perceptual_net =
        features): whoever trains the model sets `self.phi` first (aegan.train.fit does, from
        aegan.metrics.feature_net.feature_network; models sit below metrics and never import it)."""
        return self.arg.get("perceptual", 0.0) > 0 and self.arg.get("perceptual_net") == "features"

    def perceptual(self, s: SimpleNamespace) -> torch.Tensor | float:
        """W·mean‖φ(x) − φ(x̂)‖² (aegan.losses.perceptual) for the step's x = s.x and x̂ = s.x_rec; the float 0.0
        when W = model_args.perceptual = 0, so the loss is then the same to the bit as without the term.

        φ = D's penultimate layer (perceptual_net=D) or the frozen feature network `self.phi` (features). φ(x) is a
        target, computed without gradient; φ(x̂) passes gradients to x̂, hence to E and G, and never to φ's weights:
        the loop trains only the phase's own networks (D's weights are frozen outside D's phase), and the feature
        network is frozen for good. Computed once a step, at the first phase that asks, and kept in s for the later
        ones: every phase that asks runs after D's own phase, the only one that changes D.
        """
        w = self.arg.get("perceptual", 0.0)
        if w == 0:
            return 0.0
        if not hasattr(s, "perceptual"):
            phi = self.nets["D"].features if self.arg["perceptual_net"] == "D" else self.phi
            if phi is None:
                raise ConfigError("model_args.perceptual_net=features needs the feature network in model.phi: "
                                  "aegan.train sets it; set model.phi = aegan.metrics.feature_net.feature_network(ds)"
                                  " when you drive the phases yourself")
            with torch.no_grad():
                f_x = phi(s.x)  # φ(x): the target
            s.perceptual = losses.perceptual(f_x, phi(s.x_rec))  # mean ‖φ(x) − φ(x̂)‖²
        return w * s.perceptual

    @staticmethod
    def perceptual_logs(s: SimpleNamespace) -> Logs:
        """{"perceptual": mean ‖φ(x) − φ(x̂)‖²} once a phase of this step computed it, else nothing to log."""
        return {"perceptual": s.perceptual} if hasattr(s, "perceptual") else {}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


BERNOULLI_SLACK = 1e-5  # float rounding of data that lies exactly on ±1 (e.g. balanced binary vectors, standardized)


def check_bernoulli_data(ds: Any, setting: str, instead: str) -> None:
    """Refuse a Bernoulli likelihood (BCE) on data it would misread, as a ConfigError naming `instead`.

    aegan.losses.reconstruction(kind="bce") reads x on the model's scale as Bernoulli means (x + 1) / 2 and clamps
    them into [0, 1]: right for images (always in [−1, 1] there), wrong for any training value outside [−1, 1],
    e.g. standardized vectors, whose targets it would silently clip."""
    lo, hi = float(ds.train.min()), float(ds.train.max())
    if lo < -1 - BERNOULLI_SLACK or hi > 1 + BERNOULLI_SLACK:
        what = "standardized vectors" if ds.kind == "vector" else "values"
        raise ConfigError(f"{setting} reads the data as Bernoulli means (x + 1) / 2, so it needs values in [-1, 1] "
                          f"on the model's scale (images are), but {ds.name} holds {what} in [{lo:.3g}, {hi:.3g}]: "
                          f"use {instead}")


# Settings shared by the encoder models on vector data: the setting that covers every grid25 mode in about a
# minute of CPU (a 2-D code, a higher learning rate held for half the steps then cosine-decayed, since the
# reconstruction precision caps the high-quality fraction). No reconstruction weight here: each model's own vector
# preset states it, on the per-element mean (on 2-D data the mean is the per-example sum / 2, so λ = 60 on the mean
# is the λ = 30 on the summed L1 that the presets were measured with).
ENCODER_VECTOR_DEFAULTS: dict[str, Any] = {
    "steps": 5000,
    "net": {"latent_dim": 2},
    "optim": {"lr": 5e-4, "schedule": "cosine", "hold": 0.5, "final": 0.02},
}
# Settings shared by the encoder models on images: a 16-D code per image channel. Measured on fashion-mnist (4 min on
# one core, width 32): α-GAN through its prior fd 100 at latent 16 against 330–670 at latent 64, where a
# deterministic encoder cannot fill a 64-D Gaussian and the prior road fails; on stacked-fashion-mnist (three images
# as channels) 48 dimensions (README, Image presets); at Adam 8e-4 α-GAN's 24-D code was no better
# (aegan.models.alphagan).
CODE_DIMS_PER_CHANNEL = 16
# Adam's rate on images for the encoder models (the gan and the aae have their own, in their modules): four times
# DCGAN's 2e-4 (OptimConfig's default, which the gan keeps on vectors). On fashion-mnist at 10 minutes on one core,
# means of seeds 0-2 at 2e-4 -> 8e-4: alphagan through its code model fd 34.3 -> 19.9, recall 0.32 -> 0.53, through
# its prior 71.5 -> 32.1; at 1.6e-3 its code model 21.3, its prior 25.3. The aae's prior (seed 0) 131 -> 79, and
# every other encoder model better on the check classifier (README, The learning rate)
ENCODER_IMAGE_LR = 8e-4


def encoder_image_defaults(channels: int, lr: float = ENCODER_IMAGE_LR) -> dict[str, Any]:
    return {"optim": {"lr": lr}, "net": {"latent_dim": CODE_DIMS_PER_CHANNEL * channels}}


ENCODER_SAMPLERS = ("gmm", "gaussian", "codegan", "flow", "twostage", "diffusion", "dae", "prior")
# φ of the perceptual term (model_args.perceptual_net): D = the model's own discriminator's penultimate layer (models
# with a D only), features = the separate feature network trained on the data set (aegan.metrics.feature_net)
PERCEPTUAL_NETS = ("D", "features")
PERCEPTUAL_NETS_WITHOUT_D = ("features",)
