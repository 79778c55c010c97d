"""Data handed to aegan.train as Python objects: arrays, tensors, (examples, labels) pairs and torch Datasets get the
checks and transforms of files; the run samples and evaluates without the object (its stored reference) and resumes
exactly when given the same object again, refusing another."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aegan
from aegan.checkpoint import latest
from aegan.cli import main
from aegan.data import from_array
from aegan.data.objects import from_object

from helpers import run_readme_snippet

RNG = np.random.default_rng(0)
POINTS = RNG.normal(size=(600, 3)).astype(np.float32)
IMAGES = RNG.integers(0, 256, size=(300, 8, 8)).astype(np.uint8)
LABELS = RNG.integers(0, 3, size=300)


class Pairs(torch.utils.data.Dataset):
    """200 items (x, label): x near (k, k), label k in 0..4."""

    def __len__(self) -> int:
        return 200

    def __getitem__(self, i: int):
        return torch.full((2,), float(i % 5)) + 0.1 * torch.randn(2, generator=torch.Generator().manual_seed(i)), i % 5


def weights(folder) -> dict[str, torch.Tensor]:
    return latest(folder / "checkpoints")[0]


@pytest.mark.parametrize(("data", "name"), [
    (POINTS, "ndarray(600, 3) float32"),
    (torch.from_numpy(POINTS), "Tensor(600, 3) float32"),
    ((torch.from_numpy(IMAGES), LABELS), "Tensor(300, 8, 8) uint8 with labels"),
    (Pairs(), "Pairs(200 items of (2,) float32 with labels)"),
])
def test_objects_become_the_data_sets_their_files_would(data, name):
    ds = from_object(data)
    assert ds.name == "python:" + name and len(ds.digest) == 64
    x, labels = (data if isinstance(data, tuple) else (data, None))
    if isinstance(data, Pairs):
        x = torch.stack([data[i][0] for i in range(len(data))])
        labels = np.array([data[i][1] for i in range(len(data))])
    same = from_array(np.asarray(x), labels)
    assert torch.equal(ds.train, same.train) and torch.equal(ds.test, same.test)
    assert ds.transform == same.transform
    assert (ds.labels_train is None) == (labels is None)


def test_bad_objects_are_refused_with_one_line_and_nothing_written(tmp_path, tiny):
    out = tmp_path / "r"
    cases = [({"x": 1}, "cannot train on a dict"), (np.array([[1.0, np.nan]]), "NaN"),
             ((POINTS, np.arange(5)), "labels must be 600 integers"), (np.array(["a", "b"]), "dtype")]
    for data, message in cases:
        with pytest.raises(aegan.DataError, match=message):
            aegan.train("gan", data=data, steps=5, out=out, overrides=tiny)
        assert not out.exists()


def test_an_array_run_samples_evaluates_and_resumes_exactly_without_its_name(tmp_path, tiny):
    tiny = {**tiny, "optim.schedule": "constant"}  # 10 steps then 10 more follow the same rates as 20 in one go
    whole = aegan.train("aae", data=POINTS, steps=20, out=tmp_path / "whole", overrides=tiny)
    assert whole.config.data == "python:ndarray(600, 3) float32"
    aegan.train("aae", data=POINTS, steps=10, out=tmp_path / "part", overrides=tiny)

    run = aegan.load(tmp_path / "part")  # a fresh view, the object not at hand: the stored reference serves
    assert run.sample(7).shape == (7, 3)
    scores = aegan.evaluate(run, n=200)
    assert np.isfinite(scores["recon_error_test"]) and scores["sampler"] == "gmm"
    info = json.loads((tmp_path / "part" / "data.json").read_text())
    assert info["source"] == "python" and info["digest"] == from_object(POINTS).digest
    assert torch.equal(run.data().test, from_object(POINTS).test)

    with pytest.raises(aegan.DataError, match="cannot be reloaded by name"):
        aegan.resume(tmp_path / "part", steps=20)
    with pytest.raises(aegan.DataError, match="SHA-256 differs"):
        aegan.resume(tmp_path / "part", steps=20, data=POINTS + 1)
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "20"]) == 2
    aegan.resume(tmp_path / "part", steps=20, data=POINTS.copy())
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "part")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_uint8_images_are_kept_as_uint8_and_read_back_bit_for_bit(tmp_path, tiny):
    aegan.train("gan", data=(IMAGES, LABELS), steps=5, out=tmp_path / "g", overrides=tiny)
    record = json.loads((tmp_path / "g" / "data" / "reference.json").read_text())
    assert record["meta"]["uint8"] and record["meta"]["n_train"] == 270
    ds, kept = from_object((IMAGES, LABELS)), aegan.load(tmp_path / "g").data()
    assert torch.equal(kept.test, ds.test) and torch.equal(kept.labels_test, ds.labels_test)
    assert len(kept.train) == 270 and kept.train.dtype == torch.float32
    rows = {tuple(r.tolist()) for r in ds.train.flatten(1)}
    assert all(tuple(r.tolist()) in rows for r in kept.train.flatten(1))  # a subset of the training split, exact


def test_the_readme_snippet_runs(tmp_path, monkeypatch):
    run_readme_snippet("data objects", tmp_path, monkeypatch)
    assert aegan.load(tmp_path / "runs" / "mine").step == 150
    assert (tmp_path / "runs" / "rings" / "data" / "reference.json").is_file()
