"""The benchmark's variant lists and its summary table."""

import json
import os
from pathlib import Path

import pytest
import torch

from aegan.bench import TRICKS, summary_table, variants
from aegan.errors import AeganError


def test_tricks_suite_has_each_trick_alone_all_together_and_alphagan():
    names = [v[0] for v in variants("tricks", None)]
    assert names[0] == "gan" and names[-1] == "alphagan" and "gan+all" in names
    assert all(f"gan+{t}" in names for t in TRICKS)
    all_overrides = dict(next(v for v in variants("tricks", None) if v[0] == "gan+all")[2])
    assert all_overrides == {k: v for o in TRICKS.values() for k, v in o.items()}
    assert all(any(k.startswith(f"tricks.{t}") for k in all_overrides) for t in TRICKS)


def test_modes_suite_takes_a_model_with_a_trick_such_as_the_unrolled_gan():
    chosen = variants("modes", ["gan", "gan+unroll", "aae", "veegan+pack"])
    assert chosen == [("gan", "gan", {}, 3000), ("gan+unroll", "gan", {"tricks.unroll": 5}, 3000),
                      ("aae", "aae", {}, None), ("veegan+pack", "veegan", {"tricks.pack": 4}, None)]
    assert ("gan+unroll", "gan", {"tricks.unroll": 5}, 3000) in variants("tricks", None)
    with pytest.raises(AeganError, match="unknown trick 'unrol' in 'gan\\+unrol'"):
        variants("modes", ["gan+unrol"])


def test_the_published_methods_run_at_their_stated_settings():
    """bigan and veegan in the modes suite: VEEGAN's released 2-D networks, optimiser, batch and Gaussian
    reconstructor (ALI's runs share them), λ = 0.5 from its unit-variance Gaussian likelihood."""
    (_, _, veegan, steps), (_, _, bigan, _) = variants("modes", ["veegan", "bigan"])
    assert veegan["net.latent_dim"] == 254 and veegan["net.d_depth"] == 1 and veegan["batch_size"] == 500
    assert veegan["model_args.noise"] == 1.0 and veegan["model_args.lam"] == 0.5 and steps == 20_000
    assert "model_args.lam" not in bigan and bigan["model_args.noise"] == 1.0


def test_summary_table_means_over_seeds():
    rows = [{"variant": "aae", "data": "grid25", "modes_total": 25, "modes_covered": c, "high_quality_fraction": h,
             "kl_modes": 0.01, "train_s": 40} for c, h in [(25, 0.98), (24, 0.96)]]
    table = summary_table(rows)
    assert "| aae | grid25 | — | 2 | 24.5 ± 0.7 / 25 | 0.970 ± 0.014 |" in table
    table = summary_table([{**r, "sampler": s} for r, s in zip(rows, ("prior", "gmm"), strict=True)])
    assert "| aae | grid25 | prior | 1 | 25.0 ± 0.0 / 25 | 0.980 ± 0.000 |" in table
    assert "| aae | grid25 | gmm | 1 | 24.0 ± 0.0 / 25 | 0.960 ± 0.000 |" in table


def test_unknown_suite():
    with pytest.raises(AeganError, match="unknown benchmark suite"):
        variants("speedy", None)


def test_report_of_a_bench_folder_starts_with_its_summary(tmp_path):
    import json

    from aegan.report import bench_section

    rows = [{"variant": "gan+pack", "data": "ring8", "modes_total": 8, "modes_covered": c, "high_quality_fraction": 0.5,
             "kl_modes": 0.1, "train_s": 20} for c in (8, 6)]
    assert bench_section(tmp_path) == ""  # not a bench folder
    (tmp_path / "results.json").write_text(json.dumps(rows))
    html = bench_section(tmp_path)
    assert "Benchmark: mean ± std over seeds" in html and "gan+pack" in html and "7.0 ± 1.4 / 8" in html
    (tmp_path / "results.json").write_text(json.dumps([{"something": "else"}]))
    assert "not an aegan bench result" in bench_section(tmp_path)


