"""The command line: the must-show flows, and bad input giving exit code 2 with one clear line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aegan.cli import main

FAST = ["progress=false", "net.width=16", "net.depth=2"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli") / "g"
    assert main(["train", "gan", "--data", "grid25", "--steps", "30", "--out", str(d), *FAST]) == 0
    return d


def test_train_eval_sample_report(grid_run, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "eval", grid_run, "--json", "--n", "2000")
    assert code == 0
    scores = json.loads(out)
    assert scores["modes_total"] == 25
    assert {"modes_covered", "high_quality_fraction", "kl_modes", "step", "seed", "n_samples", "sampler"} <= set(scores)
    assert json.loads((grid_run / "eval.json").read_text()) == scores
    assert run_cli(capsys, "sample", grid_run, "--n", "100", "--out", tmp_path / "s.npy")[0] == 0
    assert np.load(tmp_path / "s.npy").shape == (100, 2)
    assert run_cli(capsys, "sample", grid_run, "--n", "500", "--out", tmp_path / "s.png")[0] == 0
    assert Image.open(tmp_path / "s.png").size[0] > 100
    assert run_cli(capsys, "report", grid_run)[0] == 0
    assert "data:image/png;base64," in (grid_run / "report.html").read_text()


def _write_bad_inputs(tmp: Path) -> dict[str, Path]:
    files = {}
    files["nan"] = tmp / "nan.npy"
    a = np.random.rand(50, 2)
    a[3, 1] = np.nan
    np.save(files["nan"], a)
    files["inf"] = tmp / "inf.npy"
    np.save(files["inf"], np.full((10, 2), np.inf))
    files["shape"] = tmp / "shape.npy"
    np.save(files["shape"], np.zeros((4, 2, 3, 5, 5)))
    files["empty"] = tmp / "empty.npy"
    np.save(files["empty"], np.zeros((0, 2)))
    files["corrupt"] = tmp / "corrupt.npy"
    files["corrupt"].write_bytes(b"\x93NUMPY garbage")
    mixed = tmp / "mixed"
    mixed.mkdir()
    Image.new("L", (8, 8)).save(mixed / "a.png")
    Image.new("L", (9, 9)).save(mixed / "b.png")
    files["mixed"] = mixed
    unreadable = tmp / "unreadable"
    unreadable.mkdir()
    (unreadable / "a.png").write_bytes(b"not a png")
    files["unreadable"] = unreadable
    return files


BAD_TRAIN = [
    (["train", "wgan", "--data", "grid25"], "unknown model 'wgan'"),
    (["train", "gan", "--data", "grid52"], "unknown data 'grid52'"),
    (["train", "gan", "--data", "grid25", "--steps", "-5"], "--steps must be at least 1"),
    (["train", "gan", "--data", "grid25", "steps=-5"], "steps must be at least 1"),
    (["train", "gan", "--data", "grid25", "optim.lr=fast"], "optim.lr expects a number"),
    (["train", "gan", "--data", "grid25", "optim.nope=1"], "unknown config key"),
    (["train", "gan"], "say which data"),
    (["train", "--data", "grid25"], "name a model"),
    (["train", "gan", "--data", "{tmp}/missing.npy"], "does not exist"),
    (["train", "gan", "--data", "{nan}"], "NaN"),
    (["train", "gan", "--data", "{inf}"], "Inf"),
    (["train", "gan", "--data", "{shape}"], "shape"),
    (["train", "gan", "--data", "{empty}"], "empty"),
    (["train", "gan", "--data", "{corrupt}"], "corrupt.npy"),
    (["train", "gan", "--data", "{mixed}"], "size"),
    (["train", "gan", "--data", "{unreadable}"], "a.png"),
    (["train", "gan", "--data", "grid25", "--config", "{tmp}/nope.yaml"], "does not exist"),
    (["train", "--resume", "{tmp}"], "not an aegan run folder"),
    (["eval", "{tmp}"], "not an aegan run folder"),
    (["sample", "{tmp}", "--out", "{tmp}/x.png"], "not an aegan run folder"),
    (["sample", "{tmp}", "--out", "{tmp}/x.txt"], "must end in .png or .npy"),
    (["report", "{tmp}/nothing"], "is not a folder"),
    (["eval", "{tmp}", "--temperature", "0"], "--temperature must be a finite number above 0"),
    (["sample", "{tmp}", "--out", "{tmp}/x.png", "--temperature", "warm"], "--temperature must be a number"),
    (["eval", "--samples", "{tmp}/x.npy", "--data", "grid25", "--temperature", "2"], "scored as it is"),
    (["eval", "--samples", "{tmp}/x.npy", "--data", "grid25", "--refit"], "a file of samples has none"),
    (["bogus"], "invalid choice"),
]


@pytest.mark.parametrize("argv, fragment", BAD_TRAIN, ids=[" ".join(a)[:40] for a, _ in BAD_TRAIN])
def test_bad_input_exits_2_with_one_line(argv, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = _write_bad_inputs(tmp_path)
    argv = [a.format(tmp=tmp_path, **files) for a in argv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aegan: error:"), err
    assert fragment in lines[0]
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_foreign_checkpoint_is_refused(grid_run, tmp_path, capsys):
    import shutil

    fake = tmp_path / "fake"
    shutil.copytree(grid_run, fake)
    for record in (fake / "checkpoints").glob("*.json"):
        record.write_text(json.dumps({"step": 1, "weights": "x"}))  # someone else's JSON
    code, _, err = run_cli(capsys, "eval", fake)
    assert code == 2 and "not an aegan checkpoint" in err.splitlines()[-1]


@pytest.mark.parametrize("modes", [{"centres": [[0.0, 0.0]], "std": [0.1, 0.2]}, {"centres": [[0.0, 0.0]], "std": "x"},
                                   {"centres": [[0.0, 0.0]], "std": -1}, {"centres": [[0.0, 0.0, 0.0]], "std": 0.1}])
def test_crafted_modes_in_data_json_are_refused(grid_run, tmp_path, capsys, modes):
    import shutil

    fake = tmp_path / "fake"
    shutil.copytree(grid_run, fake)
    info = json.loads((fake / "data.json").read_text())
    (fake / "data.json").write_text(json.dumps({**info, "modes": modes}))
    before = sorted(p.name for p in fake.rglob("*"))
    code, _, err = run_cli(capsys, "eval", fake)
    assert code == 2 and "data.json is missing or corrupt" in err.splitlines()[-1] and "Traceback" not in err
    assert sorted(p.name for p in fake.rglob("*")) == before  # nothing written


def test_existing_outputs_are_kept(grid_run, tmp_path, capsys):
    before = (grid_run / "config.yaml").read_text()
    code, _, err = run_cli(capsys, "train", "gan", "--data", "grid25", "--steps", "5", "--out", grid_run)
    assert code == 2 and "already exists" in err and (grid_run / "config.yaml").read_text() == before
    (tmp_path / "s.npy").write_bytes(b"keep me")
    code, _, err = run_cli(capsys, "sample", grid_run, "--out", tmp_path / "s.npy")
    assert code == 2 and (tmp_path / "s.npy").read_bytes() == b"keep me"


def test_console_script_prints_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "aegan.cli", "train", "gan", "--data", "nope"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown data 'nope'" in r.stderr


@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory):
    """A tiny aae run on user vectors with no known modes, so eval fits code models and scores samples."""
    d = tmp_path_factory.mktemp("cli-encoder")
    np.save(d / "blobs.npy", np.random.default_rng(0).normal(size=(600, 3)).astype(np.float32))
    assert main(["train", "aae", "--data", str(d / "blobs.npy"), "--steps", "10", "--out", str(d / "a"), *FAST]) == 0
    return d / "a"


def test_eval_json_prints_only_json_on_stdout(encoder_run, capsys):
    """`aegan eval RUN --json`: stdout parses as one JSON document; notes and warnings go to stderr."""
    capsys.readouterr()
    code, out, err = run_cli(capsys, "eval", encoder_run, "--json", "--n", "50")  # too few for the sample metrics
    assert code == 0
    scores = json.loads(out)
    assert scores["sampler"] == "gmm" and scores["n_samples"] == 50 and "recon_error_test" in scores
    assert "warning: the sample metrics need at least 100 samples" in err
    # a code model fitted now (gaussian), the sample metrics of vectors, the birthday estimate's note if any
    code, out, err = run_cli(capsys, "eval", encoder_run, "--json", "--n", "300", "--sampler", "gaussian")
    assert code == 0
    scores = json.loads(out)
    assert scores["sampler"] == "gaussian" and {"fd", "kid", "precision", "coverage", "ndb"} <= set(scores)
    assert all(line.startswith("aegan: ") for line in err.splitlines()), err


def test_eval_refit_fits_the_stored_code_models_anew(encoder_run, capsys):
    """`aegan eval RUN --refit`: the code models stored in RUN/samplers/step_N/ are fitted again (a run keeps what
    it stored, so a change of aegan's defaults reaches an old run only so), the default chosen again; a sampler
    named with --sampler outside the candidates too."""
    assert run_cli(capsys, "eval", encoder_run, "--json", "--n", "50")[0] == 0  # fitted and stored, or read back
    folder = next((encoder_run / "samplers").iterdir())
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    code, out, _ = run_cli(capsys, "eval", encoder_run, "--json", "--n", "50", "--refit", "--sampler", "dae")
    assert code == 0 and json.loads(out)["sampler"] == "dae"
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    for name in ("gmm.safetensors", "selection.json", "dae.safetensors"):
        assert after[name] != before.get(name), name


def test_eval_refit_is_refused_for_a_run_without_code_models(grid_run, capsys):
    code, _, err = run_cli(capsys, "eval", grid_run, "--refit")
    assert code == 2 and "has none (no encoder)" in err.strip().splitlines()[-1]


def test_eval_json_keeps_the_corrupt_checkpoint_warning_off_stdout(encoder_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "a"
    shutil.copytree(encoder_run, run)
    newest = sorted((run / "checkpoints").glob("*.safetensors"))[-1]
    newest.write_bytes(b"garbage")  # the loader falls back to the checkpoint before, with a warning
    code, out, err = run_cli(capsys, "eval", run, "--json", "--n", "50")
    assert code == 0 and "older checkpoint" in err
    assert json.loads(out)["step"] < 10
