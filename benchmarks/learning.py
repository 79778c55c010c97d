"""Learning benchmark: the slow tests, the ones that train for minutes, run and timed on this machine.

    .venv/bin/python benchmarks/learning.py              # every test marked slow: about 2 min on 2 idle cores
    .venv/bin/python benchmarks/learning.py -k fashion   # only those whose name matches (pytest's -k)
    .venv/bin/python benchmarks/learning.py --cached     # reuse the evaluators cached in $AEGAN_CACHE (.cache/)
    .venv/bin/python benchmarks/learning.py --no-save    # print the JSON, write no results file

`make test` leaves out the tests marked `@pytest.mark.slow` (pyproject: addopts = "-m 'not slow'"): they take
minutes on a 2-core machine: the fashion-mnist evaluator trained from scratch and reaching 90% held-out accuracy,
real fashion-mnist images scoring like data while collapsed sets score clearly worse in its features, and prdc's
published 10,000 × 1000-D example. This script runs them in one process (`pytest -m slow -p no:xdist`) and exits
with pytest's code: 0 when every one passed. The durations are measurements, never assertions. By default the
evaluators are trained anew in a temporary cache, so that every run measures the same work; `--cached` reads them
from $AEGAN_CACHE (the tests' default: the checkout's .cache/) when they are there.

Measured (2-core AMD EPYC, fresh cache, other processes ~0 cores): 105 s and 137 s in two runs, of which 80 s and
109 s trained the fashion-mnist evaluator (learning-20261202-044809.json is the second run); prdc's example 6-7 s.

One JSON object goes to stdout and to benchmarks/results/learning-<YYYYmmdd-HHMMSS>.json:

| field | meaning |
|---|---|
| `tests` | per test (pytest node id): `outcome` (passed, failed, error, skipped), `seconds` (setup, call, teardown) |
| `passed`, `failed`, `error`, `skipped`, `exit_code` | totals, and pytest's exit code |
| `wall_s` | the whole pytest run, start-up and evaluator training included |
| `fresh_cache` | true: evaluators trained anew in a temporary cache; false (`--cached`): read from $AEGAN_CACHE |
| `other_processes_cores` | CPU cores other processes used meanwhile (/proc/stat): above ~0.2 the times are inflated |
| `load_average`, `machine`, `date` | where and when it ran |
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.lower().startswith("model name"))
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (/proc/stat: all but idle and iowait)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def outcomes(junit: Path) -> dict[str, dict[str, Any]]:
    """{node id: {outcome, seconds}} from pytest's JUnit XML (its times are setup + call + teardown)."""
    tests: dict[str, dict[str, Any]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        node = f"{module}.py::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcome = ("failed" if "failure" in kinds else "error" if "error" in kinds else
                   "skipped" if "skipped" in kinds else "passed")
        tests[node] = {"outcome": outcome, "seconds": round(float(case.get("time", 0.0)), 1)}
    return tests


def run(select: str | None, cached: bool) -> dict[str, Any]:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if not cached:
            env["AEGAN_CACHE"] = str(Path(tmp) / "cache")
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-m", "slow", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
               "-o", "junit_family=xunit1", f"--junitxml={junit}", "tests"]
        if select:
            cmd += ["-k", select]
        print("learning:", " ".join(cmd[1:]), file=sys.stderr, flush=True)
        t0, busy0, own0 = time.perf_counter(), busy_seconds(), os.times()
        code = subprocess.run(cmd, cwd=ROOT, env=env, stdout=sys.stderr).returncode  # pytest's report: stderr
        wall, busy1, own1 = time.perf_counter() - t0, busy_seconds(), os.times()
        tests = outcomes(junit) if junit.is_file() else {}
    other = None
    if busy0 is not None and busy1 is not None:
        own = (own1.children_user + own1.children_system) - (own0.children_user + own0.children_system)
        other = round(max(0.0, (busy1 - busy0 - own) / wall), 2)
    count = {k: sum(t["outcome"] == k for t in tests.values()) for k in ("passed", "failed", "error", "skipped")}
    return {"benchmark": "learning", "tests": tests, **count, "exit_code": code, "wall_s": round(wall, 1),
            "fresh_cache": not cached,
            "other_processes_cores": other, "load_average": os.getloadavg()[0], "machine": machine(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-k", dest="select", help="only the slow tests whose name matches this pytest -k expression")
    p.add_argument("--cached", action="store_true", help="read evaluators from $AEGAN_CACHE instead of training them")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/learning-*.json")
    args = p.parse_args(argv)
    result = run(args.select, args.cached)
    text = json.dumps(result, indent=1)
    print(text)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"learning-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
        path.write_text(text + "\n")
        print(f"learning: wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