def test_text_and_markdown_tables_write_cells_alike():
    from aegan.tables import fmt, is_number, markdown_table, text_table

    rows = [{"a": 1, "b": 0.123456, "c": True}, {"a": None, "b": 65536.0, "c": "gmm"}]
    assert text_table(rows, ["a", "b", "c"]).splitlines() == [
        "a       b     c", "-  ------  ----", "1  0.1235  true", "—   65536   gmm"]
    assert markdown_table(["a", "b"], [[fmt(r["a"]), fmt(r["b"])] for r in rows]) == (
        "| a | b |\n|---|---|\n| 1 | 0.1235 |\n| — | 65536 |\n")
    import numpy as np

    assert [is_number(v) for v in (1, 2.5, np.float32(1), np.int64(2), True, np.bool_(True), "1", None)] == [
        True, True, True, True, False, False, False, False]


def test_mean_sd_table_groups_and_leaves_missing_keys_empty():
    from aegan.tables import mean_sd_table

    rows = [{"variant": "aae", "data": "d", "sampler": s, "fd": f, "seed": i}
            for i, (s, f) in enumerate([("gmm", 10.0), ("gmm", 14.0), ("prior", 30.0)])]
    table = mean_sd_table(rows, ("variant", "data", "sampler"), ("fd", "recall"))
    assert "| aae | d | gmm | 2 | 12 ± 2.83 | — |" in table
    assert "| aae | d | prior | 1 | 30 ± 0 | — |" in table


def test_images_suite_scores_each_run_through_its_prior_and_its_code_model(tmp_path, capsys, monkeypatch):
    import importlib

    from aegan.bench import run_bench

    rows = run_bench("images", models=["gan", "aae"], seeds=1, out=tmp_path / "b", data=("digits",),
                     minutes=0.03, n=200)
    by = {(r["variant"], r["sampler"]): r for r in rows}
    assert set(by) == {("gan", "prior"), ("aae", "prior"), ("aae", "gmm")}
    assert "fd_recon" not in by[("gan", "prior")] and by[("aae", "gmm")]["fd_recon"] > 0
    assert "recall_recon" not in by[("gan", "prior")] and 0 <= by[("aae", "gmm")]["recall_recon"] <= 1
    assert all(r["steps"] >= 1 and "fd" in r and "recall" in r and r["fd_check"] > 0 for r in rows)
    table = (tmp_path / "b" / "results.md").read_text()
    assert "| aae | digits | code model: gmm | 1 |" in table and "| fd_recon | recall_recon |" in table
    assert (tmp_path / "b" / "report.html").is_file()

    def no_scoring(*_a, **_k):
        raise AssertionError("a finished run with the same score key was scored again")

    with monkeypatch.context() as m:
        m.setattr(importlib.import_module("aegan.evaluate"), "evaluate", no_scoring)
        again = run_bench("images", models=["aae"], seeds=1, out=tmp_path / "b", data=("digits",), minutes=0.03,
                          n=200)
    assert [r["steps"] for r in again] == [by[("aae", "gmm")]["steps"]] * 2  # finished runs are reused
    assert [r["fd"] for r in again] == [by[("aae", s)]["fd"] for s in ("prior", "gmm")]  # and their scores too
    assert "scores reused" in capsys.readouterr().out
    other = run_bench("images", models=["aae"], seeds=1, out=tmp_path / "b", data=("digits",), minutes=0.03, n=150)
    assert [r["n_samples"] for r in other] == [150, 150]  # other samples: scored again
    stored = json.loads((tmp_path / "b" / "results.json").read_text())["rows"]  # the gan's stay, the aae's replaced
    assert sorted((r["variant"], r["sampler"]) for r in stored) == [("aae", "gmm"), ("aae", "prior"), ("gan", "prior")]
    assert "| gan | digits | prior | 1 |" in (tmp_path / "b" / "results.md").read_text()


