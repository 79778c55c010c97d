"""Peer benchmark: pythae's VAE and Adversarial_AE on fashion-mnist at a wall-time budget, scored by aegan's evaluator.

    .venv/bin/python benchmarks/peer_pythae.py --minutes 5            # both models, 5 min of training each, n 10,000
    .venv/bin/python benchmarks/peer_pythae.py --models vae --minutes 2
    .venv/bin/python benchmarks/peer_pythae.py --quick                # smoke test: 500 images, 2 s per model, n 200
    .venv/bin/python benchmarks/peer_pythae.py --setup                # only create / check .venv-pythae
    .venv/bin/python benchmarks/peer_pythae.py --race --minutes 3     # reconstruction error at every epoch end

The peer of DESIGN §9 (Chadebec, Vincent & Allassonnière, "Pythae: Unifying Generative Autoencoders in Python",
NeurIPS 2022, arXiv:2206.08309), version 0.1.2, run as its users run it: its models `VAE` and `Adversarial_AE` with
their default configurations (MLP encoder, decoder and code discriminator; MSE reconstruction; Adam, lr 1e-4,
batch 64; `BaseTrainer` and `AdversarialTrainer`) except `latent_dim = 16`, trained for `--minutes` each on the
60,000 training images in [0, 1]. Each model is then sampled through its prior (`NormalSampler`) and through a
10-component full-covariance mixture fitted to the codes of the training images (`GaussianMixtureSampler`, its
default), `--n` images per sampler, and every sample file is scored by aegan's own evaluator, the same command a user
runs on any generator: `.venv/bin/aegan eval --samples FILE.npy --data fashion-mnist --json --check`.

How it runs. pythae is not a dependency of aegan: it lives in its own virtual environment `.venv-pythae` in the
checkout, made on first use (`python -m venv` with this interpreter's base Python, then `pip install torch==2.13.0`
first, the CPU build from this machine's disk, DESIGN §8, then `pip install pythae==0.1.2 torch==2.13.0`, naming torch
again so that pip keeps that build; 57 s and 1.2 GB here). The script re-executes itself inside that
environment (`.venv-pythae/bin/python peer_pythae.py --worker DIR`) to train and sample; the worker reads the idx
files itself, where aegan finds them ($AEGAN_DATA, $AEGAN_DATA/fashion-mnist, then /usr/share/datasets/fashion-mnist),
and imports nothing of aegan. The parent then scores the worker's files with aegan's CLI from the main .venv.

The budget. pythae 0.1.2 trains for a fixed number of epochs and its callbacks cannot stop a run, so the worker sets
`num_epochs` out of reach and a callback watches the clock: at each epoch end, after pythae's own per-epoch work
(`model.update()`, keeping the best model on the train loss, as pythae does without an eval set), it stops training, by
raising an exception caught by the worker, when one more epoch as long as the last would end past the budget. This
measures the budget inside the one real run (no separate calibration epoch; a machine that slows down shortens the run
instead of overrunning it), and stops only at epoch ends, where pythae's state is what its loop would leave. The clock
runs from pythae's `on_train_begin` (after the trainer's set-up and sanity check) to that epoch end: nothing but
training, though the first optimizer steps' one-time costs count (about 0.5 s here). So runs end within an epoch before
`--minutes` (past it only when an epoch is slower than the one before, or when the first, which always runs, is longer
than the budget). No eval set is given (evaluating every epoch would spend the budget on something else); the model used
afterwards is the trainer's best on the train loss, as pythae returns it. Skipped by the early stop: only the final save
of the model to disk. Progress bars are switched off (TQDM_DISABLE=1) and pythae's INFO logging is raised to WARNING.

The evaluator is never trained here: the scores use aegan's fashion-mnist evaluator cached in $AEGAN_CACHE (default:
the checkout's .cache/, as the tests use it). Without one the script stops with exit 2 before training anything, and
if `aegan eval` starts training one anyway (its fingerprint changed) the script stops it and exits 2; pass
`--train-evaluator` to let it train (about 80 s on 2 cores). Samples are written as uint8 0..255 (N, 1, 28, 28),
fashion-mnist's own units, as `aegan sample` writes them: `aegan eval` reads any dtype in the data's units, so float
images in [0, 1] would be read as almost black.

The race (`--race`, what `aegan bench speed` runs for its vae and aae on fashion-mnist, aegan.bench.speed): no
samples and no evaluator; at every epoch end the worker scores the model as it is then on the held-out images
(`recon_error_test`'s scale, 4 × the MSE in [0, 1]) with the budget's clock paused, and `models[m]["curve"]` lists
[train_s, epochs, recon_error_test] per epoch. The JSON goes to stdout (and to
benchmarks/results/peer_pythae_race-<date>.json unless --no-save).

One JSON object goes to stdout and to benchmarks/results/peer_pythae-<YYYYmmdd-HHMMSS>.json (not with --quick unless
--results is given). `rows` holds one entry per model and sampler:

| field | meaning |
|---|---|
| `model` | `vae` (pythae's `VAE`) or `aae` (`Adversarial_AE`) |
| `sampler` | `prior` (`NormalSampler`) or `gmm` (`GaussianMixtureSampler`, fitted to the training codes) |
| `fd`, `kid`, `precision`, `recall`, `density`, `coverage` | `aegan eval`'s, in the evaluator's features |
| `classifier_score`, `kl_modes`, `modes_covered`, `modes_total` | `aegan eval`'s, from its evaluator's classes |
| `train_s`, `epochs`, `steps` | training seconds by the budget's clock, epochs and optimizer steps run |
| `best_epoch` | the epoch of the model sampled and scored (pythae's best on the train loss) |
| `recon_mse_01` | held-out reconstruction error: MSE per pixel of test images in [0, 1], codes = the encoder's mean |
| `recon_error_test` | the same on aegan's model scale [-1, 1] (4 × `recon_mse_01`), as aegan's eval.json key |
| `eval` | everything `aegan eval --check` returned for that file, `fd_check` (the check classifier's FD) included |

and `models` the worker's record per model (pythae configs, `budget_s`, `gmm_fit_s`, `sample_s`, `n_train`, `n_test`,
`other_processes_cores` during its training), with `pythae`, `torch`, `threads`, `minutes`, `n`, `seed`, `quick`,
`evaluator` (the cached evaluator's folder), `eval_s`, `wall_s`, `load_average`, `machine` (aegan.bench.machine's)
and `date`. Exit 2 (one line on stderr) when fashion-mnist, the evaluator, aegan's
CLI or the set-up is missing or fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
VENV = ROOT / ".venv-pythae"
VENV_PY = VENV / "bin" / "python"
AEGAN = ROOT / ".venv" / "bin" / "aegan"
TORCH, PYTHAE = "2.13.0", "0.1.2"
MODELS = {"vae": "VAE", "aae": "Adversarial_AE"}  # our name -> pythae's
SAMPLERS = {"prior": "NormalSampler", "gmm": "GaussianMixtureSampler"}
LATENT = 16
SCORES = ("fd", "kid", "precision", "recall", "density", "coverage", "classifier_score", "kl_modes", "modes_covered",
          "modes_total")
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # as aegan.data.images
TRAIN_IMAGES, TEST_IMAGES = "train-images-idx3-ubyte", "t10k-images-idx3-ubyte"
EVALUATOR_TRAINING = "aegan: training the"  # what aegan.metrics.evaluator logs before it trains a network
QUICK = {"minutes": 2 / 60, "n": 200, "train_images": 500, "test_images": 500}
CHECK = ("import json, importlib.metadata as m, torch, pythae.models, pythae.samplers, pythae.trainers; "
         "print(json.dumps({'torch': torch.__version__, 'pythae': m.version('pythae')}))")


def log(*args: Any) -> None:
    print("peer_pythae:", *args, file=sys.stderr, flush=True)


class Stop(Exception):
    """Exit with code 2 after one line on stderr: something the user must set up is missing."""


# --- the pythae environment ------------------------------------------------------------------------


def venv_versions() -> dict[str, str] | None:
    """{"torch", "pythae"} versions importable in .venv-pythae, or None."""
    if not VENV_PY.exists():
        return None
    r = subprocess.run([str(VENV_PY), "-c", CHECK], capture_output=True, text=True)
    if r.returncode:
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def ensure_venv() -> dict[str, str]:
    """.venv-pythae with torch 2.13.0 (the CPU build on this machine's disk) and pythae 0.1.2, made if needed."""
    found = venv_versions()
    if found and found["torch"].split("+")[0] == TORCH and found["pythae"] == PYTHAE:
        return found
    t0 = time.perf_counter()
    steps = [[sys.executable, "-m", "venv", str(VENV)]] if not VENV_PY.exists() else []
    pip = [str(VENV_PY), "-m", "pip", "install", "-q"]
    steps += [pip + [f"torch=={TORCH}"],  # first: a bare torch requirement would pull a several-GB CUDA build
              pip + [f"pythae=={PYTHAE}", f"torch=={TORCH}"]]  # torch named again: pip keeps the CPU build
    for cmd in steps:
        log("set-up:", " ".join(["python", *cmd[1:]] if cmd[0] == sys.executable else cmd))
        if subprocess.run(cmd, cwd=ROOT, stdout=sys.stderr).returncode:
            raise Stop(f"setting up {VENV.name} failed at `{' '.join(cmd)}`: see pip's message above; delete "
                       f"{VENV} and run again")
    found = venv_versions()
    if not found:
        raise Stop(f"{VENV.name} was set up but `import pythae` fails there: delete {VENV} and run again")
    log(f"set-up: {VENV.name} ready in {time.perf_counter() - t0:.0f} s (torch {found['torch']}, "
        f"pythae {found['pythae']})")
    return found


# --- the worker: runs inside .venv-pythae, imports pythae, never aegan -------------------------------


def fashion_file(stem: str) -> Path:
    """The idx file `stem` (plain or .gz) where aegan looks: $AEGAN_DATA, $AEGAN_DATA/fashion-mnist, Debian's folder."""
    folders = []
    if os.environ.get("AEGAN_DATA"):
        folders += [Path(os.environ["AEGAN_DATA"]), Path(os.environ["AEGAN_DATA"]) / "fashion-mnist"]
    folders.append(FASHION_DEBIAN_DIR)
    for folder in folders:
        for path in (folder / stem, folder / f"{stem}.gz"):
            if path.is_file():
                return path
    raise Stop(f"fashion-mnist not found in {', '.join(map(str, folders))}: `apt-get install dataset-fashion-mnist` "
               f"or set AEGAN_DATA to a folder with the idx files")


def read_idx_images(path: Path) -> Any:
    """An idx file of uint8 images (magic 0x00000803, then N, H, W as big-endian uint32) -> (N, H, W) uint8 array."""
    import numpy as np

    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    magic, n, h, w = (int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))
    if magic != 0x00000803 or len(raw) != 16 + n * h * w:
        raise Stop(f"{path} is not a complete idx file of images: reinstall or replace it")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w)


