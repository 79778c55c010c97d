"""The package's shape as users meet it: a light `import aegan`, a fast `--help`, and one metrics record per step."""

from __future__ import annotations

import json
import subprocess
import sys

import aegan

HEAVY = ("torch", "lightning_fabric", "numpy", "matplotlib", "sklearn")


def _imported_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[-1].split()[1:]


def test_import_aegan_and_every_help_load_no_heavy_module():
    assert _imported_after("import aegan") == []
    for command in ("", "train", "sample", "eval", "report", "bench", "demo"):
        argv = [command, "--help"] if command else ["--help"]
        code = f"import aegan.cli\ntry:\n    aegan.cli.main({argv!r})\nexcept SystemExit:\n    pass"
        assert _imported_after(code) == [], command


def test_api_names_are_the_functions_even_after_their_modules_load():
    import aegan.evaluate  # noqa: F401  (the module of the same name, imported on purpose)
    import aegan.train  # noqa: F401

    assert callable(aegan.train) and aegan.train.__name__ == "train"
    assert callable(aegan.evaluate) and aegan.evaluate.__name__ == "evaluate"
    assert callable(aegan.load) and aegan.metrics.mode_stats and aegan.data.load


def test_metrics_jsonl_has_one_record_per_step_with_the_monitor_merged(tmp_path, tiny):
    # the monitor checks at steps 20 and 40; the log writes every 5 steps, and at 30 and 60 only by the monitor's
    # side when log_every=15 and monitor.every=20: steps where both, one or the other are due
    run = aegan.train("gan", data="ring8", steps=60, out=tmp_path / "r", seed=0,
                      overrides={**tiny, "log_every": 15, "monitor.every": 20, "monitor.probe": 100})
    records = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records]
    assert steps == sorted(set(steps)) == [15, 20, 30, 40, 45, 60]
    by_step = {r["step"]: r for r in records}
    assert "loss/D" in by_step[60] and "monitor/coverage" in by_step[60]  # both due: one record
    assert "monitor/coverage" in by_step[20] and "loss/D" not in by_step[20]  # the monitor only
    assert "loss/D" in by_step[15] and "monitor/coverage" not in by_step[15]  # the log only
    assert all("time_s" in r for r in records)