def test_bad_bench_settings_are_refused_before_anything_is_written(tmp_path):
    from aegan.bench import run_bench

    out = tmp_path / "b"
    for kwargs, message in [({"suite": "modes", "minutes": 1.0}, "--minutes applies to the images and speed suites"),
                            ({"suite": "speed", "minutes": -1.0}, "--minutes must be positive"),
                            ({"suite": "images", "jobs": 0}, "--jobs must be at least 1"),
                            ({"suite": "toy", "budget": "huge"}, "unknown budget 'huge'"),
                            ({"suite": "toy", "models": ["gam"]}, "unknown model 'gam'"),
                            ({"suite": "toy", "data": ("ring9",)}, "unknown data 'ring9'"),
                            ({"suite": "stacked", "settings": ("D=G/8",)}, "unknown setting 'D=G/8'"),
                            ({"suite": "speedy"}, "unknown benchmark suite 'speedy'")]:
        with pytest.raises(AeganError, match=message):
            run_bench(out=out, **kwargs)
    assert not out.exists()


def test_images_suite_runs_jobs_at_once_and_gives_the_rows_one_job_gives(tmp_path):
    """--jobs 2: two worker processes of one thread each; the rows come back in the order one job writes them, and
    a finished run is reused by either way of running."""
    from aegan.bench import run_bench

    rows = run_bench("images", models=["gan", "ae"], seeds=1, out=tmp_path / "b", data=("digits",),
                     minutes=0.02, n=200, jobs=2)
    assert [(r["variant"], r["sampler"]) for r in rows] == [("gan", "prior"), ("ae", "prior"), ("ae", "gmm")]
    stored = json.loads((tmp_path / "b" / "results.json").read_text())["rows"]
    assert [r["fd"] for r in stored] == [r["fd"] for r in rows]
    again = run_bench("images", models=["gan", "ae"], seeds=1, out=tmp_path / "b", data=("digits",),
                      minutes=0.02, n=200)
    assert [r["fd"] for r in again] == pytest.approx([r["fd"] for r in rows], rel=1e-3)  # the same runs


def _thread_pools() -> list[tuple[str, int]]:
    import scipy.linalg  # noqa: F401  (FD's matrix square root: scipy's own OpenBLAS)
    import threadpoolctl

    return [(pool["internal_api"], pool["num_threads"]) for pool in threadpoolctl.threadpool_info()]


def test_a_worker_of_jobs_uses_one_thread_in_every_library():
    """`--jobs K` and the demo give each worker one core: numpy's and scipy's BLAS too, not only torch, or a worker
    that scores samples takes its neighbour's core (and a neighbour timing its steps for a budget plans too few)."""
    from aegan.loop.distributed import worker_pool

    with worker_pool(1) as pool:
        pools = pool.submit(_thread_pools).result()
    assert any(api == "openblas" for api, _ in pools), pools
    assert all(threads == 1 for _, threads in pools), pools


_KILLED_PARENT = """
import subprocess, time
from aegan.loop.distributed import worker_pool

pool = worker_pool(2)
futures = [pool.submit(subprocess.run, ["sleep", "120"]) for _ in range(2)]  # a task that started a process
while len(pool._processes) < 2:
    time.sleep(0.05)
print(*pool._processes, flush=True)
futures[0].result()
"""


