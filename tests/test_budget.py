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
    replan = next(json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()
                  if '"replan"' in line)  # the first plan, before the run re-planned from its own steps
    first = replan["steps_before"]
    assert cfg["minutes"] == 0.5 and 300 <= first <= 600  # 30 s at >= 0.05 s a step, pictures and checkpoints aside
    assert cfg["sample_every"] == cfg["checkpoint_every"] == max(1, first // 8)
    assert cfg["steps"] == replan["steps"] and cfg["replan_step"] == replan["step"] == first // 10


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


def test_replanned_steps_known_answers_and_the_held_schedule():
    """60 s of budget, 100 steps done in 10 s (0.1 s a step), the first plan 500 steps of 0.1 s with 10 s for
    pictures and checkpoints (8 of 10 s still ahead, 1 − 100/500 of them): 100 + (60 − 10 − 8) / 0.1 = 520. A run
    with almost no time left still gets 2·step + 2 steps under the cosine schedule, so the learning rates of its steps
    so far stay."""
    from aegan.config import Config
    from aegan.loop.steps import lr_at

    cfg = Config(model="gan", minutes=1.0, step_seconds=0.1, steps=500)
    cfg.optim.schedule = "constant"
    assert budget.replanned_steps(cfg, 100, 10.0) == 520
    cfg.optim.schedule, cfg.optim.hold = "cosine", 0.5
    late = budget.replanned_steps(cfg, 100, 59.5)
    assert late == 202
    before, after = Config(model="gan", steps=500), Config(model="gan", steps=late)
    for c in (before, after):
        c.optim.schedule, c.optim.hold = "cosine", 0.5
    assert all(lr_at(before, s) == lr_at(after, s) for s in range(101))
    assert budget.replan_at(5000) == 500 and budget.replan_at(300) == 30


def test_a_run_replans_its_steps_from_its_own_step_time(tmp_path, tiny, monkeypatch):
    """The start's timing claims steps three times as fast as they are: a tenth of the way in, the run re-plans once
    from its own mean step time, says so in metrics.jsonl and config.yaml, and ends near its new plan rather than
    being stopped by the clock at a third of its first one."""
    real = budget.seconds_per_step
    monkeypatch.setattr(budget, "seconds_per_step", lambda step, **kw: real(step, **kw) / 3)
    run = aegan.train("gan", data="ring8", minutes=0.1, out=tmp_path / "r", seed=0,
                      overrides={**tiny, "optim.schedule": "cosine"})
    cfg = _config(run.path)
    records = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    events = [r for r in records if r.get("event") == "replan"]
    assert len(events) == 1 and cfg["replan_step"] == events[0]["step"] == budget.replan_at(events[0]["steps_before"])
    assert events[0]["steps"] == cfg["steps"] < 0.7 * events[0]["steps_before"]
    assert run.step >= 0.9 * cfg["steps"] and records[-1]["time_s"] <= 0.1 * 60 + 1
