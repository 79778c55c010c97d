"""Colour and size: 32×32 and 64×64 RGB images train, sample and report (in make test), and evaluate (marked slow:
each new data set trains its evaluator, 2,000 steps, minutes on 2 cores; benchmarks/learning.py runs them); on
colour-shapes (24 known modes) the evaluator's mode counts tell all modes from one colour's."""

from __future__ import annotations

import json

import numpy as np
import pytest

import aegan
from aegan.cli import main
from aegan.data.shapes import MODES, colour_shapes_arrays


@pytest.fixture(scope="module")
def shapes_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    x, y = colour_shapes_arrays(1600, side=32, seed=0)
    np.savez(folder / "shapes32.npz", x=x, y=y)
    return folder / "shapes32.npz"


def test_the_generator_is_deterministic_and_balanced():
    x, y = colour_shapes_arrays(2400, side=32, seed=3)
    x2, y2 = colour_shapes_arrays(2400, side=32, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert x.shape == (2400, 32, 32, 3) and x.dtype == np.uint8
    counts = np.bincount(y, minlength=MODES)
    assert counts.min() > 0.6 * 100 and counts.max() < 1.4 * 100
    red = x[(y // 4) % 3 == 0].reshape(-1, 3).astype(float)
    bright = red[red.sum(1) > 200]
    assert bright[:, 0].mean() > 2 * bright[:, 2].mean()  # red shapes are red


@pytest.mark.slow
def test_evaluator_modes_tell_every_mode_from_one_colour(shapes_file, tmp_path, capsys):
    x, y = colour_shapes_arrays(2000, side=32, seed=1)  # new draws of the same distribution
    np.save(tmp_path / "all.npy", x)
    np.save(tmp_path / "red.npy", x[(y // 4) % 3 == 0])
    scores = {}
    for name in ("all", "red"):
        assert main(["eval", "--samples", str(tmp_path / f"{name}.npy"), "--data", str(shapes_file), "--json"]) == 0
        scores[name] = json.loads(capsys.readouterr().out)
    assert scores["all"]["modes_total"] == MODES and scores["all"]["modes_covered"] >= MODES - 1
    assert scores["red"]["modes_covered"] <= MODES // 3 + 1
    assert scores["red"]["kl_modes"] > 0.8 and scores["all"]["kl_modes"] < 0.2
    assert scores["red"]["fd"] > 3 * scores["all"]["fd"]


def train_and_sample(model: str, side: int, shapes_file, tmp_path, tiny):
    data = shapes_file if side == 32 else tmp_path / "shapes64.npy"
    if side == 64:
        np.save(data, colour_shapes_arrays(300, side=64, seed=0)[0])
    run = aegan.train(model, data=str(data), steps=4, out=tmp_path / "r", overrides={**tiny, "net.width": 8})
    assert main(["sample", str(tmp_path / "r"), "--n", "16", "--out", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (16, side, side, 3) and samples.dtype == np.uint8
    assert main(["sample", str(tmp_path / "r"), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    return run


@pytest.mark.parametrize(("model", "side"), [("gan", 32), ("alphagan", 32), ("alphagan", 64)])
def test_rgb_images_train_sample_and_report(model, side, shapes_file, tmp_path, tiny):
    train_and_sample(model, side, shapes_file, tmp_path, tiny)
    assert main(["report", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.parametrize(("model", "side"), [("gan", 32), ("alphagan", 64)])
def test_rgb_images_evaluate_and_report(model, side, shapes_file, tmp_path, tiny):
    run = train_and_sample(model, side, shapes_file, tmp_path, tiny)
    scores = aegan.evaluate(run, n=200)
    assert np.isfinite(scores["fd"]) and scores["n_samples"] == 200
    assert main(["report", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").stat().st_size > 1000