def _alive(pid: int) -> bool:
    try:  # a zombie (ended, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_workers_end_when_the_suite_that_started_them_is_killed(signal_name):
    """A suite (or the demo) stopped by a signal that gives it no time to clean up must not leave its worker
    processes training on into run folders the next invocation uses: each worker, in the middle of its task, ends
    itself and the processes its task started once its parent is gone. Without the watch the workers outlive the
    killed parent by minutes."""
    import signal
    import subprocess
    import sys
    import time

    from aegan.loop.distributed import descendants

    parent = subprocess.Popen([sys.executable, "-c", _KILLED_PARENT], stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    started: list[int] = []
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        deadline = time.monotonic() + 120
        while not all(descendants(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)  # each worker set up (torch imported) and in the middle of its task
        started = [d for w in workers for d in descendants(w)]
        assert len(workers) == 2 and len(started) == 2, (workers, started)
        parent.send_signal(getattr(signal, signal_name))
        parent.wait(30)
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in workers + started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers + started), f"{workers} or {started} outlived their parent"
    finally:
        parent.kill()
        parent.stdout.close()
        for pid in workers + started:  # only our own: a worker's command line is Python's spawn, a task's sleep
            try:
                mine = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"multiprocessing" in mine or b"sleep" in mine:
                os.kill(pid, signal.SIGKILL)


def test_suite_lineups_and_budgets():
    """toy: the published line-up at the small budget (veegan and bigan at their stated 20,000 steps), every method
    at VEEGAN's 100,000 steps under --budget paper; stacked: every method at equal steps, in both D settings."""
    from aegan.bench import SUITES

    toy = {v[0]: v for v in variants("toy", None)}
    assert set(toy) == {"gan", "gan+pack", "gan+unroll", "bigan", "veegan", "aae", "alphagan"}
    assert toy["gan+pack"][2] == {"tricks.pack": 4} and toy["veegan"][3] == 20_000 and toy["aae"][3] is None
    assert {v[3] for v in variants("toy", None, budget="paper")} == {100_000}
    assert {v[3] for v in variants("stacked", None)} == {2000}
    assert SUITES["stacked"].settings == ("D=G", "D=G/4") and SUITES["toy"].n == 2500
    assert SUITES["toy"].spread == "se" and SUITES["synthetic1200"].data == ("synthetic1200", "grid100")
    synthetic = {v[0]: v for v in variants("synthetic1200", None)}  # the 2-D setting, shorter on 1,200-D data
    assert synthetic["veegan"][3] == 5_000 and synthetic["gan"][3] == 3000
    assert {v[3] for v in variants("synthetic1200", None, budget="paper")} == {100_000}


def test_default_seeds_follow_the_budget(tmp_path, monkeypatch):
    """3 seeds with the small budget, the papers' 5 with theirs, unless --seeds says."""
    from aegan.bench import suites

    seen = []
    monkeypatch.setattr(suites, "_mode_run", lambda *a: seen.append((a[3], a[7], a[9])) or [])
    monkeypatch.setattr(suites, "write_results", lambda out, *a, **k: (out / "results.md").write_text(""))
    for budget, seeds, want in (("small", None, 3), ("paper", None, 5), ("paper", 2, 2)):
        seen.clear()
        suites.run_bench("toy", models=["gan"], data=("ring8",), out=tmp_path / budget, budget=budget, seeds=seeds)
        assert sorted(s for _, s, _ in seen) == list(range(want))
        assert {steps for *_, steps in seen} == {3000 if budget == "small" else 100_000}
    assert suites.SUITES["speed"].seeds == 1  # its race alone is four times --minutes a seed


def test_images_suite_defaults_follow_the_budget(tmp_path, monkeypatch):
    """small: 2 minutes a run on fashion-mnist (well under an hour on 2 cores); paper: the images issue's 10 minutes
    on both data sets; --minutes and --data still say."""
    from aegan.bench import suites

    seen = []
    monkeypatch.setattr(suites, "_image_run", lambda *a: seen.append((a[2], a[6])) or [])
    monkeypatch.setattr(suites, "write_results", lambda out, *a, **k: (out / "results.md").write_text(""))
    for budget, kwargs, want in (("small", {}, {(2.0, "fashion-mnist")}),
                                 ("paper", {}, {(10.0, "fashion-mnist"), (10.0, "stacked-fashion-mnist")}),
                                 ("small", {"minutes": 10.0, "data": ("stacked-fashion-mnist",)},
                                  {(10.0, "stacked-fashion-mnist")})):
        seen.clear()
        suites.run_bench("images", models=["gan"], seeds=1, out=tmp_path / budget, budget=budget, **kwargs)
        assert set(seen) == want


def test_images_bars_draw_recall_and_coverage_with_their_spread(tmp_path, monkeypatch):
    """The images suite's bars show where the two roads differ (recall, coverage, kl_modes); other suites keep the
    first four keys of their table."""
    from aegan import plots
    from aegan.bench.results import draw_figures
    from aegan.bench.suites import SUITES

    drawn = {}
    monkeypatch.setattr(plots, "bars_png", lambda labels, panels, path, title="": drawn.update(panels) or path)
    rows = [{"variant": "gan", "sampler": "prior", "data": "fashion-mnist", "fd": fd, "fd_check": 1.0,
             "precision": 0.5, "recall": recall, "coverage": 0.4, "kl_modes": 0.01}
            for fd, recall in ((50, 0.6), (60, 0.4))]
    draw_figures(tmp_path, SUITES["images"], rows, ("variant", "sampler", "data"))
    assert list(drawn) == ["fd", "fd_check", "precision", "recall", "coverage", "kl_modes"]
    assert drawn["recall"][0] == [pytest.approx(0.5)] and drawn["recall"][1] == [pytest.approx(0.1414, abs=1e-3)]
    drawn.clear()
    draw_figures(tmp_path, SUITES["toy"], [{**rows[0], "data": "ring8", "modes_covered": 8}], ("variant", "data"))
    assert list(drawn) == ["modes_covered", "high_quality_fraction", "kl_modes"]


def test_hard_setting_gives_d_a_quarter_of_gs_width():
    from aegan import models
    from aegan.bench import SUITES
    from aegan.bench.variants import SETTINGS
    from aegan.loop.configure import make_config

    def nets(setting: str) -> tuple[list[int], int]:
        cfg, ds = make_config("gan", "stacked-digits", overrides=SETTINGS[setting])
        model = models.build_model(cfg, ds.shape)
        d_convs = [m.out_channels for m in model.nets["D"].modules() if isinstance(m, torch.nn.Conv2d)]
        return d_convs, sum(p.numel() for p in model.nets["G"].parameters())

    (d_hard, g_hard), (d_even, g_even) = nets("D=G/4"), nets("D=G")
    assert d_even[0] == 32 and d_hard[0] == 8 and len(d_hard) == len(d_even)  # D's base width 32 -> 8
    assert g_hard == g_even  # G as before
    # the stacked suite's D=G is D = G for α-GAN too, over its own stacked preset (D = G/4); the images suite trains
    # every model at its presets
    cfg, ds = make_config("alphagan", "stacked-digits", overrides=SETTINGS["D=G"])
    d = models.build_model(cfg, ds.shape).nets["D"]
    assert [m.out_channels for m in d.modules() if isinstance(m, torch.nn.Conv2d)][0] == 32
    assert SUITES["stacked"].pins_d and not SUITES["images"].pins_d
    with pytest.raises(AeganError, match="d_width"):
        make_config("gan", "stacked-digits", overrides={"net.d_width": -1})


def test_toy_suite_writes_results_json_md_and_report_and_retrains_a_run_of_another_length(tmp_path):
    from aegan.bench import run_bench

    out = tmp_path / "b"
    rows = run_bench("toy", models=["gan", "aae"], seeds=1, out=out, data=("ring8",), steps=30, n=500)
    assert [(r["variant"], r["sampler"]) for r in rows] == [("gan", "prior"), ("aae", "prior"), ("aae", "gmm")]
    assert all(len(r["mode_counts"]) == 8 and sum(r["mode_counts"]) <= 500 for r in rows)
    doc = json.loads((out / "results.json").read_text())
    assert doc["suite"] == "toy" and doc["budget"] == "small" and doc["machine"]["matmul_gflops"] > 0
    assert len(doc["rows"]) == 3 and any(r["method"] == "VEEGAN" for r in doc["published"])
    md = (out / "results.md").read_text()
    assert "mean ± standard error" in md and "| gan | ring8 | prior | 1 |" in md and "Srivastava" in md
    assert (out / "report.html").is_file() and (out / "figures" / "modes-ring8.png").is_file()
    assert {r["setting"] for r in doc["rows"]} == {"preset"}  # every model at its presets: one setting, so named
    doc["rows"][0]["setting"] = "D=G"  # as an earlier version labelled such a row
    (out / "results.json").write_text(json.dumps(doc))
    again = run_bench("toy", models=["gan"], seeds=1, out=out, data=("ring8",), steps=40, n=500)
    assert again[0]["steps"] == 40  # the 30-step run is not taken for a 40-step one
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["variant"], r["sampler"], r["setting"], r["steps"]) for r in rows] == [
        ("aae", "prior", "preset", 30), ("aae", "gmm", "preset", 30), ("gan", "prior", "preset", 40)]  # replaced


