"""The evaluator network: image metrics computed offline, in features of a network trained on the data set itself.

FID and the Inception score use an ImageNet network fetched at run time; aegan cannot download, and ImageNet
features say little about 28×28 clothes anyway. So, as DESIGN §3 asks, each image data set gets its own small
evaluator, trained once and cached under a fingerprint of the data:
- with labels: a convolutional classifier. Its penultimate layer (128 features) serves FD, KID, PRDC and the
  birthday test; its class probabilities serve the classifier score (the Inception-score formula) and mode
  counting. Its held-out test accuracy is stored with it and printed by `aegan eval`.
- without labels: a convolutional autoencoder whose 128-D code serves the feature metrics (no score, no modes).
- stacked data (`stacked-*`, 3 images as channels): the base data set's classifier applied to each channel; the
  features are the three channels' features side by side and the classes are the 1,000 class triples.

Cache: `$AEGAN_CACHE/evaluators/<fingerprint>/` (default `~/.cache/aegan`), safetensors + JSON via aegan.records.
The fingerprint hashes the training images and labels (on the model's scale) and the evaluator's version, so a
changed data set or a changed recipe trains a new evaluator instead of reusing a stale one. Processes that share
the cache (parallel test workers, several `aegan eval` at once) take a file lock (`<fingerprint>/train.lock`)
around "read the cache, else train and write": one trains, the others wait for it and then read its evaluator.

Roles. The same recipe, with its own architecture variant, seed and cache folder, makes the other networks that
judge images (DESIGN §1, "three networks that judge images, kept apart"): `ROLES`. "evaluator" only scores;
"features" is the feature network of perceptual reconstruction losses (aegan.metrics.feature_net), 5×5 kernels,
narrower, another seed, cached in `$AEGAN_CACHE/features/<fingerprint>/`; "check" is a second judge for ranking
checks (`aegan eval --check`, the images benchmark: fd_check), 7×7 kernels, average pooling, 64 features, another
seed, cached in `$AEGAN_CACHE/checks/<fingerprint>/`: no method trains against it, so a ranking that holds in both
the evaluator's and the check classifier's features is not an artefact of one network; "condition" is the class
network p(y | x) of PPGN's chains (3×3 kernels, 24 → 48 → 96 channels, average pooling, 64 features, seed 3), cached
in `$AEGAN_CACHE/conditions/<fingerprint>/`: the chains climb its class probability, so a class hit is judged by
the check classifier, which the chains never saw. A model trained against the
evaluator's own features would optimise the score instead of the samples; a network of another role cannot be the
evaluator.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from filelock import FileLock, Timeout
from torch import nn

from aegan.data.base import Dataset
from aegan.data.stream import cache_root
from aegan.errors import AeganError, CheckpointError, DataError
from aegan.records import read_record, write_record

VERSION = 1
FORMAT = "aegan-evaluator"
FEATURES = 128  # width of the evaluator's feature layer
BATCH = 128
LR = 1e-3
# images per forward pass when embedding, in channels-last memory: at one thread, 10,000 fashion-mnist images take
# 1.0 s against 2.1 s in the default layout (max pooling is four times faster in channels-last) and 4.4 s in
# passes of 2,048, whose activations (200 MB a layer) miss every cache and are mapped afresh each time
EMBED_BATCH = 128
REMEMBERED = 4  # reference feature sets kept per process (Evaluator.features(x, remember=True))
MAX_SHIFT = 0  # random translation of the classifier's training batches, in pixels; 0 = no augmentation


@dataclass(frozen=True)
class Role:
    """What sets one role's network apart from the others' (DESIGN §1): architecture, seed and cache folder."""

    title: str  # what messages call it
    folder: str  # its cache folder under cache_root()
    format: str  # its record format, also hashed into its fingerprint
    kernel: int  # conv kernel size (odd; "same" padding)
    width: int  # channels of the first conv block, doubled per block up to 4·width
    features: int  # width of the feature layer
    seed: int  # training seed: weights and batch order
    pool: str = "max"  # how each block halves the side: max | avg


ROLES: dict[str, Role] = {
    "evaluator": Role("evaluator", "evaluators", FORMAT, kernel=3, width=32, features=FEATURES, seed=0),
    "features": Role("feature network", "features", "aegan-features", kernel=5, width=24, features=96, seed=1),
    "check": Role("check classifier", "checks", "aegan-check", kernel=7, width=16, features=64, seed=2, pool="avg"),
    # p(y | x) that PPGN's chains climb (aegan.samplers.chains): a judge the samples are then NOT scored by
    "condition": Role("condition network", "conditions", "aegan-condition", kernel=3, width=24, features=64, seed=3,
                      pool="avg"),
}


class EvaluatorNet(nn.Module):
    """conv(k×k)-batchnorm-ReLU-maxpool blocks until the side is at most 7, then a feature layer (128 units for the
    evaluator: 3×3 kernels, 32 → 64 → 128 channels); a linear head gives class logits (classifier) or, through a
    small MLP, the image back (autoencoder). `role` picks the variant (ROLES)."""

    def __init__(self, channels: int, side: int, outputs: int, kind: str, role: str = "evaluator") -> None:
        super().__init__()
        r = ROLES[role]
        layers: list[nn.Module] = []
        width, c = r.width, channels
        while True:
            layers += [nn.Conv2d(c, width, r.kernel, padding=r.kernel // 2, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(), nn.MaxPool2d(2) if r.pool == "max" else nn.AvgPool2d(2)]
            c, side = width, side // 2
            width = min(2 * width, 4 * r.width)
            if side <= 7:
                break
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * side * side, r.features), nn.ReLU())
        self.kind = kind
        self.head = (nn.Linear(r.features, outputs) if kind == "classifier" else
                     nn.Sequential(nn.Linear(r.features, 512), nn.ReLU(), nn.Linear(512, outputs), nn.Tanh()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Embedding(NamedTuple):
    features: torch.Tensor  # (N, F)
    probs: torch.Tensor | None  # (N, classes); None without labels
    predicted: torch.Tensor | None  # (N,) int64


class Evaluator:
    """A trained EvaluatorNet and what it was trained on. Inputs are images on the model's scale ([-1, 1], NCHW)."""

    def __init__(self, net: EvaluatorNet, info: dict[str, Any], per_channel: int = 0) -> None:
        self.net = net.eval().to(memory_format=torch.channels_last)  # the weights' layout only: EMBED_BATCH
        self.info = info
        self.per_channel = per_channel  # k > 0: apply to each of k channels (stacked data)
        self._weights: str | None = None

    @property
    def kind(self) -> str:
        return self.info["kind"]

    @property
    def classes(self) -> int:
        """Number of modes the evaluator tells apart: its classes, or their k-tuples on stacked data."""
        k = self.info.get("classes", 0)
        return k ** self.per_channel if self.per_channel else k

    def describe(self) -> str:
        return describe(self.info)

    def _channels(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not self.per_channel:
            return [x]
        if x.shape[1] != self.per_channel:
            raise DataError(f"stacked evaluator expects {self.per_channel} channels, got {x.shape[1]}")
        return [x[:, i:i + 1] for i in range(self.per_channel)]

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> Embedding:
        """Features, class probabilities and predictions of images x (N, C, H, W), in one pass of the network.

        Stacked data: the channels' features side by side (N, 128·k); probabilities of the class tuples under
        independent channels (N, K^k), index c₀·K^{k−1} + … + c_{k−1} as in the stacked data's labels; the
        prediction is the tuple of the channels' argmaxes."""
        feats, probs, pred = [], None, None
        for c in self._channels(x):
            f = torch.cat([self.net.body(b.float().contiguous(memory_format=torch.channels_last))
                           for b in c.split(EMBED_BATCH)])
            feats.append(f)
            if self.kind == "classifier":
                p = self.net.head(f).softmax(1)
                probs = p if probs is None else (probs[:, :, None] * p[:, None, :]).flatten(1)
                label = p.argmax(1)
                pred = label if pred is None else pred * self.info["classes"] + label
        return Embedding(torch.cat(feats, dim=1), probs, pred)

    def features(self, x: torch.Tensor, remember: bool = False) -> torch.Tensor:
        """(N, 128) features, or (N, 128·k) for stacked data. `remember`: x is a reference set that later calls
        embed again (the real images every score of a data set is compared with, its held-out images): its
        features are kept in this process, keyed by the network's weights and x's contents, and reused."""
        if not remember:
            return self.embed(x).features
        key = (self.weights_digest(), self.per_channel, digest(x))
        if key in _REMEMBERED:
            _REMEMBERED.move_to_end(key)
        else:
            _REMEMBERED[key] = self.embed(x).features
            while len(_REMEMBERED) > REMEMBERED:
                _REMEMBERED.popitem(last=False)
        return _REMEMBERED[key].clone()  # callers may change what they are given

    def weights_digest(self) -> str:
        if self._weights is None:
            self._weights = digest(*self.net.state_dict().values())
        return self._weights

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """(N, classes) class probabilities (of class tuples on stacked data)."""
        probs = self.embed(x).probs
        if probs is None:
            raise DataError("this data set has no labels: its evaluator gives features but no class probabilities")
        return probs

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) predicted class (class-tuple index on stacked data)."""
        pred = self.embed(x).predicted
        if pred is None:
            raise DataError("this data set has no labels: its evaluator cannot count modes")
        return pred


_REMEMBERED: OrderedDict[tuple[str, int, str], torch.Tensor] = OrderedDict()


def digest(*tensors: torch.Tensor) -> str:
    """BLAKE2b of tensors' shapes, dtypes and bytes: the same digest means the same contents (0.1 s for 100 MB)."""
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        h.update(f"{tuple(t.shape)} {t.dtype};".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def describe(info: dict[str, Any]) -> str:
    """One line on a trained network of any role: what it is and how well it does on held-out data."""
    title = ROLES[info.get("role", "evaluator")].title
    if info["kind"] == "classifier":
        return f"{title}: classifier, held-out accuracy {info['accuracy']:.1%}"
    return f"{title}: autoencoder (no labels), held-out reconstruction MSE {info['recon_mse']:.4f}"


def fingerprint(ds: Dataset, role: str = "evaluator") -> str:
    """SHA-256 (first 16 hex digits) of the training images, their labels, the role and the recipe's version."""
    h = hashlib.sha256(f"{ROLES[role].format} {VERSION} {tuple(ds.train.shape)}".encode())
    h.update(ds.train.detach().cpu().float().contiguous().numpy().tobytes())
    if ds.labels_train is not None:
        h.update(ds.labels_train.cpu().numpy().astype("int64").tobytes())
    return h.hexdigest()[:16]


def for_data(ds: Dataset, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
             role: str = "evaluator") -> Evaluator:
    """The evaluator of an image data set (or the network of another `role`, as an Evaluator): loaded from the
    cache, or trained now and cached."""
    base = getattr(ds, "base", None)
    if base is not None:  # stacked: the base data set's classifier, channel by channel
        inner = for_data(base, log, role)
        return Evaluator(inner.net, inner.info, per_channel=ds.shape[0])
    net, info = network_for(ds, role, log)
    return Evaluator(net, info)


def network_for(ds: Dataset, role: str,
                log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)
                ) -> tuple[EvaluatorNet, dict[str, Any]]:
    """The `role` network (ROLES) of an image data set and its info: loaded from the role's cache folder, or
    trained now (its own architecture and seed) and cached there, under the file lock."""
    if ds.kind != "image":
        raise DataError(f"{ds.name} is vector data: image metrics need image data")
    r = ROLES[role]
    folder = cache_root() / r.folder / fingerprint(ds, role)
    kind = "classifier" if ds.labels_train is not None else "autoencoder"
    loaded = _load(ds, folder, kind, role)  # the usual case, without a lock: records are written atomically
    if loaded is not None:
        return loaded
    try:  # before training, so that no work is lost to an unwritable cache
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AeganError(f"cannot create the {r.title} cache {folder} ({e.strerror or e}): set AEGAN_CACHE to a "
                         f"writable folder") from None
    lock = _lock(folder, log, f"the {kind} {r.title} of {ds.name}", r.title)
    try:
        loaded = _load(ds, folder, kind, role)  # trained by the process we waited for
        if loaded is not None:
            return loaded
        log(f"aegan: training the {kind} {r.title} of {ds.name} once (cached in {folder}) ...")
        # the evaluator's call as it always was (tests replace train_evaluator by a two-argument stand-in)
        net, info = train_evaluator(ds, kind) if role == "evaluator" else train_evaluator(ds, kind, role=role)
        write_record(folder, kind, net.state_dict(), info, format=r.format, version=VERSION)
    finally:
        lock.release()
    log(f"aegan: {describe(info)} ({info['train_s']:.0f} s)")
    return net, info


