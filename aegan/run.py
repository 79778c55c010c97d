"""A trained run, loaded from its folder: the model, its config, and sampling in the data's own units.

    run = aegan.load("runs/x")
    x = run.sample(1000)          # torch.Tensor on CPU, in the data's units and layout
    z = run.encode(x); x_rec = run.decode(z)   # models with an encoder
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aegan import checkpoint
from aegan.config import Config, read_yaml
from aegan.data.base import Transform
from aegan.errors import AeganError, CheckpointError, ConfigError, DataError
from aegan.models import Model, build_model
from aegan.samplers.base import TEMPERED as TEMPERED_CODE_MODELS
from aegan.samplers.chains import CHAIN_SAMPLERS  # the chain samplers, for models with an encoder

MAX_FIT_CODES = 20_000  # training examples whose codes a code model is fitted to
PASS_CPU = 256  # examples per forward pass without gradients on the CPU (Run.pass_size)
TEMPERED = ("prior", *TEMPERED_CODE_MODELS)  # the samplers that take a temperature (Run.sample_model)


class Run:
    """A run folder with its model loaded from the newest good checkpoint."""

    def __init__(self, path: Path, config: Config, model: Model, info: dict[str, Any], step: int) -> None:
        self.path, self.config, self.model, self.info, self.step = Path(path), config, model, info, step
        self.transform = Transform.from_json(info["transform"])
        self._code_samplers: dict[str, Any] = {}
        self._fit_seconds: dict[str, float] = {}  # code models fitted by this process, for the selection record
        self._train_codes: torch.Tensor | None = None
        self._selection: Any = None  # aegan.samplers.Selection, once read or made
        self._data: Any = None

    def checkpoints(self) -> Iterator[int]:
        """Load each checkpoint of the run after step 0 into its networks (and the generator's moving average, where
        the run keeps one), oldest first, and yield its step. The run is then the run at that step: its code models,
        training codes and code-model selection are those of that checkpoint's encoder (fitted anew or read from its
        samplers/ folder), not of the one before. It stays at the last checkpoint visited (an intermediate one when
        the loop breaks early: `aegan.load` again for the newest); a corrupt checkpoint raises CheckpointError."""
        for record in checkpoint.list_checkpoints(self.path / "checkpoints"):
            tensors, meta = checkpoint.read(record)
            if int(meta["step"]) == 0:
                continue
            checkpoint.load_weights(dict(self.model.nets.items()), tensors)
            if self.model.g_ema is not None:
                checkpoint.load_weights({"G": self.model.g_ema}, tensors, prefix="ema.")
            self.step = int(meta["step"])
            self._code_samplers, self._fit_seconds, self._train_codes, self._selection = {}, {}, None, None
            yield self.step

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, model={self.config.model!r}, data={self.config.data!r}, step={self.step})"

    @classmethod
    def load(cls, path: str | Path, nets: dict[str, torch.nn.Module] | None = None) -> Run:
        """The run in `path`; `nets`: the user's own networks it was trained with (RUN/nets.json), given again."""
        path = Path(path)
        if not (path / "config.yaml").is_file():
            raise CheckpointError(f"{path} is not an aegan run folder (no config.yaml)")
        check_nets_record(path, nets)
        try:
            cfg = Config.from_dict(read_yaml(path / "config.yaml"))
        except ConfigError as e:
            raise CheckpointError(f"{path}/config.yaml was not written by this aegan: {e}") from None
        try:
            info = json.loads((path / "data.json").read_text())
            Transform.from_json(info["transform"])
            shape = tuple(int(d) for d in info["shape"])
            info["modes"] = read_modes(info.get("modes"), math.prod(shape))
        except (OSError, ValueError, KeyError, TypeError):
            raise CheckpointError(f"{path}/data.json is missing or corrupt: the run cannot be loaded") from None
        try:
            model = build_model(cfg, shape, nets)
        except ConfigError as e:
            raise CheckpointError(f"{path}: {e}") from None
        state = checkpoint.latest(path / "checkpoints")
        if state is None:
            raise CheckpointError(f"{path} has no checkpoint yet: train it (or --resume it) first")
        tensors, meta = state
        checkpoint.load_weights(dict(model.nets.items()), tensors)
        if model.g_ema is not None:
            checkpoint.load_weights({"G": model.g_ema}, tensors, prefix="ema.")
        model.eval()
        return cls(path, cfg, model, info, int(meta["step"]))

    @property
    def modes(self) -> tuple[torch.Tensor, float | torch.Tensor] | None:
        """(centres (K, D), std: a number, or one per coordinate) in data units, where the data's modes are known."""
        return self.info.get("modes")

    @property
    def default_sampler(self) -> str:
        """`prior` for models without an encoder; for encoder models the code model chosen by the rule of
        aegan.samplers.selection (fitted and chosen on first use, which training does at its end, then read from
        RUN/samplers/step_N/selection.json), or the model's first sampler (gmm) where no choice can be made."""
        if self.model.samplers[0] == "prior":
            return "prior"
        selection = self.code_model_selection()
        return selection.chosen if selection is not None else self.model.samplers[0]

    @property
    def samplers_folder(self) -> Path:
        return self.path / "samplers" / f"step_{self.step:07d}"  # code models belong to one checkpoint's encoder

    def _say(self, message: str) -> None:
        if self.config.progress:
            print(f"aegan: {message}", file=sys.stderr, flush=True)

    def data(self):
        """The run's data set, loaded once (needed to fit code samplers and to score reconstructions). A run trained
        on a Python object uses the reference sample it stored (RUN/data/, `write_reference`)."""
        if self._data is None:
            from aegan import data as data_lib
            from aegan.data.objects import is_object_name

            if is_object_name(self.config.data):
                self._data = read_reference(self.path, self.config.data, self.info)
            else:
                self._data = data_lib.load(self.config.data, self.config.loader)
        return self._data

    @property
    def pass_size(self) -> int:
        """Examples per forward pass when sampling or encoding without gradients: on the CPU 256 (10,000 stacked
        fashion-mnist codes decode in 0.7 s in passes of 256 against 2.0 s in one pass, whose activations miss every
        cache), elsewhere 10,000."""
        return PASS_CPU if self.model.device.type == "cpu" else 10_000

    @torch.no_grad()
    def encode_model(self, x: torch.Tensor) -> torch.Tensor:
        """Model-scale data (n, *shape) -> codes (n, latent_dim), on CPU, in passes of `pass_size`."""
        self.model.eval()
        return torch.cat([self.model.encode(part.to(self.model.device)).cpu() for part in x.split(self.pass_size)])

    @torch.no_grad()
    def decode_model(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (n, latent_dim) -> model-scale samples (n, *shape), on CPU, in passes of `pass_size`."""
        self.model.eval()
        return torch.cat([self.model.generate(part.to(self.model.device)).cpu() for part in z.split(self.pass_size)])

    def training_codes(self) -> torch.Tensor:
        """Codes (n, latent_dim) of up to 20,000 training examples, a random subset fixed by the run's seed: what
        every code model is fitted to."""
        if self._train_codes is None:
            self._train_codes = self.encode_model(self.data().train[self.training_indices()])
        return self._train_codes

    def training_indices(self) -> torch.Tensor:
        """The training examples whose codes `training_codes` holds, in its order."""
        n = len(self.data().train)
        return torch.randperm(n, generator=torch.Generator().manual_seed(self.config.seed))[:MAX_FIT_CODES]

    def code_sampler(self, name: str, refit: bool = False):
        """The code model `name` (aegan.samplers.SAMPLERS: gaussian, gmm, codegan, flow, twostage, diffusion) of
        this run: loaded from RUN/samplers/step_N/, or fitted on the encoder's codes of up to 20,000 training
        examples and stored there ("work on the code, not the data")."""
        from aegan.samplers import SAMPLERS, load_sampler, save_sampler
        from aegan.samplers import selection as selection_lib

        if name in self._code_samplers and not refit:
            return self._code_samplers[name]
        folder = self.samplers_folder
        sampler = None if refit else load_sampler(folder, name)
        if sampler is None:
            codes = self.training_codes()
            self._say(f"fitting code model {name} to {len(codes):,} codes of {codes.shape[1]} dimensions ...")
            start = time.perf_counter()
            kwargs = {"sigma": self.model.arg["dae_sigma"]} if name == "dae" and "dae_sigma" in self.model.arg else {}
            sampler = SAMPLERS[name](**kwargs).fit(codes, seed=self.config.seed, progress=self.config.progress)
            self._fit_seconds[name] = time.perf_counter() - start
            self._say(f"code model {name} fitted in {self._fit_seconds[name]:.1f} s")
            folder.mkdir(parents=True, exist_ok=True)
            save_sampler(sampler, folder)
            if refit:
                (folder / selection_lib.FILE).unlink(missing_ok=True)  # scored on the model it replaces
                self._selection = None
        self._code_samplers[name] = sampler
        return sampler

    def refit_code_models(self, also: str | None = None) -> None:
        """Fit this checkpoint's code models anew, replacing those stored in samplers/step_N/: the selection's
        candidates, chosen among again, and `also` where it names another code model of the run (after a change of
        aegan's defaults, say the gmm's components: a run keeps the code models it stored)."""
        if not self.model.has_encoder:
            raise AeganError(f"--refit fits a run's code models, and a {self.config.model} has none (no encoder)")
        if also is not None and also not in CHAIN_SAMPLERS:
            self.check_sampler(also)
        from aegan.samplers.selection import candidates

        if also not in (None, "prior", *CHAIN_SAMPLERS, *candidates(self.model.samplers, self.config.code_models)):
            self.code_sampler(also, refit=True)  # first: a refit drops the stored selection, made again below
        self.code_model_selection(refit=True)

    def stored_code_model_selection(self):
        """The selection of this checkpoint's default code model if one was made (aegan.samplers.Selection), else
        None; never fits anything."""
        from aegan.samplers import read_selection

        if self._selection is None:
            self._selection = read_selection(self.samplers_folder)
        return self._selection

    def code_model_selection(self, refit: bool = False):
        """The default code model of this checkpoint and every candidate's held-out scores
        (aegan.samplers.Selection): read from RUN/samplers/step_N/selection.json, or made now. Each candidate
        (aegan.samplers.CANDIDATES among the model's samplers, narrowed by the run's code_models or
        $AEGAN_CODE_MODELS) is loaded or
        fitted on training codes and scored on the codes of up to 5,000 held-out examples (the data's test split),
        and the record is written. None where the test split cannot be had: the caller falls back to the model's
        first sampler."""
        from aegan.samplers import select, write_selection
        from aegan.samplers.selection import MAX_HELD_OUT, MIN_HELD_OUT, candidates

        if not refit and self.stored_code_model_selection() is not None:
            return self._selection
        try:
            x_test = self.data().test
        except DataError as e:
            print(f"aegan: warning: {e}; the default code model stays {self.model.samplers[0]}", file=sys.stderr,
                  flush=True)
            return None
        if len(x_test) < MIN_HELD_OUT:
            return None
        names = candidates(self.model.samplers, self.config.code_models)
        if not names:
            return None
        from aegan.samplers.base import FitError

        samplers, failed = {}, {}
        for name in names:
            try:
                samplers[name] = self.code_sampler(name, refit=refit)
            except FitError as e:  # one candidate diverged on these codes: the others still compete
                failed[name] = str(e)
        if not samplers:
            raise AeganError(f"no code model could be fitted to these codes ({'; '.join(failed.values())})")
        idx = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(self.config.seed))[:MAX_HELD_OUT]
        held_out = self.encode_model(x_test[idx])
        self._say(f"scoring {len(names)} code models on {len(held_out):,} held-out codes ...")
        selection = select(samplers, held_out, self.training_codes(), seed=self.config.seed,
                           fit_seconds=self._fit_seconds, failed=failed)
        selection.extra = {"step": self.step, "n_fit": len(self.training_codes()), "held_out": "test split"}
        write_selection(self.samplers_folder, selection)
        self._say(f"default code model: {selection.chosen} (MMD² of its samples to held-out codes: " + ", ".join(
            f"{name} {row['mmd']:.4f}" if row.get("mmd") is not None else f"{name} -"
            for name, row in selection.candidates.items()) + ")")
        self._selection = selection
        return selection

    @torch.no_grad()
    def sample_model(self, n: int, sampler: str | None = None, seed: int | None = None,
                     batch: int = 10_000, label: int | None = None, cluster: int | None = None,
                     chain: Any = None, temperature: float = 1.0) -> torch.Tensor:
        """n samples on the model's scale, (n, *shape), on CPU. `sampler` defaults to `default_sampler`; the chain
        samplers ppgn and mala need `label` or `cluster` (and take `chain` settings): `chain_sample`.
        `temperature` τ scales the noise of the draws (TEMPERED: the prior N(0, τ² I), gaussian and gmm μ + τ L ε,
        flow's base noise); 1 draws from the model as fitted, the same codes as without it."""
        sampler = sampler or self.default_sampler
        self.check_temperature(temperature, sampler)
        if sampler in CHAIN_SAMPLERS:
            return self.chain_sample(n, sampler, label=label, cluster=cluster, seed=seed, settings=chain)[0]
        if label is not None or cluster is not None:
            raise AeganError(f"--label and --cluster condition the chain samplers ({', '.join(CHAIN_SAMPLERS)}), "
                             f"not {sampler}")
        self.check_sampler(sampler)
        if n < 1:
            raise AeganError(f"the number of samples must be at least 1, got {n}")
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        code_model = None if sampler == "prior" else self.code_sampler(sampler)
        self.model.eval()
        out = []
        for i in range(0, n, batch):  # codes drawn `batch` at a time (the draws a seed gives), decoded in passes
            k = min(batch, n - i)
            if code_model is None:
                z = temperature * self.model.prior(k, "cpu", generator=g)  # τ = 1.0 multiplies exactly
            else:  # only the TEMPERED code models take the argument
                z = code_model.sample(k, generator=g) if temperature == 1 else \
                    code_model.sample(k, generator=g, temperature=temperature)
            out.append(self.decode_model(z))
        return torch.cat(out)

    def sample(self, n: int, sampler: str | None = None, seed: int | None = None, label: int | None = None,
               cluster: int | None = None, chain: Any = None, temperature: float = 1.0) -> torch.Tensor:
        """n samples in the data's units and layout (CPU float32); `sampler` defaults to `default_sampler`;
        sampler="ppgn" or "mala" with `label=K` or `cluster=K` runs conditioned chains (`chain_sample`);
        `temperature` as in `sample_model`."""
        return self.transform.to_data(self.sample_model(n, sampler, seed, label=label, cluster=cluster, chain=chain,
                                                        temperature=temperature))

    def check_sampler(self, sampler: str) -> None:
        """AeganError unless `sampler` is one of the model's (the prior and its code models)."""
        if sampler not in self.model.samplers:
            raise AeganError(f"model {self.config.model} has no sampler {sampler!r}: use one of "
                             f"{', '.join(self.model.samplers)}")

    def check_temperature(self, temperature: float, sampler: str) -> None:
        """AeganError unless `temperature` is a finite number above 0 that `sampler` can take (TEMPERED; the prior
        only where it is N(0, I): not the aae's mog or uniform priors)."""
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not math.isfinite(temperature) or temperature <= 0:
            raise AeganError(f"--temperature must be a finite number above 0, got {temperature!r}")
        if temperature == 1:
            return
        if sampler == "prior" and not self.model.gaussian_prior:
            raise AeganError(f"--temperature scales a N(0, I) prior, and this {self.config.model}'s prior is "
                             f"{self.model.arg.get('prior')}: sample it at temperature 1, or use --sampler gmm")
        if sampler not in TEMPERED and sampler in (*self.model.samplers, *CHAIN_SAMPLERS):  # unknown: said later
            raise AeganError(f"--temperature scales the noise of {', '.join(TEMPERED)}; sampler {sampler} has none: "
                             f"leave --temperature out or use one of them")

    def condition_network(self):
        """The condition network p(y | x) of the run's data (aegan.metrics.evaluator ROLES["condition"]): loaded
        from its cache or trained once; never the evaluator that scores samples."""
        from aegan.metrics.evaluator import for_data

        ds = self.data()
        if ds.kind != "image" or ds.labels_train is None:
            raise AeganError(f"--label needs labelled image data, and {self.config.data} is "
                             f"{'unlabelled' if ds.kind == 'image' else 'vector data'}: condition on a cluster of "
                             f"the codes instead (--cluster K)")
        return for_data(ds, role="condition", log=self._say)

    def chain_sample(self, n: int, sampler: str = "ppgn", label: int | None = None, cluster: int | None = None,
                     seed: int | None = None, settings: Any = None):
        """n samples on the model's scale from chains in code space (aegan.samplers.chains), conditioned on class
        `label` (by the condition network) or on component `cluster` of the codes' GMM -> (samples (n, *shape),
        ChainResult). The chains start from draws of the GMM; the ppgn chain's prior term is the run's DAE
        (fitted on first use, noise model_args.dae_sigma or 0.3), mala's target density the GMM."""
        from aegan.samplers.base import Standardize
        from aegan.samplers.chains import ChainSettings, Target, run_chains

        if not self.model.has_encoder:
            raise AeganError(f"the {sampler} chain works in code space: model {self.config.model} has no encoder")
        if (label is None) == (cluster is None):
            raise AeganError(f"--sampler {sampler} needs one of --label K (a class) or --cluster K (a component of "
                             f"the codes' Gaussian mixture)")
        if n < 1:
            raise AeganError(f"the number of samples must be at least 1, got {n}")
        settings = settings if isinstance(settings, ChainSettings) else ChainSettings.parse(settings)
        gmm = self.code_sampler("gmm")
        if cluster is not None and not 0 <= cluster < len(gmm.weights):
            raise AeganError(f"--cluster must be a component of the codes' mixture, 0 to {len(gmm.weights) - 1}, "
                             f"got {cluster}")
        if label is not None:
            net = self.condition_network()
            if not 0 <= label < net.classes:
                raise AeganError(f"--label must be a class of {self.config.data}, 0 to {net.classes - 1}, got {label}")
        codes = self.training_codes()
        std = Standardize.fit(codes)
        units = std.to_unit(codes)
        device = self.model.device
        self.model.eval()
        G = self.model.g_ema if self.model.g_ema is not None else self.model.nets["G"]

        def log_density(u: torch.Tensor) -> torch.Tensor:
            return torch.logsumexp(gmm.log_joint(std.from_unit(u)), dim=1)

        if label is not None:
            def condition(u: torch.Tensor) -> torch.Tensor:
                return class_log_prob(net, G(std.from_unit(u).to(device)).cpu(), label)  # the net is on the CPU
        else:
            def condition(u: torch.Tensor) -> torch.Tensor:
                return gmm.log_joint(std.from_unit(u)).log_softmax(1)[:, cluster]

        residual = None
        if sampler == "ppgn":
            dae = self.code_sampler("dae")
            residual = dae.residual
        target = Target(condition=condition, lo=units.min(0).values, hi=units.max(0).values, log_density=log_density,
                        residual=residual)
        g = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        chains = settings.chains or n
        u0 = std.to_unit(gmm.sample(chains, generator=g))
        result = run_chains(sampler, u0, target, settings, n, generator=g)
        with torch.no_grad():
            x = torch.cat([self.model.generate(std.from_unit(b).to(device)).cpu() for b in result.samples.split(1000)])
            result.strip = self.model.generate(std.from_unit(result.strip.flatten(0, 1)).to(device)).cpu() \
                .reshape(*result.strip.shape[:2], *self.model.shape) if len(result.strip) else result.strip
        return x, result

    def save_chains(self, tag: str, result: Any, meta: dict[str, Any]) -> Path:
        """RUN/chains/<tag>.png (each kept chain's path, start -> stop, one row per chain) and <tag>.json (why and
        when each chain stopped, acceptance, settings): what the run's report shows. Returns the .png."""
        from aegan import plots

        folder = self.path / "chains"
        folder.mkdir(exist_ok=True)
        record = {**meta, **result.record(), "step": self.step}
        checkpoint.atomic_write_text(folder / f"{tag}.json", json.dumps(record, indent=1) + "\n")
        png = folder / f"{tag}.png"
        if self.info["kind"] == "image" and len(result.strip):
            strips = ((result.strip.flatten(0, 1).clamp(-1, 1) + 1) / 2).numpy()
            plots.image_grid_png(strips, png, nrow=result.strip.shape[1])
        return png

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (n, latent_dim) -> samples in data units."""
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.model.latent_dim:
            raise AeganError(f"decode expects codes of shape (n, {self.model.latent_dim}), got {tuple(z.shape)}")
        return self.transform.to_data(self.decode_model(z))

    @torch.no_grad()
    def encode(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Data (in data units and layout) -> codes (n, latent_dim), for models with an encoder."""
        if not self.model.has_encoder:
            from aegan.models import MODELS

            with_encoder = ", ".join(name for name, cls in MODELS.items() if "gmm" in cls.samplers)
            raise AeganError(f"model {self.config.model} has no encoder: use one of {with_encoder}")
        return self.encode_model(self.transform.to_model(x))


def class_log_prob(net: Any, x: torch.Tensor, label: int) -> torch.Tensor:
    """log p(y = label | x) (n,) by a classifier `net` (aegan.metrics.evaluator.Evaluator of any role), differentiable
    in x; on stacked data (per_channel k) the label is a class tuple c₀·K^{k−1} + … and the channels independent."""
    if not net.per_channel:
        return net.net.head(net.net.body(x)).log_softmax(1)[:, label]
    k, base = net.per_channel, net.info["classes"]
    digits = [(label // base ** (k - 1 - i)) % base for i in range(k)]
    return sum(net.net.head(net.net.body(x[:, i:i + 1])).log_softmax(1)[:, c] for i, c in enumerate(digits))


NETS_RECORD = "nets.json"


def write_nets_record(out: Path, nets: dict[str, torch.nn.Module]) -> None:
    """RUN/nets.json: which networks are the user's own ({name: "module.Class"}), so that loading asks for them."""
    record = {name: f"{type(net).__module__}.{type(net).__qualname__}" for name, net in sorted(nets.items())}
    checkpoint.atomic_write_text(out / NETS_RECORD, json.dumps(record) + "\n")


def read_modes(m: dict[str, Any] | None, dim: int) -> tuple[torch.Tensor, float | torch.Tensor] | None:
    """data.json's known modes as (centres (K, dim), std: a number or one per coordinate), checked
    (aegan.metrics.modes.mode_spread); None where there are none. ValueError, TypeError or KeyError if malformed."""
    if not m:
        return None
    from aegan.metrics.modes import mode_spread

    centres, std = torch.tensor(m["centres"], dtype=torch.float32), m["std"]
    std = float(std) if isinstance(std, (int, float)) else torch.tensor(std, dtype=torch.float32)
    if centres.ndim != 2 or centres.shape[1] != dim or not bool(torch.isfinite(centres).all()):
        raise ValueError(f"mode centres must be (K, {dim}) and finite")
    sigma, _ = mode_spread(std, dim)
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError("a mode's std must be positive")
    return centres, std


def check_nets_record(path: Path, nets: dict[str, torch.nn.Module] | None) -> None:
    """CheckpointError unless `nets` names exactly the networks RUN/nets.json lists (none if there is none)."""
    record_path = Path(path) / NETS_RECORD
    try:
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    except (OSError, ValueError):
        raise CheckpointError(f"{record_path} is corrupt: it should name the run's own networks") from None
    given = sorted(nets or {})
    if sorted(record) != given:
        if not record:
            raise CheckpointError(f"{path} was trained with aegan's own networks: load it without nets=")
        wanted = ", ".join(f"{k} ({v})" for k, v in sorted(record.items()))
        raise CheckpointError(f"{path} was trained with your own {wanted}: give "
                              f"nets={{{', '.join(repr(k) + ': ...' for k in sorted(record))}}} (the same modules; "
                              f"the weights come from the checkpoint)" + (f", not {given}" if given else ""))


MAX_REFERENCE = 10_000  # training examples a run trained on a Python object keeps, beside its held-out split
REFERENCE = "reference"


def data_to_resume(run_dir: Path, cfg: Config, data: Any = None):
    """The data `run_dir` trained on, loaded again as it was (`cfg.loader`): by name, or the Python object `data`,
    checked against data.json (its SHA-256 for an object, its shape for a name or path) -> aegan.data.Dataset."""
    from aegan import data as data_lib
    from aegan.data.objects import PREFIX, is_object_name

    stored = json.loads((run_dir / "data.json").read_text()) if (run_dir / "data.json").is_file() else None
    if data is not None and not is_object_name(cfg.data):
        raise DataError(f"{run_dir} was trained on {cfg.data}, which it reloads itself: resume it without data=")
    ds = data_lib.load(cfg.data if data is None else data, cfg.loader)
    if ds.digest is not None and ds.digest != (stored or {}).get("digest"):
        raise DataError(f"this is not the data {run_dir} was trained on ({cfg.data[len(PREFIX):]}; its SHA-256 "
                        f"differs): resume with the same object")
    if stored is not None and list(stored.get("shape", [])) != list(ds.shape):
        raise CheckpointError(f"data {cfg.data} now has shape {list(ds.shape)}, but {run_dir} was trained on "
                              f"{stored.get('shape')}: restore the original data to resume")
    return ds


def write_reference(out: Path, ds: Any, seed: int) -> None:
    """Keep what sampling-free work needs of data handed over as a Python object, which the run cannot reload: the
    held-out split and up to 10,000 training examples (a random subset fixed by `seed`), with their labels, in
    RUN/data/reference.safetensors + .json. uint8 images are stored as uint8 (what they were), everything else on
    the model's scale as float32; reading gives back the model-scale tensors bit for bit."""
    from aegan.records import write_record

    idx = torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(seed))[:MAX_REFERENCE].sort().values
    as_uint8 = ds.transform.kind == "image" and ds.transform.dtype == "uint8"

    def stored(x: torch.Tensor) -> torch.Tensor:
        return ((x + 1.0) / 2.0 * 255.0).round().to(torch.uint8) if as_uint8 else x.contiguous()

    tensors = {"train": stored(ds.train[idx]), "test": stored(ds.test)}
    if ds.labels_train is not None:
        tensors |= {"labels_train": ds.labels_train[idx].contiguous(), "labels_test": ds.labels_test.contiguous()}
    meta = {"name": ds.name, "n_train": len(ds.train), "uint8": as_uint8, "digest": ds.digest}
    write_record(out / "data", REFERENCE, tensors, meta, format="aegan-reference", version=1)


def read_reference(path: Path, name: str, info: dict[str, Any]):
    """The Dataset `write_reference` kept in `path` (its train split: the stored subset)."""
    from aegan.data.base import Dataset
    from aegan.data.objects import PREFIX
    from aegan.records import read_record

    fix = "train the run again from Python with the data object"
    stored = read_record(path / "data", REFERENCE, format="aegan-reference", version=1, what="data reference",
                         fix=fix)
    if stored is None:
        raise DataError(f"{path} was trained on {name.removeprefix(PREFIX)}, a Python object, and keeps no reference "
                        f"sample of it (RUN/data/reference.json): {fix}")
    tensors, meta = stored
    shape = tuple(info["shape"])
    if tuple(tensors["train"].shape[1:]) != shape or tuple(tensors["test"].shape[1:]) != shape:
        raise CheckpointError(f"{path}/data/reference.safetensors does not hold examples of shape {shape}: {fix}")

    def model_scale(x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float32).div_(255.0).mul_(2.0).sub_(1.0) if meta.get("uint8") else x

    return Dataset(name=name, kind=info["kind"], train=model_scale(tensors["train"]),
                   test=model_scale(tensors["test"]), transform=Transform.from_json(info["transform"]),
                   labels_train=tensors.get("labels_train"), labels_test=tensors.get("labels_test"),
                   modes=None, digest=meta.get("digest"))


def load(path: str | Path, nets: dict[str, torch.nn.Module] | None = None) -> Run:
    """Load a run folder (DESIGN §4b); `nets`: the user's own networks it was trained with."""
    return Run.load(path, nets)
