"""Reliability (issue 6): bad input, crashes and divergence.

- Bad-input matrix: every bad CLI argument, config file, data set or output folder in `BAD_INPUTS` ends with
  exit code 2 and exactly one line on stderr, and no file that existed before is changed (bytes and mtime).
- Two SIGKILLs at different moments, each followed by `aegan train --resume`, end with the weights of an
  uninterrupted run, bit for bit; a full disk stops the run with one line and keeps the last checkpoint.
- Divergence: NaN/Inf in a loss or in the weights stops the run with the step and the network named, keeping
  the last good checkpoint; `optim.rollback` reloads that checkpoint with a lower learning rate instead.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import itertools
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import aegan
import aegan.checkpoint
from aegan.cli import main

from helpers import CLI_TRAIN, assert_same_weights, checkpoint_steps, kill_after_checkpoint
from test_data import write_fashion

FAST = ["progress=false", "net.width=16", "net.depth=2"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished tiny run, shared by the cases that point at an existing run."""
    d = tmp_path_factory.mktemp("reliability") / "run"
    assert main(["train", "gan", "--data", "ring8", "--steps", "4", "--out", str(d), *FAST]) == 0
    return d


# --- makers: each writes the bad input of one case into the test's folder -------------------------------------


def _images(folder: Path, *specs: tuple[str, tuple[int, int]]) -> None:
    folder.mkdir(parents=True)
    for i, (mode, size) in enumerate(specs):
        Image.new(mode, size, color=100 if mode == "L" else (10, 200, 30)).save(folder / f"img{i}.png")


def mixed_sizes(tmp: Path) -> None:
    _images(tmp / "imgs", ("RGB", (16, 16)), ("RGB", (16, 16)), ("RGB", (16, 12)))


def gray_and_rgb(tmp: Path) -> None:
    _images(tmp / "imgs", ("L", (16, 16)), ("RGB", (16, 16)))


def empty_folder(tmp: Path) -> None:
    (tmp / "imgs").mkdir()


def no_images_at_top(tmp: Path) -> None:
    _images(tmp / "imgs" / "sub", ("L", (8, 8)))  # images only in a subfolder, which is not searched
    (tmp / "imgs" / "notes.txt").write_text("not an image")


def idx_truncated(tmp: Path) -> None:
    write_fashion(tmp / "fm", gz=False)
    f = tmp / "fm" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-10])


def idx_wrong_magic(tmp: Path) -> None:
    write_fashion(tmp / "fm", gz=True)
    f = tmp / "fm" / "t10k-images-idx3-ubyte.gz"
    f.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + gzip.decompress(f.read_bytes())[4:]))


def nan_values(tmp: Path) -> None:
    x = np.random.default_rng(0).normal(size=(30, 3))
    x[17, 2] = np.nan
    np.savez(tmp / "data.npz", x=x, y=np.zeros(30, np.int64))


def huge_values(tmp: Path) -> None:
    x = np.random.default_rng(0).normal(size=(30, 2))
    x[5, 0] = 1e30
    np.save(tmp / "data.npy", x)


def no_channel_axis(tmp: Path) -> None:
    np.save(tmp / "data.npy", np.zeros((10, 5, 8, 8), np.uint8))  # 5 channels: neither grayscale nor RGB


def one_dimensional(tmp: Path) -> None:
    np.save(tmp / "data.npy", np.arange(10.0))


def float_images_out_of_range(tmp: Path) -> None:
    np.save(tmp / "data.npy", np.full((10, 1, 8, 8), 3.0, np.float32))


def tiny_images(tmp: Path) -> None:
    np.save(tmp / "data.npy", np.zeros((10, 2, 2), np.uint8))


def wrong_label_count(tmp: Path) -> None:
    np.savez(tmp / "data.npz", x=np.zeros((20, 2)), y=np.zeros(5, np.int64))