def test_synthetic1200_suite_scores_veegans_stated_rule_beside_ours(tmp_path):
    from aegan.bench import run_bench

    out = tmp_path / "b"
    rows = run_bench("synthetic1200", models=["gan"], seeds=1, out=out, data=("synthetic1200",), steps=20, n=300)
    (row,) = rows
    assert len(row["mode_counts"]) == 10 and 0 <= row["modes_10std"] <= 10
    assert 0 <= row["high_quality_10std"] <= 1 and row["within_mode_spread"] >= 0
    md = (out / "results.md").read_text()
    assert "| modes_10std | high_quality_10std |" in md and "within 10 std" in md


def test_speed_suite_times_and_counts_each_models_step_and_its_time_to_cover_grid25(tmp_path):
    """Step time, FLOPs (α-GAN's four updates cost more than the gan's two) and efficiency in (0, 1); on grid25 the
    first checkpoint (every 250 steps) whose samples cover every mode with ≥ 90% high quality, or None."""
    from aegan.bench import run_bench

    rows = run_bench("speed", models=["gan", "alphagan"], seeds=1, out=tmp_path / "b", data=("grid25",), steps=250,
                     n=500)
    by = {(r["variant"], r["sampler"]): r for r in rows}
    assert set(by) == {("gan", "prior"), ("alphagan", "prior"), ("alphagan", "gmm")}
    assert all(r["step_ms"] > 0 and 0 < r["efficiency"] < 1 and r["steps"] == 250 for r in rows)
    assert by[("alphagan", "gmm")]["step_gflop"] > 1.5 * by[("gan", "prior")]["step_gflop"] > 0
    for r in rows:
        assert r["cover_steps"] is None or (r["cover_steps"] == 250 and r["cover_s"] > 0)
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    assert doc["suite"] == "speed" and "efficiency" in doc["summary"]["header"]


