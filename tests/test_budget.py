"""Wall-time budgets (`--minutes`): steps planned from the measured step time, the clock as a guard, resumption."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

import aegan
from aegan.cli import main
from aegan.loop import budget

from helpers import assert_same_weights, checkpoint_steps


def _config(run_dir):
    return yaml.safe_load((run_dir / "config.yaml").read_text())


def test_budget_steps_known_answers():
    assert budget.budget_steps(1.0, 0.1) == 600
    assert budget.budget_steps(1.0, 0.1, cap=50) == 50
    assert budget.budget_steps(0.001, 10.0) == 1  # at least one step


def test_budget_is_planned_from_the_measured_step_time(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(budget, "seconds_per_step", lambda step, **kw: [step(i) for i in range(3)] and 0.05)
    run = aegan.train("gan", data="ring8", minutes=0.5, out=tmp_path / "r", seed=0, overrides=tiny)
    cfg = _config(run.path)
    assert cfg["minutes"] == 0.5 and cfg["step_seconds"] >= 0.05  # the monitor's share is added to the step
    assert cfg["steps"] <= 600 and cfg["steps"] >= 300  # 30 s at >= 0.05 s a step, pictures and checkpoints aside
    assert cfg["sample_every"] == cfg["checkpoint_every"] == max(1, cfg["steps"] // 8)


def test_the_clock_stops_the_run_with_a_final_checkpoint_and_resume_extends_the_budget(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(budget, "seconds_per_step", lambda step, **kw: 1e-6)  # claims far more steps than fit
    run = aegan.train("gan", data="ring8", minutes=0.02, out=tmp_path / "r", seed=0, overrides=tiny)
    cfg = _config(run.path)
    assert run.step < cfg["steps"]  # stopped by the clock, not by the step count
    assert checkpoint_steps(run.path)[-1] == run.step  # with a checkpoint at the step it stopped
    last = json.loads((run.path / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == run.step and last["time_s"] >= 0.02 * 60

    again = aegan.resume(run.path)  # the budget is spent: nothing to do
    assert again.step == run.step
    longer = aegan.resume(run.path, minutes=0.04)  # a larger total budget continues the run
    assert longer.step > run.step and _config(run.path)["minutes"] == 0.04


def test_a_budgeted_run_resumes_exactly(tmp_path, tiny):
    # the step cap fixes the steps whatever this machine's speed, so two runs plan the same schedule
    args = {"data": "ring8", "minutes": 5, "steps": 40, "seed": 3, "overrides": {**tiny, "checkpoint_every": 10}}
    full = aegan.train("gan", out=tmp_path / "full", **args)
    cut = aegan.train("gan", out=tmp_path / "cut", **args)
    assert _config(full.path)["steps"] == _config(cut.path)["steps"] == 40
    for step in (30, 40):  # as if killed just after the checkpoint of step 20
        for suffix in ("json", "safetensors"):
            (cut.path / "checkpoints" / f"step_{step:07d}.{suffix}").unlink()
    shutil.rmtree(cut.path / "samplers", ignore_errors=True)
    aegan.resume(cut.path)
    assert_same_weights(full.path, cut.path)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf"])
def test_bad_minutes_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, value):
    code = main(["train", "gan", "--data", "ring8", "--out", str(tmp_path / "r"), "--minutes", value])
    err = capsys.readouterr().err
    assert code == 2 and "--minutes" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