def _lock(folder: Path, log: Callable[[str], None], what: str, title: str = "evaluator") -> FileLock:
    """folder/train.lock, acquired: at once, or after the process that holds it (training `what`) is done."""
    lock = FileLock(folder / "train.lock")
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log(f"aegan: another process is making {what}: waiting for it (lock {lock.lock_file}) ...")
            lock.acquire()
    except OSError as e:  # a read-only cache without the evaluator, say
        raise AeganError(f"cannot lock the {title} cache {folder} ({e.strerror or e}): set AEGAN_CACHE to a "
                         f"writable folder") from None
    return lock


def _load(ds: Dataset, folder: Path, kind: str, role: str = "evaluator") -> tuple[EvaluatorNet, dict[str, Any]] | None:
    """The `role` network stored in `folder` and its info, or None when there is none yet."""
    r, fix = ROLES[role], f"delete {folder} to train it again"
    stored = read_record(folder, kind, format=r.format, version=VERSION, what=r.title, fix=fix)
    if stored is None:
        return None
    tensors, info = stored
    try:
        net = _new_net(ds, info)
        net.load_state_dict(tensors)
    except (KeyError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"stored {r.title} {folder} does not fit {ds.name} ({type(e).__name__}): "
                              f"{fix}") from None
    return net.eval(), info


