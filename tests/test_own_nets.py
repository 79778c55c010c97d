"""Your own networks in place of the model's: checked for the shapes the model needs (one error naming the network,
the expected and the actual shape), trained as a copy, stored as tensors only, and asked for again on load and
resume, which refuse a mismatch with one line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aegan
from aegan.checkpoint import latest

from helpers import run_readme_snippet


class MyG(nn.Module):
    """Codes (n, 8) -> points (n, 2), with a layer aegan's own G does not have (a learned output scale)."""

    def __init__(self, out: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, out))
        self.scale = nn.Parameter(torch.ones(out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z) * self.scale


class MyD(nn.Module):
    """Points (n, 2) -> logits (n, 1), with the penultimate features that feature matching needs."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2))
        self.head = nn.Linear(32, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def test_own_g_and_d_train_as_copies_and_are_asked_for_again(tmp_path, tiny):
    tiny = {**tiny, "optim.schedule": "constant"}
    torch.manual_seed(1)
    g, d = MyG(), MyD()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    run = aegan.train("gan", data="ring8", steps=10, out=tmp_path / "a", overrides=tiny, nets={"G": g, "D": d})
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())  # the user's module is untouched
    assert isinstance(run.model.nets["G"], MyG) and not torch.equal(run.model.nets["G"].scale, g.scale)
    tensors, _ = latest(tmp_path / "a" / "checkpoints")
    assert "nets.G.scale" in tensors and all(isinstance(t, torch.Tensor) for t in tensors.values())

    with pytest.raises(aegan.CheckpointError, match=r"your own D \(.*MyD\), G \(.*MyG\)"):
        aegan.load(tmp_path / "a")
    with pytest.raises(aegan.CheckpointError, match="not \\['G'\\]"):
        aegan.load(tmp_path / "a", nets={"G": MyG()})
    with pytest.raises(aegan.CheckpointError, match="does not fit network G"):
        aegan.load(tmp_path / "a", nets={"G": nn.Sequential(nn.Linear(8, 2)), "D": MyD()})
    loaded = aegan.load(tmp_path / "a", nets={"G": MyG(), "D": MyD()})
    assert torch.equal(loaded.sample(50, seed=3), run.sample(50, seed=3))

    aegan.train("gan", data="ring8", steps=20, out=tmp_path / "whole", overrides=tiny, nets={"G": g, "D": d})
    aegan.resume(tmp_path / "a", steps=20, nets={"G": MyG(), "D": MyD()})
    a, b = latest(tmp_path / "a" / "checkpoints")[0], latest(tmp_path / "whole" / "checkpoints")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)  # exact resumption with the user's modules


def test_aegan_runs_refuse_own_nets(tmp_path, tiny):
    aegan.train("gan", data="ring8", steps=5, out=tmp_path / "b", overrides=tiny)
    with pytest.raises(aegan.CheckpointError, match="trained with aegan's own networks"):
        aegan.load(tmp_path / "b", nets={"G": MyG()})


@pytest.mark.parametrize(("model", "nets", "overrides", "message"), [
    ("gan", {"G": MyG(out=3)}, {}, r"your G maps input \(2, 8\) to \(2, 3\), but gan needs \(2, 2\) from its G"),
    ("gan", {"E": MyG()}, {}, "model gan has no network 'E' to replace: its networks are G, D"),
    ("gan", {"G": lambda z: z}, {}, "is a function: give a torch.nn.Module"),
    ("gan", {"D": MyG()}, {}, r"your D fails on input of shape \(2, 2\)"),
    ("gan", {"D": MyD()}, {"tricks.spectral_norm": True}, "tricks.spectral_norm rebuilds aegan's own D"),
    ("gan", {"D": nn.Sequential(nn.Linear(2, 1))}, {"tricks.feature_matching": 1.0}, "features"),
    ("aae", {"E": nn.Linear(2, 3)}, {}, r"your E maps input \(2, 2\) to \(2, 3\), but aae needs \(2, 2\)"),
])
def test_networks_of_the_wrong_shape_are_refused_with_one_line(tmp_path, tiny, model, nets, overrides, message):
    out = tmp_path / "r"
    with pytest.raises(aegan.ConfigError, match=message):
        aegan.train(model, data="ring8", steps=5, out=out, overrides={**tiny, **overrides}, nets=nets)
    assert not out.exists()


def test_the_readme_snippet_runs(tmp_path, monkeypatch):
    run_readme_snippet("own networks", tmp_path, monkeypatch)
    assert (tmp_path / "runs" / "own" / "nets.json").read_text().startswith('{"G": "readme.MyGenerator"}')