def object_array(tmp: Path) -> None:
    np.save(tmp / "data.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)


class _Payload:
    """Unpickling this creates the file `pwned`: proof that nothing was unpickled if the file never appears."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def pickle_as_npy(tmp: Path) -> None:
    (tmp / "data.npy").write_bytes(pickle.dumps(_Payload(tmp / "pwned")))


def yaml_unclosed(tmp: Path) -> None:
    (tmp / "c.yaml").write_text("optim: {lr: 1e-3\n")


def yaml_unknown_key(tmp: Path) -> None:
    (tmp / "c.yaml").write_text("optim:\n  learning_rate: 0.001\n")


def yaml_wrong_type(tmp: Path) -> None:
    (tmp / "c.yaml").write_text("steps: many\n")


def yaml_list(tmp: Path) -> None:
    (tmp / "c.yaml").write_text("- steps\n- 10\n")


def yaml_scalar_section(tmp: Path) -> None:
    (tmp / "c.yaml").write_text("optim: 3\n")


def yaml_python_tag(tmp: Path) -> None:
    (tmp / "c.yaml").write_text(f"!!python/object/apply:builtins.open ['{tmp / 'pwned'}', 'w']\n")


def yaml_binary(tmp: Path) -> None:
    (tmp / "c.yaml").write_bytes(b"\xff\xfe\x00\x81 binary")


def yaml_other_model(tmp: Path) -> None:
    (tmp / "c.yaml").write_text("model: vae\n")


def a_file(tmp: Path) -> None:
    (tmp / "afile").write_text("keep me")


def someone_elses_folder(tmp: Path) -> None:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "thesis.tex").write_text("precious")


def read_only_parent(tmp: Path) -> None:
    (tmp / "locked").mkdir()
    (tmp / "locked").chmod(0o500)


def corrupt_run_config(tmp: Path) -> None:
    (tmp / "broken").mkdir()
    (tmp / "broken" / "config.yaml").write_text("steps: [\n")


# --- the matrix ---------------------------------------------------------------------------------------------------
# (id, argv with {tmp} / {run} placeholders, a fragment the one line must contain, the maker of the input or None)

BAD_INPUTS: list[tuple[str, list[str], str, Callable[[Path], None] | None]] = [
    # command-line arguments
    ("batch-size 0", ["train", "gan", "--data", "ring8", "--batch-size", "0"], "--batch-size must be at least 1",
     None),
    ("steps not a number", ["train", "gan", "--data", "ring8", "--steps", "ten"], "must be an integer", None),
    ("seed not a number", ["train", "gan", "--data", "ring8", "--seed", "x"], "invalid int value", None),
    ("unknown flag", ["train", "gan", "--data", "ring8", "--frobnicate"], "unrecognized arguments", None),
    ("override as model", ["train", "steps=3", "--data", "ring8"], "must be a model name", None),
    ("model as override", ["train", "gan", "--data", "ring8", "model=vae"], "as the command's argument", None),
    ("override without =", ["train", "gan", "--data", "ring8", "optim"], "unrecognized arguments: optim", None),
    ("negative width", ["train", "gan", "--data", "ring8", "net.width=-3"], "net.width", None),
    ("zero devices", ["train", "gan", "--data", "ring8", "fabric.devices=0"], "fabric.devices", None),
    ("unknown strategy", ["train", "gan", "--data", "ring8", "fabric.strategy=bogus"], "invalid strategy name", None),
    ("unknown precision", ["train", "gan", "--data", "ring8", "fabric.precision=bogus"], "Precision 'bogus'", None),
    ("spawning strategy", ["train", "gan", "--data", "ring8", "fabric.strategy=ddp_spawn"], "use fabric.strategy=ddp",
     None),
    ("batch not shared by 3", ["train", "gan", "--data", "ring8", "fabric.devices=3", "fabric.strategy=ddp"],
     "divisible by the 3 processes", None),
    ("pack not dividing batch", ["train", "gan", "--data", "ring8", "--batch-size", "10", "tricks.pack=3"],
     "tricks.pack", None),
    ("bool not a bool", ["train", "gan", "--data", "ring8", "progress=maybe"], "expects true or false", None),
    ("trick without D", ["train", "ae", "--data", "ring8", "tricks.r1=1"], "needs a data discriminator", None),
    ("unknown model_args", ["train", "aae", "--data", "ring8", "model_args.nope=1"], "model_args.nope", None),
    # model settings: a value outside the model's declared choices or ranges, or data its likelihood misreads
    ("likelihood misspelt", ["train", "vae", "--data", "grid25", "model_args.likelihood=bernouli"],
     "model_args.likelihood must be one of gaussian, bernoulli; got 'bernouli'", None),
    ("unknown recon", ["train", "ae", "--data", "grid25", "model_args.recon=l3"],
     "model_args.recon must be one of l1, mse, bce; got 'l3'", None),
    ("unknown adversarial form", ["train", "alphagan", "--data", "grid25", "model_args.adversarial=ratoi"],
     "model_args.adversarial must be one of nonsaturating, ratio; got 'ratoi'", None),
    ("unknown aae prior", ["train", "aae", "--data", "ring8", "model_args.prior=cauchy"],
     "model_args.prior must be one of gaussian, mog, uniform; got 'cauchy'", None),
    ("bernoulli on vectors", ["train", "vae", "--data", "grid25", "model_args.likelihood=bernoulli"],
     "but grid25 holds standardized vectors in [", None),
    ("bce on vectors", ["train", "aegan", "--data", "ring8", "model_args.recon=bce"], "use model_args.recon=l1 or mse",
     None),
    ("negative lambda", ["train", "alphagan", "--data", "ring8", "model_args.lam=-10"],
     "model_args.lam must be > 0 (default 10.0); got -10.0", None),
    ("sigma 0", ["train", "vae", "--data", "ring8", "model_args.sigma=0"], "model_args.sigma must be > 0", None),
    ("negative gamma", ["train", "vaegan", "--data", "ring8", "model_args.gamma=-1"], "model_args.gamma must be >= 0",
     None),
    ("infinite lr", ["train", "gan", "--data", "ring8", "optim.lr=inf"], "optim.lr must be a finite number", None),
    ("negative threads", ["train", "gan", "--data", "ring8", "fabric.threads=-2"], "fabric.threads must be >= 0",
     None),
    ("negative seed", ["train", "aae", "--data", "ring8", "--seed", "-1"], "seed must lie in 0..4294967295", None),
    ("resume with other args", ["train", "--resume", "{run}", "--data", "ring8"], "give only --resume", None),
    ("resume corrupt config", ["train", "--resume", "{tmp}/broken"], "config.yaml", corrupt_run_config),
    ("sample n 0", ["sample", "{run}", "--n", "0", "--out", "{tmp}/s.png"], "--n must be at least 1", None),
    ("sample unknown sampler", ["sample", "{run}", "--sampler", "gmm", "--out", "{tmp}/s.npy"], "no sampler 'gmm'",
     None),
    # config files
    ("yaml unclosed", ["train", "gan", "--data", "ring8", "--config", "{tmp}/c.yaml"], "not valid YAML",
     yaml_unclosed),
    ("yaml unknown key", ["train", "gan", "--data", "ring8", "--config", "{tmp}/c.yaml"], "optim.learning_rate",
     yaml_unknown_key),
    ("yaml wrong type", ["train", "gan", "--data", "ring8", "--config", "{tmp}/c.yaml"], "steps expects an integer",
     yaml_wrong_type),
    ("yaml list", ["train", "gan", "--data", "ring8", "--config", "{tmp}/c.yaml"], "must hold a mapping", yaml_list),
    ("yaml scalar section", ["train", "gan", "--data", "ring8", "--config", "{tmp}/c.yaml"], "optim must be a mapping",
     yaml_scalar_section),
    ("yaml python tag", ["train", "gan", "--data", "ring8", "--config", "{tmp}/c.yaml"], "not valid YAML",
     yaml_python_tag),
    ("yaml binary", ["train", "gan", "--data", "ring8", "--config", "{tmp}/c.yaml"], "not valid YAML", yaml_binary),
    ("yaml other model", ["train", "gan", "--data", "ring8", "--config", "{tmp}/c.yaml"], "model: vae",
     yaml_other_model),
    ("config is a folder", ["train", "gan", "--data", "ring8", "--config", "{tmp}"], "is a folder, not a file", None),
    # data
    ("idx truncated", ["train", "gan", "--data", "fashion-mnist"], "truncated", idx_truncated),
    ("idx wrong magic", ["train", "gan", "--data", "fashion-mnist"], "magic", idx_wrong_magic),
    ("mixed image sizes", ["train", "gan", "--data", "{tmp}/imgs"], "differ in size", mixed_sizes),
    ("grayscale and RGB", ["train", "gan", "--data", "{tmp}/imgs"], "mixes grayscale and colour", gray_and_rgb),
    ("empty folder", ["train", "gan", "--data", "{tmp}/imgs"], "contains no PNG/JPEG", empty_folder),
    ("images only in subfolder", ["train", "gan", "--data", "{tmp}/imgs"], "subfolders are not searched",
     no_images_at_top),
    ("NaN in npz", ["train", "gan", "--data", "{tmp}/data.npz"], "NaN at row 17", nan_values),
    ("huge values", ["train", "gan", "--data", "{tmp}/data.npy"], "too large", huge_values),
    ("5 channels", ["train", "gan", "--data", "{tmp}/data.npy"], "no channel axis", no_channel_axis),
    ("1-D array", ["train", "gan", "--data", "{tmp}/data.npy"], "not a data layout", one_dimensional),
    ("float images > 1", ["train", "gan", "--data", "{tmp}/data.npy"], "must lie in [0, 1]", float_images_out_of_range),
    ("2x2 images", ["train", "gan", "--data", "{tmp}/data.npy"], "minimum", tiny_images),
    ("labels wrong length", ["train", "gan", "--data", "{tmp}/data.npz"], "labels must be 20", wrong_label_count),
    ("object array", ["train", "gan", "--data", "{tmp}/data.npy"], "Python objects", object_array),
    ("pickle named .npy", ["train", "gan", "--data", "{tmp}/data.npy"], "not a NumPy", pickle_as_npy),
    # output folders and files
    ("out is a file", ["train", "gan", "--data", "ring8", "--out", "{tmp}/afile"], "is a file", a_file),
    ("out under a file", ["train", "gan", "--data", "ring8", "--out", "{tmp}/afile/run"], "cannot write", a_file),
    ("out is an existing run", ["train", "gan", "--data", "ring8", "--out", "{run}"], "already exists", None),
    ("overwrite someone's folder", ["train", "gan", "--data", "ring8", "--out", "{tmp}/mine", "--overwrite"],
     "not an aegan run folder", someone_elses_folder),
    ("out not writable", ["train", "gan", "--data", "ring8", "--out", "{tmp}/locked/run"], "cannot write",
     read_only_parent),
    ("sample over a file", ["sample", "{run}", "--out", "{tmp}/afile.npy"], "already exists",
     lambda tmp: (tmp / "afile.npy").write_bytes(b"keep me")),
    ("sample into a missing folder", ["sample", "{run}", "--out", "{tmp}/nowhere/s.png"], "does not exist", None),
]


def snapshot(*roots: Path) -> dict[str, tuple[int, int, str] | None]:
    """Every file and folder under `roots`: files as (size, mtime_ns, sha256), folders as None."""
    found: dict[str, tuple[int, int, str] | None] = {}
    for root in roots:
        for p in [root, *root.rglob("*")]:
            if p.is_dir():
                found[str(p)] = None
            else:
                st = p.stat()
                found[str(p)] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return found


@pytest.mark.parametrize("argv, fragment, make", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(argv, fragment, make, run_dir, tmp_path, capsys,
                                                            monkeypatch):
    if make is read_only_parent and os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    monkeypatch.chdir(tmp_path)  # a default run folder would appear here
    monkeypatch.setenv("AEGAN_DATA", str(tmp_path / "fm"))  # where the idx cases put their fashion-mnist files
    if make is not None:
        make(tmp_path)
    before = snapshot(tmp_path, run_dir)
    try:
        code = main([a.format(tmp=tmp_path, run=run_dir) for a in argv])
    finally:
        if make is read_only_parent:
            (tmp_path / "locked").chmod(0o700)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aegan: error: "), err
    assert fragment in lines[0] and "Traceback" not in err
    assert snapshot(tmp_path, run_dir) == before, "bad input changed or created files"
    assert not (tmp_path / "pwned").exists(), "a payload in the input was executed"


# --- crashes ------------------------------------------------------------------------------------------------------


def test_two_sigkills_then_resume_match_an_uninterrupted_run(tmp_path):
    args = ["gan", "--data", "ring8", "--steps", "300", "--seed", "5", "progress=false", "net.width=16",
            "net.depth=2", "checkpoint_every=20", "log_every=10", "sample_every=300"]
    subprocess.run([*CLI_TRAIN, *args, "--out", str(tmp_path / "full")], check=True, capture_output=True)
    cut = tmp_path / "cut"
    first = kill_after_checkpoint([*CLI_TRAIN, *args, "--out", str(cut)], cut, 60)
    second = kill_after_checkpoint([*CLI_TRAIN, "--resume", str(cut)], cut, 180)  # the resumed run, killed again
    assert first < second < 300, (first, second)
    r = subprocess.run([*CLI_TRAIN, "--resume", str(cut)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert_same_weights(tmp_path / "full", cut)
    steps = [json.loads(line)["step"] for line in (cut / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, 301, 10))


def test_full_disk_stops_with_one_line_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    args = ["train", "gan", "--data", "ring8", "--steps", "20", "--seed", "2", "checkpoint_every=5", "log_every=5",
            *FAST]
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    save_file = aegan.checkpoint.save_file
    written = []

    def fills_up(tensors, path, *rest, **kwargs):
        if written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(path)
        save_file(tensors, path, *rest, **kwargs)

    monkeypatch.setattr(aegan.checkpoint, "save_file", fills_up)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "cut")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "--resume" in err[0], err
    assert checkpoint_steps(tmp_path / "cut") == [5]
    assert not list((tmp_path / "cut").rglob("*.tmp"))
    monkeypatch.setattr(aegan.checkpoint, "save_file", save_file)  # space freed
    assert main(["train", "--resume", str(tmp_path / "cut")]) == 0
    assert_same_weights(tmp_path / "full", tmp_path / "cut")


# --- divergence ---------------------------------------------------------------------------------------------------


def nan_gradient_in_G(monkeypatch, bad: Callable[[int], bool]) -> None:
    """Models built by the loop from now on give G's first weight a NaN gradient in its backward pass number k
    (1, 2, ...; one per step) wherever bad(k): the loss stays finite, the weights become NaN."""
    loop = sys.modules["aegan.train"]
    build = loop.build_model

    def build_with_fault(cfg, shape, nets=None):
        model = build(cfg, shape, nets)
        calls = itertools.count(1)
        weight = next(model.nets["G"].parameters())
        weight.register_hook(lambda g: torch.full_like(g, float("nan")) if bad(next(calls)) else g)
        return model

    monkeypatch.setattr(loop, "build_model", build_with_fault)


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_finite_checkpoints(run_dir: Path) -> None:
    for record in aegan.checkpoint.list_checkpoints(run_dir / "checkpoints"):
        tensors = load_file(record.with_suffix(".safetensors"))
        assert all(v.isfinite().all() for k, v in tensors.items() if k.startswith("nets.")), record


def test_nan_loss_stops_the_cli_naming_step_and_phase(tmp_path, capsys):
    code = main(["train", "gan", "--data", "ring8", "--steps", "20", "--out", str(tmp_path / "r"), "optim.lr=1e30",
                 "checkpoint_every=10", "log_every=5", *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "training diverged at step 1: the loss of phase G is NaN or Inf" in err[0]
    assert "no checkpoint had been written yet" in err[0] and "optim.rollback" in err[0]


def test_nan_weights_stop_the_cli_naming_step_and_network(tmp_path, capsys, monkeypatch):
    nan_gradient_in_G(monkeypatch, lambda k: k == 13)
    code = main(["train", "gan", "--data", "ring8", "--steps", "30", "--out", str(tmp_path / "r"),
                 "checkpoint_every=10", "log_every=5", *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "training diverged at step 13: the weights of G became NaN or Inf in phase G's update" in err[0]
    assert f"the last good checkpoint is kept in {tmp_path / 'r' / 'checkpoints'}" in err[0]
    assert checkpoint_steps(tmp_path / "r") == [10]
    assert_finite_checkpoints(tmp_path / "r")
    assert [r["step"] for r in records(tmp_path / "r")] == [5, 10]  # nothing logged from the diverged steps


def test_rollback_recovers_with_a_lower_learning_rate(tmp_path, tiny, monkeypatch, capsys):
    nan_gradient_in_G(monkeypatch, lambda k: k == 15)  # a one-off fault at step 15
    tiny.update({"checkpoint_every": 10, "optim.rollback": 1, "optim.rollback_factor": 0.25, "optim.lr": 1e-3})
    run = aegan.train("gan", data="ring8", steps=30, out=tmp_path / "r", overrides=tiny)
    assert run.step == 30
    assert "training diverged at step 15" in capsys.readouterr().out
    log = records(tmp_path / "r")
    event = next(r for r in log if r.get("event") == "rollback")
    assert event["step"] == 10 and event["rollback"] == 1 and event["lr_scale"] == 0.25
    assert "weights of G" in event["reason"]
    assert [r["lr"] for r in log if r["step"] > 10 and "lr" in r] == pytest.approx([2.5e-4] * 4)
    assert [r["step"] for r in log if "event" not in r] == [5, 10, 15, 20, 25, 30]
    assert_finite_checkpoints(tmp_path / "r")
    meta = json.loads(aegan.checkpoint.list_checkpoints(tmp_path / "r" / "checkpoints")[-1].read_text())
    assert meta["lr_scale"] == 0.25 and meta["rollbacks"] == 1  # a resumption keeps the lower learning rate


def test_rollbacks_run_out_and_the_run_stops(tmp_path, tiny, monkeypatch, capsys):
    nan_gradient_in_G(monkeypatch, lambda k: k >= 3)  # from step 3 on: before the first checkpoint, and after rollback
    tiny.update({"checkpoint_every": 10, "optim.rollback": 1})
    with pytest.raises(aegan.AeganError, match=r"at step 1: the weights of G .* after 1 rollback\(s\) to lr × 0.5"):
        aegan.train("gan", data="ring8", steps=30, out=tmp_path / "r", overrides=tiny)
    out = capsys.readouterr().out
    assert "diverged at step 3" in out and "back to step 0 with lr × 0.5" in out
    assert checkpoint_steps(tmp_path / "r") == [0]  # the initial state, written because rollback was on
    assert_finite_checkpoints(tmp_path / "r")


@pytest.mark.parametrize("argv", [
    lambda run, tmp: ["eval", run],
    lambda run, tmp: ["sample", run, "--n", "5", "--out", tmp / "s.npy"],
    lambda run, tmp: ["train", "--resume", run],
], ids=["eval", "sample", "resume"])
def test_crafted_checkpoint_is_refused_and_never_executed(tmp_path, capsys, argv):
    """A checkpoint whose tensors were replaced by a pickle payload, its JSON checksum updated to match (what an
    attacker can do), is refused with exit code 2 for every command that loads it; the payload never runs."""
    run = tmp_path / "r"
    assert main(["train", "gan", "--data", "ring8", "--steps", "4", "--out", str(run), "checkpoint_every=2",
                 *FAST]) == 0
    records = aegan.checkpoint.list_checkpoints(run / "checkpoints")
    for record in records:  # every checkpoint, so there is no good one to fall back on
        blob = pickle.dumps(_Payload(tmp_path / "pwned"))
        record.with_suffix(".safetensors").write_bytes(blob)
        meta = json.loads(record.read_text())
        meta["sha256"] = hashlib.sha256(blob).hexdigest()
        record.write_text(json.dumps(meta))
    capsys.readouterr()
    assert main([str(a) for a in argv(run, tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "s.npy").exists()
