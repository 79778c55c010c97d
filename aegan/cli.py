"""The `aegan` command (DESIGN §4). Bad input ends with exit code 2 and one line saying what to do."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from aegan.errors import AeganError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + error
        raise AeganError(f"{message} (see `{self.prog} --help`)")


def _positive(kind: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} must be an integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{kind} must be at least 1, got {value}")
        return value
    return parse


TEMPERATURE_HELP = ("scale the noise of the draws by T (prior, gaussian, gmm, flow; default 1, the model as "
                    "fitted): above 1 trades precision for recall")


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--temperature must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"--temperature must be a finite number above 0, got {text}")
    return value


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--minutes must be a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"--minutes must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="aegan", description="Autoencoder GANs and mode-collapse measurement.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model on data (or continue a run with --resume)",
                       description="aegan train MODEL --data SPEC [options] [key=value ...]  |  "
                                   "aegan train --resume RUN")
    t.add_argument("args", nargs="*", metavar="MODEL [key=value ...]",
                   help="model name, then config overrides such as optim.lr=1e-4 net.width=256")
    t.add_argument("--data", help="ring8, grid25, digits, fashion-mnist, a .npy/.npz file or a folder of images")
    t.add_argument("--steps", type=_positive("--steps"))
    t.add_argument("--minutes", type=_minutes, metavar="M",
                   help="wall-time budget: train for M minutes (steps from the measured step time; --steps caps them)")
    t.add_argument("--batch-size", type=_positive("--batch-size"))
    t.add_argument("--seed", type=int)
    t.add_argument("--out", help="run folder (default: runs/MODEL-DATA, numbered if taken)")
    t.add_argument("--config", help="YAML file of config fields")
    t.add_argument("--resume", metavar="RUN", help="continue RUN from its newest good checkpoint")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder given as --out")

    s = sub.add_parser("sample", help="draw samples from a trained run into a .png or .npy file")
    s.add_argument("run")
    s.add_argument("--n", type=_positive("--n"), default=64)
    s.add_argument("--out", required=True, help="FILE.png (picture) or FILE.npy (array in the data's units and layout)")
    s.add_argument("--sampler", default=None,
                   help="prior, a code model (gmm, gaussian, flow, twostage, diffusion, codegan, dae) or a chain "
                        "in code space conditioned by --label or --cluster: ppgn (PPGN's) or mala (with MH)")
    s.add_argument("--label", type=int, default=None, help="ppgn/mala: the class K the chains climb")
    s.add_argument("--cluster", type=int, default=None,
                   help="ppgn/mala without labels: component K of the Gaussian mixture fitted to the codes")
    s.add_argument("--chain", action="append", default=[], metavar="KEY=VALUE",
                   help="ppgn/mala setting, repeatable: steps, eps1, eps2, eps3, lr, lr_end, chains, thin, stop "
                        "(auto|plateau|rhat|none), window, tol, rhat, adapt, accept, tau, beta, metropolis")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--temperature", type=_temperature, default=1.0, metavar="T", help=TEMPERATURE_HELP)
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    e = sub.add_parser("eval", help="score a run (writes RUN/eval.json) or a file of samples; prints a table")
    e.add_argument("run", nargs="?", help="a run folder; or leave out and give --samples and --data")
    e.add_argument("--samples", help="score this .npy/.npz of samples from any generator instead of a run")
    e.add_argument("--data", help="with --samples: the data set to compare them with (a name, folder or file)")
    e.add_argument("--n", type=_positive("--n"), default=10_000)
    e.add_argument("--sampler", default=None)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--temperature", type=_temperature, default=1.0, metavar="T", help=TEMPERATURE_HELP)
    e.add_argument("--check", action="store_true",
                   help="image data: also fd_check, the FD in a second classifier's features (another architecture)")
    e.add_argument("--features", metavar="FILE.py:NAME", default=None,
                   help="image data: fd, kid and PRDC in your own feature network (e.g. local Inception weights)")
    e.add_argument("--json", action="store_true", help="print eval.json on stdout instead of a table")
    e.add_argument("--refit", action="store_true",
                   help="fit the run's code models anew first (after a change of aegan's defaults), replacing those "
                        "stored in RUN/samplers/, and choose the default code model again")

    r = sub.add_parser("report", help="write a self-contained report.html for a run or a folder of runs")
    r.add_argument("path")

    b = sub.add_parser("bench", help="every method side by side over seeds, beside the published numbers")
    b.add_argument("suite", help="toy (ring8, grid25), synthetic1200 (and grid100), stacked (stacked-digits, "
                                 "stacked-fashion-mnist), images (equal wall time), speed (step times, time to "
                                 "cover grid25, the race against pythae), or modes, tricks")
    b.add_argument("--models", help="comma-separated models or variants MODEL+TRICK (e.g. gan,gan+pack,alphagan)")
    b.add_argument("--seeds", type=_positive("--seeds"), default=None,
                   help="runs of each variant, seeds 0..K-1 (default 3 with --budget small, 5 with paper; "
                        "speed: 1)")
    b.add_argument("--budget", choices=("small", "paper"), default="small",
                   help="small: CPU step budgets; paper: the papers' step counts (for GPUs)")
    b.add_argument("--data", default=None, help="comma-separated data sets (default: the suite's)")
    b.add_argument("--settings", default=None,
                   help="stacked suite: comma-separated D settings, D=G and D=G/4 (default both)")
    b.add_argument("--steps", type=_positive("--steps"), default=None,
                   help="every run this many steps instead of the suite's budget (a quick look, not its protocol)")
    b.add_argument("--minutes", type=_minutes, default=None,
                   help="images suite: wall-time budget per run (default 2 with --budget small, on fashion-mnist; "
                        "10 with paper, on fashion-mnist and stacked-fashion-mnist); speed suite: per side of the race "
                        "against pythae (default 3)")
    b.add_argument("--out", default="bench")
    b.add_argument("--threads", type=int, default=0, help="torch CPU threads per run; 0 = torch's default")
    b.add_argument("--jobs", type=_positive("--jobs"), default=1,
                   help="runs at once, one thread each (2 on a 2-core machine halves the wall time)")

    d = sub.add_parser("demo", help="the main job: collapse and its cure on 2-D mixtures and fashion-mnist, on CPU")
    d.add_argument("--out", default="demo")
    d.add_argument("--steps", type=_positive("--steps"), default=None, help="steps per run (default: each model's)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--image-minutes", type=float, default=1.0,
                   help="fashion-mnist part: minutes of training for each of gan and alphagan (0 = leave it out)")
    return p


def cmd_train(a: argparse.Namespace) -> int:
    from aegan.train import resume, train

    if a.resume:
        if a.args or a.data or a.config or a.batch_size or a.seed is not None or a.out:
            raise AeganError("--resume RUN continues RUN with its own config: give only --resume (and --steps or "
                             "--minutes)")
        run = resume(a.resume, steps=a.steps, minutes=a.minutes)
    else:
        if not a.args:
            raise AeganError("name a model, e.g. `aegan train gan --data grid25`, or continue a run with --resume RUN")
        model, overrides = a.args[0], a.args[1:]
        if "=" in model:
            raise AeganError(f"the first argument must be a model name, got {model!r}")
        if not a.data:
            raise AeganError(f"say which data to train on: aegan train {model} --data SPEC")
        run = train(model, a.data, steps=a.steps, out=a.out, seed=a.seed, batch_size=a.batch_size,
                    config=a.config, overrides=overrides, overwrite=a.overwrite, minutes=a.minutes)
    print(f"trained {run.config.model} on {run.config.data} to step {run.step}: {run.path}")
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    from aegan.checkpoint import atomic_write_bytes
    from aegan.run import CHAIN_SAMPLERS, Run

    out = Path(a.out)
    if out.suffix.lower() not in (".png", ".npy"):
        raise AeganError(f"--out must end in .png or .npy, got {out}")
    if out.exists() and not a.overwrite:
        raise AeganError(f"{out} already exists: choose another --out or add --overwrite")
    if not out.parent.is_dir():
        raise AeganError(f"folder {out.parent} does not exist: create it first")
    run = Run.load(a.run)
    run.check_temperature(a.temperature, a.sampler or run.default_sampler)
    if a.sampler in CHAIN_SAMPLERS:
        from aegan.samplers.chains import ChainSettings

        settings = ChainSettings.parse(a.chain)
        x, result = run.chain_sample(a.n, a.sampler, label=a.label, cluster=a.cluster, seed=a.seed,
                                     settings=settings)
        tag = f"{a.sampler}-label{a.label}" if a.label is not None else f"{a.sampler}-cluster{a.cluster}"
        png = run.save_chains(tag, result, {"sampler": a.sampler, "label": a.label, "cluster": a.cluster,
                                            "n": a.n, "seed": a.seed})
        record = result.record()
        print(f"{a.sampler}: chains stopped after {record['mean_steps']:.0f} steps on average ({result.reasons[0]})"
              + (f"; acceptance {record['mean_acceptance']:.2f}" if "mean_acceptance" in record else "")
              + f"; strips in {png}")
    else:
        if a.chain:
            raise AeganError("--chain settings are for --sampler ppgn or mala")
        x = run.sample_model(a.n, sampler=a.sampler, seed=a.seed, label=a.label, cluster=a.cluster,
                             temperature=a.temperature)
    if out.suffix.lower() == ".npy":
        import io

        import numpy as np

        buf = io.BytesIO()
        np.save(buf, run.transform.to_array(x), allow_pickle=False)
        atomic_write_bytes(out, buf.getvalue())
    else:
        from aegan import plots

        if run.info["kind"] == "vector":
            centres = run.modes[0].numpy() if run.modes else None
            plots.scatter_png(run.transform.to_data(x).numpy(), out, centres=centres,
                              title=f"{run.config.model} on {run.config.data}, step {run.step}")
        else:
            plots.image_grid_png(((x.clamp(-1, 1) + 1) / 2).numpy(), out)
    print(f"wrote {a.n} samples to {out}")
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from aegan.evaluate import evaluate, evaluate_samples
    from aegan.tables import text_table

    if a.samples is not None or a.data is not None:
        if a.run is not None or a.samples is None or a.data is None:
            raise AeganError("give either a run folder, or --samples FILE.npy with --data SPEC (not both)")
        if a.temperature != 1:
            raise AeganError("--temperature draws a run's samples; a file of samples is scored as it is")
        if a.refit:
            raise AeganError("--refit fits a run's code models; a file of samples has none")
        scores = evaluate_samples(a.samples, a.data, seed=a.seed, check=a.check, features=a.features)
    elif a.run is None:
        raise AeganError("give a run folder to score, or --samples FILE.npy --data SPEC")
    else:
        run = a.run
        if a.refit:
            from aegan.run import Run

            run = Run.load(a.run)
            run.refit_code_models(a.sampler)
        scores = evaluate(run, n=a.n, sampler=a.sampler, seed=a.seed, check=a.check, features=a.features,
                          temperature=a.temperature)
    if a.json:
        print(json.dumps(scores, indent=2))
    else:
        print(text_table([scores], [k for k, v in scores.items() if not isinstance(v, list)]))  # not mode_counts
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from aegan.report import write_report

    if not Path(a.path).is_dir():
        raise AeganError(f"{a.path} is not a folder: give a run folder or a folder of runs")
    print(f"wrote {write_report(a.path)}")
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from aegan.bench import run_bench

    models = [m.strip() for m in a.models.split(",")] if a.models else None
    data = tuple(d.strip() for d in a.data.split(",")) if a.data else None
    run_bench(a.suite, models=models, seeds=a.seeds, out=a.out, data=data, threads=a.threads, minutes=a.minutes,
              jobs=a.jobs, budget=a.budget, steps=a.steps,
              settings=tuple(x.strip() for x in a.settings.split(",")) if a.settings else None)
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from aegan.demo import demo

    demo(out=a.out, steps=a.steps, seed=a.seed, image_minutes=a.image_minutes)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    commands = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "report": cmd_report, "demo": cmd_demo,
                "bench": cmd_bench}
    try:
        a, extra = build_parser().parse_known_args(argv)
        if extra and a.command == "train" and all("=" in e and not e.startswith("-") for e in extra):
            a.args += extra  # key=value overrides written after options
        elif extra:
            raise AeganError(f"unrecognized arguments: {' '.join(extra)} (see `aegan {a.command} --help`)")
        return commands[a.command](a)
    except AeganError as e:
        print(f"aegan: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("aegan: interrupted; continue a training run with `aegan train --resume RUN`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
