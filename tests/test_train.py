"""The loop end to end: the run folder, exact resumption (also after SIGKILL), image data, the Python API."""

import json
import subprocess
from itertools import pairwise

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import aegan
from aegan import checkpoint

from conftest import fashion_available
from helpers import CLI_TRAIN, assert_same_weights, kill_after_checkpoint


def test_run_folder_contents(tmp_path, tiny):
    run = aegan.train("gan", data="ring8", steps=40, out=tmp_path / "r", overrides=tiny)
    d = tmp_path / "r"
    assert (d / "config.yaml").is_file() and (d / "data.json").is_file()
    assert list((d / "samples").glob("step_*.png")) and list((d / "tensorboard").iterdir())
    records = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert all("loss/D" in r and "loss/G" in r for r in records)
    assert not list(d.rglob("*.pt")) and not list(d.rglob("*.pkl"))  # no pickles anywhere
    assert run.step == 40 and run.sample(100).shape == (100, 2)
    scores = aegan.evaluate(aegan.load(d), n=500)
    assert scores["modes_total"] == 8 and scores["n_samples"] == 500 and scores["step"] == 40
    assert json.loads((d / "eval.json").read_text()) == scores


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, tiny):
    tiny.update({"checkpoint_every": 10, "sample_every": 10})
    aegan.train("gan", data="ring8", steps=60, out=tmp_path / "full", seed=4, overrides=tiny)
    aegan.train("gan", data="ring8", steps=30, out=tmp_path / "cut", seed=4, overrides=tiny)
    aegan.resume(tmp_path / "cut", steps=60)
    assert_same_weights(tmp_path / "full", tmp_path / "cut")
    steps = [json.loads(line)["step"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 60


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    overrides = {"progress": False, "net.width": 32, "checkpoint_every": 20, "log_every": 10, "sample_every": 400}
    args = ["gan", "--data", "ring8", "--steps", "400", "--seed", "1",
            *(f"{k}={str(v).lower()}" for k, v in overrides.items())]
    aegan.train("gan", data="ring8", steps=400, seed=1, out=tmp_path / "full", overrides=overrides)  # in-process
    last = kill_after_checkpoint([*CLI_TRAIN, *args, "--out", str(tmp_path / "cut")], tmp_path / "cut", 60)
    assert last < 400, "the run finished before it could be killed"
    r = subprocess.run([*CLI_TRAIN, "--resume", str(tmp_path / "cut")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert_same_weights(tmp_path / "full", tmp_path / "cut")
    steps = [json.loads(line)["step"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert all(b > a for a, b in pairwise(steps)) and steps[-1] == 400


def test_corrupt_newest_checkpoint_falls_back_to_previous(tmp_path, tiny, capsys):
    tiny["checkpoint_every"] = 10
    aegan.train("gan", data="ring8", steps=30, out=tmp_path / "r", overrides=tiny)
    newest = checkpoint.list_checkpoints(tmp_path / "r" / "checkpoints")[-1].with_suffix(".safetensors")
    newest.write_bytes(newest.read_bytes()[:-7] + b"garbage")
    run = aegan.load(tmp_path / "r")
    assert run.step == 20
    assert "corrupt" in capsys.readouterr().err  # a warning, on stderr: stdout may carry data


def test_image_data_trains_and_writes_a_grid(tmp_path, tiny):
    run = aegan.train("gan", data="digits", steps=6, out=tmp_path / "d", overrides=tiny)
    x = run.sample(10)
    assert x.shape == (10, 1, 8, 8) and x.min() >= 0 and x.max() <= 16  # digits' own units
    from PIL import Image

    png = sorted((tmp_path / "d" / "samples").glob("*.png"))[-1]
    assert Image.open(png).size[0] > 8 * 8  # a grid of upscaled 8x8 images


@pytest.mark.skipif(not fashion_available(), reason="fashion-mnist idx files not installed")
def test_fashion_mnist_step(tmp_path, tiny):
    run = aegan.train("gan", data="fashion-mnist", steps=3, out=tmp_path / "f", overrides=tiny)
    assert run.sample(4).shape == (4, 1, 28, 28)


def test_user_npy_samples_come_back_in_user_units_and_layout(tmp_path, tiny):
    rng = np.random.default_rng(0)
    imgs = (rng.random((40, 8, 8, 3)) * 255).astype(np.uint8)  # NHWC uint8
    np.save(tmp_path / "imgs.npy", imgs)
    run = aegan.train("gan", data=str(tmp_path / "imgs.npy"), steps=3, out=tmp_path / "u", overrides=tiny)
    assert run.sample(5).shape == (5, 8, 8, 3)
    arr = run.transform.to_array(run.sample_model(5))
    assert arr.dtype == np.uint8 and arr.shape == (5, 8, 8, 3)


def test_existing_run_folder_is_not_overwritten(tmp_path, tiny):
    aegan.train("gan", data="ring8", steps=5, out=tmp_path / "r", overrides=tiny)
    before = (tmp_path / "r" / "metrics.jsonl").read_bytes()
    with pytest.raises(aegan.AeganError, match="already exists"):
        aegan.train("gan", data="ring8", steps=5, out=tmp_path / "r", overrides=tiny)
    assert (tmp_path / "r" / "metrics.jsonl").read_bytes() == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(aegan.AeganError, match="not an aegan run folder"):
        aegan.train("gan", data="ring8", steps=5, out=tmp_path / "mine", overrides=tiny, overwrite=True)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_resume_with_tricks_restores_their_state(tmp_path, tiny):
    tiny.update({"checkpoint_every": 10, "tricks.ema": 0.9, "tricks.historical_averaging": 0.1, "tricks.r1": 1.0,
                 "tricks.r1_every": 3, "tricks.label_smoothing": 0.9})
    aegan.train("gan", data="ring8", steps=20, out=tmp_path / "full", seed=2, overrides=tiny)
    aegan.train("gan", data="ring8", steps=10, out=tmp_path / "cut", seed=2, overrides=tiny)
    aegan.resume(tmp_path / "cut", steps=20)
    assert_same_weights(tmp_path / "full", tmp_path / "cut")
    last = checkpoint.list_checkpoints(tmp_path / "cut" / "checkpoints")[-1].with_suffix(".safetensors")
    keys = load_file(last).keys()
    assert any(k.startswith("ema.G.") for k in keys) and any(k.startswith("ha.D.") for k in keys)
    run = aegan.load(tmp_path / "cut")
    assert run.model.g_ema is not None  # sampling uses the moving average
    ema = {k[len("ema.G."):]: v for k, v in load_file(last).items() if k.startswith("ema.G.")}
    for k, v in run.model.g_ema.state_dict().items():
        torch.testing.assert_close(v, ema[k])