class BudgetSpent(Exception):
    """Raised by the budget callback at an epoch end: pythae 0.1.2's callbacks have no other way to stop training."""


def budget_callback(budget_s: float, x_test: Any = None) -> Any:
    """A pythae TrainingCallback that stops training at the last epoch end before `budget_s` seconds (module doc).
    With held-out images `x_test` it also records the race's curve: at every epoch end, with its clock paused, the
    held-out reconstruction error of the model as it is then, as (train_s, epochs, recon_error_test)."""
    from pythae.trainers.training_callbacks import TrainingCallback

    class Budget(TrainingCallback):
        def __init__(self) -> None:
            self.trainer: Any = None  # set once the trainer exists: its best model tells which epoch is used
            self.t0 = self.t_epoch = 0.0
            self.train_s = 0.0
            self.epochs = self.best_epoch = 0
            self._best: Any = None
            self.curve: list[tuple[float, int, float]] = []

        def on_train_begin(self, training_config: Any, **kwargs: Any) -> None:
            self.t0 = self.t_epoch = time.perf_counter()

        def on_epoch_end(self, training_config: Any, **kwargs: Any) -> None:
            now = time.perf_counter()
            epoch_s, self.t_epoch = now - self.t_epoch, now
            self.train_s, self.epochs = now - self.t0, self.epochs + 1
            best = getattr(self.trainer, "_best_model", None)
            if best is not self._best:
                self._best, self.best_epoch = best, self.epochs
            if x_test is not None:  # scored off the clock: both ends of the clock move on by its duration
                error = 4.0 * recon_mse(self.trainer.model, x_test)  # on aegan's model scale, as recon_error_test
                self.trainer.model.train()
                self.curve.append((round(self.train_s, 3), self.epochs, error))
                paused = time.perf_counter() - now
                self.t0, self.t_epoch = self.t0 + paused, self.t_epoch + paused
            if self.train_s + epoch_s > budget_s:  # one more epoch like this one would end past the budget
                raise BudgetSpent

    return Budget()