def test_race_takes_the_lower_error_both_reached_and_the_seconds_each_took_to_it():
    from aegan.bench.speed import race_row, seconds_to

    ours = [(10.0, 0.30), (20.0, 0.12), (30.0, 0.08)]
    peer = [(5.0, 0.25), (15.0, 0.15), (25.0, 0.10), (35.0, 0.11)]
    assert seconds_to(ours, 0.12) == 20.0 and seconds_to(ours, 0.05) is None and seconds_to([], 1.0) is None
    row = race_row(ours, peer)
    assert row["recon_target"] == 0.10 and row["recon_s"] == 30.0 and row["peer_recon_s"] == 25.0
    assert row["recon_best"] == 0.08 and row["peer_recon_best"] == 0.10
    alone = race_row(ours, None)  # no peer here: our curve only, no target
    assert "recon_target" not in alone and alone["recon_best"] == 0.08


def test_a_finished_run_is_reused_only_with_the_recipe_its_settings_give_now(tmp_path):
    """A suite reuses a finished run, but not one trained with another recipe than its settings give today (a preset
    changed since: α-GAN's D on stacked data, a code size, a λ): that one is trained again. Bookkeeping (how often it
    logs or keeps checkpoints) is not the recipe: a run that differs only there is reused."""
    from aegan.bench.runs import finished_or_trained

    def done(run, _folder):
        return run.step >= 5

    def train(model="gan", **overrides):
        return finished_or_trained(tmp_path / model, done, model, "ring8", steps=5, seed=0,
                                   overrides={"progress": False, "net.width": 8, **overrides})

    def stamp(model="gan"):
        return (tmp_path / model / "metrics.jsonl").stat().st_mtime_ns

    first, before = train(), stamp()
    assert train(log_every=1).config.net == first.config.net and stamp() == before  # reused, not trained again
    assert train(**{"net.width": 16}).config.net.width == 16 and stamp() != before  # other networks: trained again
    train("alphagan", **{"model_args.lam": 3.0})
    before = stamp("alphagan")
    assert train("alphagan", **{"model_args.lam": 3.0}).config.model_args["lam"] == 3.0
    assert stamp("alphagan") == before  # the same λ: reused
    assert train("alphagan", **{"model_args.lam": 5.0}).config.model_args["lam"] == 5.0  # another λ: trained again
    assert stamp("alphagan") != before