def _new_net(ds: Dataset, info: dict[str, Any]) -> EvaluatorNet:
    c, h, w = ds.shape
    outputs = info["classes"] if info["kind"] == "classifier" else c * h * w
    return EvaluatorNet(c, min(h, w), outputs, info["kind"], info.get("role", "evaluator"))


def train_evaluator(ds: Dataset, kind: str, seed: int | None = None,
                    role: str = "evaluator") -> tuple[EvaluatorNet, dict[str, Any]]:
    """Adam (lr 1e-3, cosine-decayed) on mini-batches of 128 for max(3 epochs, 2,000 steps), at most 6,000 steps.
    Classifier: cross-entropy on the training images as they are, without augmentation (MAX_SHIFT = 0; `_shift`
    would translate each batch by up to MAX_SHIFT pixels). Autoencoder: mean squared error.
    `role` picks the architecture variant; `seed` defaults to the role's own (the evaluator's is 0)."""
    t0 = time.perf_counter()
    seed = ROLES[role].seed if seed is None else seed
    torch.manual_seed(seed)
    x, y = ds.train, ds.labels_train
    info: dict[str, Any] = {"kind": kind, "data": ds.name, "n_train": len(x), "shape": list(ds.shape)}
    if role != "evaluator":  # the evaluator's info stays as it was, so that cached evaluators still match it
        info["role"] = role
    if kind == "classifier":
        assert y is not None
        info["classes"] = int(y.max()) + 1
    net = _new_net(ds, info)
    steps = min(max(3 * math.ceil(len(x) / BATCH), 2000), 6000)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (min(BATCH, len(x)),), generator=g)
        xb = x[idx].float()
        if kind == "classifier":
            loss = F.cross_entropy(net(_shift(xb, g, MAX_SHIFT)), y[idx])  # type: ignore[index]
        else:
            loss = F.mse_loss(net(xb), xb.flatten(1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    info["steps"] = steps
    with torch.no_grad():
        if kind == "classifier":
            assert ds.labels_test is not None
            pred = torch.cat([net(ds.test[i:i + 2048].float()).argmax(1) for i in range(0, len(ds.test), 2048)])
            info["accuracy"] = float((pred == ds.labels_test).float().mean())
        else:
            info["recon_mse"] = float(torch.cat([F.mse_loss(net(b), b.flatten(1), reduction="none").mean(1)
                                                 for b in ds.test.float().split(2048)]).mean())
    info["train_s"] = round(time.perf_counter() - t0, 1)
    return net, info


def _shift(x: torch.Tensor, g: torch.Generator, max_shift: int) -> torch.Tensor:
    """The batch translated by one random (dy, dx) in [-max_shift, max_shift]², padded with the background (-1)."""
    if max_shift == 0:
        return x
    dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    p = max_shift
    padded = F.pad(x, (p, p, p, p), value=-1.0)
    h, w = x.shape[-2:]
    return padded[..., p + dy:p + dy + h, p + dx:p + dx + w]