def to_uint8(x: Any) -> Any:
    """pythae images in [0, 1] (N, 1, 28, 28), a tensor -> uint8 0..255, fashion-mnist's units (rounded, clipped)."""
    import numpy as np

    return np.clip(np.rint(x.detach().cpu().float().numpy() * 255.0), 0, 255).astype(np.uint8)


def recon_mse(model: Any, x: Any) -> float:
    """Mean squared error per pixel of held-out images x (N, 1, 28, 28) in [0, 1], through the encoder's mean."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    errors = []
    with torch.no_grad():
        for xb in x.split(1000):
            xb = xb.to(device)
            z_hat = model.encoder(xb).embedding  # the mean of q(z|x), as aegan's encode
            x_rec = model.decoder(z_hat)["reconstruction"].reshape(xb.shape)
            errors.append((x_rec - xb).square().flatten(1).mean(1).cpu())
    return float(torch.cat(errors).mean())


def train_and_sample(name: str, x_train: Any, x_test: Any, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Train pythae's model `name` for args.minutes, then write out/<name>_<sampler>.npy; returns its record.
    With args.race: the curve of held-out reconstruction errors over training seconds instead of samples."""
    import numpy as np
    import torch
    from pythae.data.preprocessors import DataProcessor
    from pythae.models import VAE, Adversarial_AE, Adversarial_AE_Config, VAEConfig
    from pythae.samplers import GaussianMixtureSampler, GaussianMixtureSamplerConfig, NormalSampler
    from pythae.trainers import AdversarialTrainer, AdversarialTrainerConfig, BaseTrainer, BaseTrainerConfig
    from speed import OtherLoad  # benchmarks/speed.py: standard library only

    for logger_name in list(logging.root.manager.loggerDict):  # pythae sets its loggers to INFO at import
        if logger_name.startswith("pythae"):
            logging.getLogger(logger_name).setLevel(logging.WARNING)
    budget_s = args.minutes * 60.0
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as runs:  # pythae makes a training folder there; nothing is saved into it
        never = 10**9  # num_epochs: the budget callback stops the run
        if name == "vae":
            model: Any = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT))
            config: Any = BaseTrainerConfig(output_dir=runs, num_epochs=never, seed=args.seed)
            trainer_cls: Any = BaseTrainer
        else:
            model = Adversarial_AE(Adversarial_AE_Config(input_dim=(1, 28, 28), latent_dim=LATENT))
            config = AdversarialTrainerConfig(output_dir=runs, num_epochs=never, seed=args.seed)
            trainer_cls = AdversarialTrainer
        budget = budget_callback(budget_s, x_test if args.race else None)
        processor = DataProcessor()
        train_set = processor.to_dataset(processor.process_data(x_train))
        trainer = trainer_cls(model=model, train_dataset=train_set, training_config=config, callbacks=[budget])
        budget.trainer = trainer
        log(f"{name}: training pythae {MODELS[name]} for {budget_s:.0f} s on {len(x_train)} images ...")
        with OtherLoad() as load:
            try:
                trainer.train()
                raise RuntimeError("pythae finished its epochs before the budget: raise num_epochs")
            except BudgetSpent:
                pass
    model = trainer._best_model  # what pythae returns: the best epoch on the train loss (no eval set)
    model.eval()
    steps = budget.epochs * len(trainer.train_loader)
    record: dict[str, Any] = {
        "pythae_model": MODELS[name], "model_config": model.model_config.to_dict(), "training_config": {
            k: v for k, v in config.to_dict().items() if k not in ("output_dir", "num_epochs")},
        "budget_s": round(budget_s, 1), "train_s": round(budget.train_s, 2), "epochs": budget.epochs,
        "steps": steps, "best_epoch": budget.best_epoch, "n_train": len(x_train), "n_test": len(x_test),
        "other_processes_cores": None if load.value is None else round(load.value, 2)}
    log(f"{name}: {budget.epochs} epochs ({steps} steps) in {budget.train_s:.1f} s; using epoch {budget.best_epoch}")
    if args.race:
        record["curve"] = budget.curve
        return record

    mse = recon_mse(model, x_test)
    record.update(recon_mse_01=mse, recon_error_test=4.0 * mse)  # [-1, 1] = 2·[0, 1] - 1: squared errors × 4
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # scikit-learn's GaussianMixture (random_state None) draws from NumPy's global state
    gmm = GaussianMixtureSampler(model, GaussianMixtureSamplerConfig())
    gmm.fit(x_train)
    record["gmm_fit_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    for sampler_name, sampler in (("prior", NormalSampler(model)), ("gmm", gmm)):
        torch.manual_seed(args.seed)
        with torch.no_grad():
            x = sampler.sample(num_samples=args.n)  # (n, 1, 28, 28) in [0, 1]
        np.save(out / f"{name}_{sampler_name}.npy", to_uint8(x))
    record["sample_s"] = round(time.perf_counter() - t0, 2)
    return record


def worker(args: argparse.Namespace) -> int:
    from importlib.metadata import version

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.worker)
    out.mkdir(parents=True, exist_ok=True)
    train_path, test_path = fashion_file(TRAIN_IMAGES), fashion_file(TEST_IMAGES)
    images = {}
    for split, path, k in (("train", train_path, args.train_images), ("test", test_path, args.test_images)):
        x = read_idx_images(path)
        x = x[:k] if k else x
        images[split] = torch.from_numpy(x.astype("float32") / 255.0)[:, None]  # (N, 1, 28, 28) in [0, 1]
    result: dict[str, Any] = {"pythae": version("pythae"), "torch": torch.__version__,
                              "threads": torch.get_num_threads(), "data": str(train_path.parent), "models": {}}
    for name in args.models.split(","):
        result["models"][name] = train_and_sample(name, images["train"], images["test"], args, out)
    (out / "worker.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


# --- the parent: set-up, worker, aegan's evaluator, results ------------------------------------------


def cached_evaluator(cache: Path) -> Path | None:
    """The folder of a cached fashion-mnist evaluator under cache/evaluators, or None."""
    for info in sorted((cache / "evaluators").glob("*/classifier.json")):
        try:
            meta = json.loads(info.read_text()).get("meta", {})
        except (OSError, ValueError):
            continue
        if meta.get("data") == "fashion-mnist" and meta.get("role", "evaluator") == "evaluator":
            return info.parent
    return None


def aegan_eval(samples: Path, env: dict[str, str], seed: int, train_evaluator: bool) -> dict[str, Any]:
    """`aegan eval --samples FILE --data fashion-mnist --json` -> its JSON; killed if it starts training one."""
    cmd = [str(AEGAN), "eval", "--samples", str(samples), "--data", "fashion-mnist", "--json", "--check", "--seed",
           str(seed)]
    with tempfile.TemporaryFile("w+") as stdout:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        for line in proc.stderr:
            if EVALUATOR_TRAINING in line and not train_evaluator:
                proc.kill()
                proc.wait()
                raise Stop(f"`aegan eval` found no cached fashion-mnist evaluator for this data and code in "
                           f"{env['AEGAN_CACHE']} and began training one: stopped it. Train it once (e.g. "
                           f"`.venv/bin/python benchmarks/learning.py --cached -k fashion`) or pass --train-evaluator")
            print("    " + line.rstrip(), file=sys.stderr, flush=True)
        code = proc.wait()
        stdout.seek(0)
        text = stdout.read()
    if code:
        raise Stop(f"`{' '.join(cmd)}` failed with exit code {code}: see its message above")
    return json.loads(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0, help="training budget per model, in minutes (default 5)")
    p.add_argument("--models", default="vae,aae", help="comma-separated: vae (pythae VAE), aae (Adversarial_AE)")
    p.add_argument("--n", type=int, default=10_000, help="samples per model and sampler (default 10,000; >= 100)")
    p.add_argument("--seed", type=int, default=0, help="seeds model init, pythae's trainer, samplers and aegan eval")
    p.add_argument("--train-images", type=int, default=0, help="train on the first K training images (0 = all 60,000)")
    p.add_argument("--test-images", type=int, default=0, help="reconstruction error on the first K test images "
                                                               "(0 = all 10,000)")
    p.add_argument("--quick", action="store_true", help="smoke test: 500 images, 2 s per model, n 200, nothing saved "
                                                        "unless --results is given")
    p.add_argument("--setup", action="store_true", help="only create (or check) .venv-pythae, then exit")
    p.add_argument("--race", action="store_true",
                   help="no samples: record each model's held-out reconstruction error at every epoch end (off the "
                        "clock) for the speed suite's race to the same error; needs no evaluator")
    p.add_argument("--threads", type=int, default=0, help="torch threads in the worker (default: torch's own)")
    p.add_argument("--train-evaluator", action="store_true",
                   help="let `aegan eval` train the fashion-mnist evaluator when $AEGAN_CACHE lacks it (about 80 s)")
    p.add_argument("--out", help="keep the worker's sample files and worker.json in this folder (default: a "
                                 "temporary folder, removed at the end)")
    p.add_argument("--results", help="folder for peer_pythae-<date>.json (default benchmarks/results)")
    p.add_argument("--no-save", action="store_true", help="print the JSON, write no results file")
    p.add_argument("--worker", metavar="DIR", help=argparse.SUPPRESS)  # the training part, inside .venv-pythae
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    models = args.models.split(",")
    if not models or any(m not in MODELS for m in models):
        p.error(f"--models: a comma-separated list of {', '.join(MODELS)}, got {args.models!r}")
    if args.minutes <= 0 or args.n < 100 or min(args.train_images, args.test_images, args.threads) < 0:
        p.error("--minutes must be positive, --n at least 100 (aegan eval's minimum), image counts >= 0")
    try:
        if args.worker:
            return worker(args)
        return race(args, models) if args.race else parent(args, models)
    except Stop as e:
        print(f"peer_pythae: {e}", file=sys.stderr, flush=True)
        return 2


def run_worker(args: argparse.Namespace, models: list[str], out: Path, env: dict[str, str]) -> dict[str, Any]:
    """Train (and, without --race, sample) `models` in .venv-pythae; the worker's record (worker.json)."""
    cmd = [str(VENV_PY), str(Path(__file__).resolve()), "--worker", str(out), "--models", ",".join(models),
           "--minutes", repr(args.minutes), "--n", str(args.n), "--seed", str(args.seed),
           "--train-images", str(args.train_images), "--test-images", str(args.test_images),
           "--threads", str(args.threads)] + (["--race"] if args.race else [])
    log(f"worker in {VENV.name}: {len(models)} model(s), {args.minutes:g} min each"
        + ("" if args.race else f", n {args.n}"))
    code = subprocess.run(cmd, cwd=ROOT, env={**env, "TQDM_DISABLE": "1"}, stdout=sys.stderr).returncode
    if code:
        raise Stop(f"the pythae worker failed with exit code {code}: see its message above")
    return json.loads((out / "worker.json").read_text())


def save(text: str, args: argparse.Namespace, stem: str) -> None:
    if args.results or not (args.no_save or args.quick):
        folder = Path(args.results) if args.results else RESULTS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
        path.write_text(text + "\n")
        log(f"wrote {path}")


def race(args: argparse.Namespace, models: list[str]) -> int:
    """The speed suite's half of the race (aegan.bench.speed): each model's curve of held-out reconstruction errors
    (recon_error_test's scale) over training seconds; one JSON object on stdout."""
    from aegan.bench.machine import machine

    versions = ensure_venv()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        record = run_worker(args, models, out, dict(os.environ))
    result = {"benchmark": "peer_pythae_race", "data": "fashion-mnist", **versions, "threads": record["threads"],
              "minutes": args.minutes, "seed": args.seed, "models": record["models"], "machine": machine(),
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    text = json.dumps(result, indent=1)
    print(text)
    save(text, args, "peer_pythae_race")
    return 0


def parent(args: argparse.Namespace, models: list[str]) -> int:
    from speed import loadavg  # benchmarks/speed.py: standard library only at import, no side effects

    from aegan.bench.machine import machine

    started = time.perf_counter()
    load_before = loadavg()
    versions = ensure_venv()
    if args.setup:
        print(json.dumps({"venv": str(VENV), **versions}))
        return 0
    if not AEGAN.exists():
        raise Stop(f"aegan's CLI {AEGAN} is missing: make the main .venv first (see README, Install)")
    env = dict(os.environ)
    env.setdefault("AEGAN_CACHE", str(ROOT / ".cache"))  # the tests' default: their cached evaluators are reused
    evaluator = cached_evaluator(Path(env["AEGAN_CACHE"]))
    if evaluator is None and not args.train_evaluator:
        raise Stop(f"no fashion-mnist evaluator cached in {env['AEGAN_CACHE']}/evaluators: train it once (e.g. "
                   f"`.venv/bin/python benchmarks/learning.py --cached -k fashion`), set AEGAN_CACHE to where it is, "
                   f"or pass --train-evaluator")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        record = run_worker(args, models, out, env)
        rows, t_eval = [], time.perf_counter()
        for name in models:
            trained = record["models"][name]
            for sampler in SAMPLERS:
                log(f"aegan eval: {name} through {sampler} ({SAMPLERS[sampler]})")
                scores = aegan_eval(out / f"{name}_{sampler}.npy", env, args.seed, args.train_evaluator)
                rows.append({"model": name, "sampler": sampler, **{k: scores.get(k) for k in SCORES},
                             **{k: trained[k] for k in ("train_s", "epochs", "steps", "best_epoch", "recon_mse_01",
                                                        "recon_error_test")},
                             "eval": scores})
        eval_s = time.perf_counter() - t_eval
    evaluator = evaluator or cached_evaluator(Path(env["AEGAN_CACHE"]))
    result = {"benchmark": "peer_pythae", "data": "fashion-mnist", "rows": rows, "models": record["models"],
              "pythae": record["pythae"], "torch": record["torch"], "threads": record["threads"],
              "minutes": args.minutes, "n": args.n, "seed": args.seed, "quick": args.quick,
              "evaluator": None if evaluator is None else str(evaluator), "eval_s": round(eval_s, 1),
              "wall_s": round(time.perf_counter() - started, 1), "load_average": load_before, "machine": machine(),
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    text = json.dumps(result, indent=1)
    print(text)
    table = ("model", "sampler", "fd", "precision", "recall", "coverage", "kl_modes", "epochs", "train_s",
             "recon_mse_01")
    log(" ".join(f"{k:>12}" for k in table))
    for r in rows:
        log(" ".join(f"{r[k]:12.4g}" if isinstance(r[k], float) else f"{r[k]!s:>12}" for k in table))
    save(text, args, "peer_pythae")
    return 0


if __name__ == "__main__":  # run as a script, benchmarks/ is sys.path[0]: `speed` imports in parent and worker
    sys.exit(main())