def test_a_changed_model_default_retrains_a_suite_run_and_leaves_a_trained_run_as_it_ran(tmp_path, monkeypatch):
    """config.yaml records every model setting, the defaults included: after a release changes a default (here
    α-GAN's adversarial form), a suite trains its run again instead of reusing it as today's, and the old run, loaded,
    keeps the setting it trained with. Before, config.yaml held only the settings given, so both took today's."""
    from aegan.bench.runs import finished_or_trained
    from aegan.models.alphagan import AlphaGAN
    from aegan.run import Run

    def train():
        return finished_or_trained(tmp_path / "a", lambda run, _: run.step >= 5, "alphagan", "ring8", steps=5, seed=0,
                                   overrides={"progress": False, "net.width": 8})

    def stamp():
        return (tmp_path / "a" / "metrics.jsonl").stat().st_mtime_ns

    first = train()
    assert first.config.model_args == AlphaGAN.args | {"lam": 60.0}  # every setting, the vector preset's λ too
    before = stamp()
    train()
    assert stamp() == before  # nothing changed: reused
    monkeypatch.setattr(AlphaGAN, "args", AlphaGAN.args | {"adversarial": "ratio"})  # a new default
    assert Run.load(tmp_path / "a").model.arg["adversarial"] == "nonsaturating"  # the old run, as it trained
    assert train().config.model_args["adversarial"] == "ratio" and stamp() != before  # the suite: trained again


def test_stepping_through_checkpoints_fits_each_checkpoints_code_models_to_its_own_codes(tmp_path):
    """Run.checkpoints (the speed suite's time to cover): at each checkpoint the codes the code models are fitted to
    are that checkpoint's encoder's. Before, the codes of the first checkpoint scored stayed cached, so every later
    gmm was fitted to them and only the last checkpoint's, read from its samplers/ folder, was right."""
    import aegan

    run = aegan.train("aae", data="ring8", steps=60, out=tmp_path / "aae", seed=0,
                      overrides={"progress": False, "checkpoint_every": 20, "keep_checkpoints": 10})
    steps, means = [], []
    for step in run.checkpoints():
        codes = run.training_codes()
        torch.testing.assert_close(codes, run.encode_model(run.data().train[run.training_indices()]))
        gmm = run.code_sampler("gmm")
        torch.testing.assert_close(gmm.sample(4000, generator=torch.Generator().manual_seed(0)).mean(0),
                                   codes.mean(0), atol=0.1, rtol=0.1)
        steps.append(step)
        means.append(codes.mean(0))
    assert steps == [20, 40, 60] and not torch.allclose(means[0], means[-1])  # the encoder moved between them


