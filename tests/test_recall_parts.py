"""benchmarks/recall.py: recall taken apart on point sets whose answers are known, and the script on a real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def recall_script(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import recall

    return recall


def cloud(n: int, scale: float, seed: int) -> torch.Tensor:
    return scale * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def test_samples_equal_to_the_data_are_precise_and_complete(recall_script):
    real = cloud(300, 1.0, 0)
    parts = recall_script.recall_parts(real, real.clone())
    assert parts["precision"] == parts["recall"] == parts["recall_precise"] == 1.0
    assert parts["radius2_fake"] == pytest.approx(parts["radius2_real"])


def test_a_few_far_samples_buy_recall_that_the_parts_do_not_count(recall_script):
    """A tight cluster (a tenth of the data's spread) plus four samples six standard deviations out: their balls
    reach back over every real point, so recall is 1; counted without them it is what the cluster alone covers (the
    trimmed reading leaves out some of the cluster's widest balls as well, so it can only be lower)."""
    real = cloud(400, 1.0, 0)
    cluster = cloud(100, 0.1, 1)
    far = torch.tensor([[6.0, 0.0], [0.0, 6.0], [-6.0, 0.0], [0.0, -6.0]])
    parts = recall_script.recall_parts(real, torch.cat([cluster, far]))
    alone = recall_script.recall_parts(real, cluster)
    assert parts["recall"] == 1.0
    assert parts["precision"] == pytest.approx(alone["precision"] * 100 / 104)  # the far four are not precise
    assert parts["recall_precise"] == pytest.approx(alone["recall"])
    assert parts["recall_trimmed"] <= alone["recall"] < 0.1
    assert alone["radius2_fake"] < 0.1 * alone["radius2_real"]  # under-dispersed


def test_the_script_reads_a_run_and_refuses_a_folder_that_is_not_one(recall_script, tmp_path, tiny, capsys):
    import aegan

    run = aegan.train("alphagan", data="digits", steps=20, out=tmp_path / "a",
                      overrides={**tiny, "code_models": "gaussian,gmm"})
    assert recall_script.main([str(tmp_path / "a"), "--n", "1000", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["sampler"] == run.default_sampler and row["step"] == 20
    for key in ("precision", "recall", "recall_precise", "recall_trimmed", "recall_recon", "precision_recon"):
        assert 0.0 <= row[key] <= 1.0, key
    assert row["recall_precise"] <= row["recall"] and row["recall_trimmed"] <= row["recall"]
    assert recall_script.main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
