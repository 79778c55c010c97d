"""fd, kid and PRDC in a feature network of the user's (a stand-in shipped in tests/data), fed as its attributes
ask (resized, grey repeated to RGB), named in eval.json, and able to tell a collapsed sample set from real images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import aegan
from aegan.cli import main
from aegan.data import load
from aegan.evaluate import sample_scores
from aegan.metrics import user_features

SPEC = str(Path(__file__).parent / "data" / "tiny_features.py") + ":TinyFeatures"
sys.path.insert(0, str(Path(__file__).parent / "data"))
from tiny_features import TinyFeatures  # noqa: E402


def test_images_are_fed_as_the_network_asks():
    x = torch.rand(5, 1, 8, 8) * 2 - 1  # model scale
    f = TinyFeatures()
    want = f(F.interpolate(((x + 1) / 2).expand(-1, 3, -1, -1), size=(16, 16), mode="bilinear",
                           align_corners=False))
    assert torch.allclose(user_features.embed(f, x), want)
    assert type(user_features.load(SPEC)).__name__ == "TinyFeatures"  # built from the file, without arguments


def test_user_features_tell_collapse_from_real_images():
    ds = load("digits")
    real = ds.test[:300]
    collapsed = ds.test[:1].expand(300, -1, -1, -1)
    good = sample_scores(ds, real, features=TinyFeatures())
    bad = sample_scores(ds, collapsed, features=TinyFeatures())
    assert good["features"] == "TinyFeatures"
    assert bad["fd"] > 5 * good["fd"] and bad["recall"] < good["recall"] and bad["coverage"] < good["coverage"]
    own = sample_scores(ds, real)  # the evaluator's features: another number
    assert "features" not in own and own["fd"] != good["fd"]


def test_cli_features_and_bad_specs(tmp_path, tiny, capsys):
    aegan.train("gan", data="digits", steps=5, out=tmp_path / "g", overrides=tiny)
    assert main(["eval", str(tmp_path / "g"), "--n", "200", "--features", SPEC, "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["features"] == SPEC and scores["fd"] > 0
    assert json.loads((tmp_path / "g" / "eval.json").read_text())["features"] == SPEC
    for spec, message in [("nope.py:X", "does not exist"), (SPEC.replace("TinyFeatures", "Missing"), "cannot load"),
                          ("no_colon", "give FILE.py:NAME")]:
        assert main(["eval", str(tmp_path / "g"), "--n", "200", "--features", spec]) == 2
        assert message in capsys.readouterr().err
    aegan.train("gan", data="ring8", steps=5, out=tmp_path / "v", overrides=tiny)
    with pytest.raises(aegan.AeganError, match="applies to image data"):
        aegan.evaluate(tmp_path / "v", n=200, features=TinyFeatures())


def test_the_readme_snippet_runs(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    marker = "<!-- snippet: own features (run by tests/test_user_features.py) -->"
    code = readme.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    scope = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["scores"]["features"] == "MyFeatures" and scope["scores"]["fd"] > 0