def test_stepping_through_checkpoints_samples_each_checkpoints_moving_average(tmp_path):
    """A run with tricks.ema samples from the generator's moving average: at each checkpoint it is that
    checkpoint's, as a run loaded there would have it (not the newest one's, loaded by aegan.load)."""
    import aegan
    from aegan import checkpoint

    run = aegan.train("gan", data="ring8", steps=40, out=tmp_path / "ema", seed=0,
                      overrides={"progress": False, "checkpoint_every": 20, "keep_checkpoints": 10,
                                 "tricks.ema": 0.9})
    samples = {step: run.sample(64, seed=1) for step in run.checkpoints()}
    assert sorted(samples) == [20, 40] and not torch.equal(samples[20], samples[40])
    for record in checkpoint.list_checkpoints(tmp_path / "ema" / "checkpoints"):
        tensors, meta = checkpoint.read(record)
        if int(meta["step"]) == 20:
            checkpoint.load_weights({"G": run.model.g_ema}, tensors, prefix="ema.")
            assert torch.equal(run.sample(64, seed=1), samples[20])


def test_race_curve_scores_each_checkpoint_and_reuses_a_peer_record(tmp_path, monkeypatch):
    """aegan's side: held-out reconstruction error at checkpoints spread over a budgeted run, at their training
    seconds, falling as it trains; pythae's side read back from its race.json, or left out with the reason."""
    from aegan.bench import speed

    curve = speed.recon_curve(tmp_path / "vae", "vae", "digits", 0, {"progress": False}, 0.1, step_ms=15.0)
    times = [t for t, _ in curve]
    assert len(curve) >= 5 and times == sorted(times) and 0 < times[-1] <= 0.1 * 60 + 1
    assert curve[-1][1] < curve[0][1]
    peer_folder = tmp_path / "pythae-vae"
    peer_folder.mkdir()
    (peer_folder / "race.json").write_text(json.dumps({"minutes": 0.1, "models": {"vae": {
        "curve": [[3.0, 1, 0.4], [6.0, 2, 0.2]]}}}))
    assert speed.peer_curve(peer_folder, "vae", 0, 0.1, 0) == ([(3.0, 0.4), (6.0, 0.2)], "")
    monkeypatch.setattr(speed, "PEER_SCRIPT", tmp_path / "absent.py")
    peer, why = speed.peer_curve(peer_folder, "vae", 0, 0.2, 0)  # another budget: not reused, and no script here
    assert peer is None and "absent.py" in why


def test_summary_groups_an_encoder_models_seeds_by_road_whatever_code_model_each_seed_chose(tmp_path):
    """Seeds whose selection rule chose different code models make one "code model" row, saying which and how often;
    the rows in results.json stay as scored."""
    from aegan.bench.results import write_results
    from aegan.bench.suites import SUITES

    rows = [{"variant": "alphagan", "data": "grid25", "seed": s, "sampler": sampler, "modes_covered": m}
            for s, sampler, m in ((0, "prior", 20), (0, "gmm", 25), (1, "prior", 18), (1, "gmm", 24),
                                  (2, "prior", 19), (2, "gaussian", 23))]
    write_results(tmp_path, SUITES["toy"], rows, budget="small", figures=False)
    doc = json.loads((tmp_path / "results.json").read_text())
    summary = {tuple(r[:3]): r for r in doc["summary"]["rows"]}
    assert set(summary) == {("alphagan", "grid25", "prior"), ("alphagan", "grid25", "code model: gmm ×2, gaussian ×1")}
    coded = summary[("alphagan", "grid25", "code model: gmm ×2, gaussian ×1")]
    assert coded[3] == "3" and coded[4].startswith("24.0 ± 0.6")  # mean and standard error of 25, 24, 23
    assert [r["sampler"] for r in doc["rows"]] == ["prior", "gmm", "prior", "gmm", "prior", "gaussian"]
