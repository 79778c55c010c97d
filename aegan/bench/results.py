"""What a suite writes: DIR/results.json (the rows, the published anchors, the machine and the date), DIR/results.md
(our table beside the published one) and DIR/report.html (the same, with mode histograms, metric bars with error
bars and a sample grid of every method; then every run's own section)."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aegan.bench.published import published
from aegan.checkpoint import atomic_write_text
from aegan.report import PUBLISHED_KEYS, SPREAD_NAME, machine_line
from aegan.tables import fmt, is_number, markdown_table, mean_spread_rows

if TYPE_CHECKING:
    from aegan.bench.suites import Suite

def _stored(out: Path) -> Any:
    """What out/results.json holds (rows from before the suites, or a suite's document), None if unreadable."""
    try:
        return json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return None


def stored_rows(out: Path) -> list[dict[str, Any]]:
    """The rows an earlier invocation left in out/results.json, none when there is nothing readable there."""
    doc = _stored(out)
    rows = doc.get("rows") if isinstance(doc, dict) else doc
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def group_keys(suite: Suite) -> tuple[str, ...]:
    """The columns a suite's table groups by: the D setting only where the suite runs more than one."""
    return ("variant", "setting", "data", "sampler") if len(suite.settings) > 1 else ("variant", "data", "sampler")


def by_road(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the summary groups them: by road, not by the post-hoc sampler. A row sampled through a code model
    gets sampler "code model: NAME", or "code model: gmm ×2, gaussian ×1" when the selection rule chose differently
    across the seeds of its (variant, setting, data), so that those seeds make one row of the table; rows through
    the prior (and speed rows, "—") keep theirs. results.json keeps every row as it was scored."""
    from collections import Counter

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return r.get("variant"), r.get("setting", "D=G"), r.get("data")

    def coded(r: dict[str, Any]) -> bool:
        return r.get("sampler") not in (None, "prior", "—")

    chosen: dict[tuple[Any, ...], Counter[str]] = {}
    for r in filter(coded, rows):
        chosen.setdefault(key(r), Counter())[str(r["sampler"])] += 1
    names = {k: ", ".join(name if len(c) == 1 else f"{name} ×{n}" for name, n in c.most_common())
             for k, c in chosen.items()}
    return [{**r, "sampler": f"code model: {names[key(r)]}"} if coded(r) else r for r in rows]


def write_results(out: Path, suite: Suite, rows: list[dict[str, Any]], budget: str, figures: bool,
                  measure: bool | None = None) -> str:
    """Write results.json and results.md for `rows` (and, when `figures`, the figures and report.html); the machine
    is measured now when `measure` (default: with the figures, at the end of a suite), else kept from results.json.
    Return the Markdown table of our results."""
    from aegan.bench.machine import describe

    by, grouped = group_keys(suite), by_road(rows)
    header, cells = mean_spread_rows(grouped, by, suite.keys, spread=suite.spread)
    anchors = published(suite.name)
    fresh = figures if measure is None else measure
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join(["aegan", *sys.argv[1:]]) if Path(sys.argv[0]).name == "aegan" else None
    stored = None if fresh else _stored(out)  # a rewrite keeps the machine, date and command it had
    before = stored if isinstance(stored, dict) else {}
    machine = describe() if fresh else before.get("machine")
    doc = {"suite": suite.name, "about": suite.about, "budget": budget, "date": before.get("date") or now,
           "command": before.get("command") or command,
           "machine": machine, "spread": suite.spread, "summary": {"header": header, "rows": cells},
           "published": anchors, "rows": rows}
    atomic_write_text(out / "results.json", json.dumps(doc, indent=1, default=str))
    table = markdown_table(header, cells)
    md = [f"# aegan bench {suite.name}\n", f"{suite.about}. Budget: {budget}. {doc['date']}.\n",
          f"Machine: {machine_line(machine)}\n" if machine else "",
          f"\nCommand: `{doc['command']}`\n" if doc["command"] else "",
          f"\n## Ours: {SPREAD_NAME[suite.spread]} over seeds\n\n", table]
    if anchors:
        md += ["\n## Published (anchors, not like-for-like; see the README)\n\n",
               markdown_table(list(PUBLISHED_KEYS), [[fmt(r.get(k)) for k in PUBLISHED_KEYS] for r in anchors])]
    atomic_write_text(out / "results.md", "".join(md))
    if figures:
        draw_figures(out, suite, grouped, by)
        from aegan.report import write_report

        write_report(out)
    return table


def _groups(rows: list[dict[str, Any]], by: tuple[str, ...]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in by), []).append(r)
    return groups


def draw_figures(out: Path, suite: Suite, rows: list[dict[str, Any]], by: tuple[str, ...]) -> list[Path]:
    """DIR/figures/: per data set, bars of each key metric (mean, error bars: the suite's spread over seeds) and, on
    data with known modes, the histogram of high-quality samples over the modes (mean over seeds)."""
    from aegan.plots import bars_png, curves_png, histograms_png

    folder = out / "figures"
    for old in folder.glob("*.png") if folder.is_dir() else []:
        old.unlink()
    drawn = []
    label_keys = [k for k in by if k != "data"]
    metrics = list(suite.bars) or [k for k in suite.keys if k not in ("steps", "train_s", "code_kl")][:4]
    for dataset in dict.fromkeys(r.get("data") for r in rows):
        mine = _groups([r for r in rows if r.get("data") == dataset], tuple(label_keys))
        labels = [" ".join(str(v) for v in key if v is not None) for key in mine]
        panels = {}
        for key in metrics:
            means, errs = [], []
            for rs in mine.values():
                values = [float(r[key]) for r in rs if is_number(r.get(key))]
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                means.append(statistics.mean(values) if values else 0.0)
                errs.append(sd / len(values) ** 0.5 if suite.spread == "se" and values else sd)
            panels[key] = (means, errs)
        name = str(dataset).replace("/", "_")
        drawn.append(bars_png(labels, panels, folder / f"bars-{name}.png",
                              title=f"{dataset}: {SPREAD_NAME[suite.spread]} over seeds"))
        hists = {label: [statistics.mean(c) for c in zip(*(r["mode_counts"] for r in rs), strict=True)]
                 for label, rs in zip(labels, mine.values(), strict=True)
                 if all(isinstance(r.get("mode_counts"), list) for r in rs)}
        if hists:
            drawn.append(histograms_png(hists, folder / f"modes-{name}.png",
                                        title=f"{dataset}: high-quality samples per mode (mean over seeds)"))
        races = {label: {"aegan": [r["recon_curve"] for r in rs if r.get("recon_curve")],
                         "pythae": [r["peer_curve"] for r in rs if r.get("peer_curve")]}
                 for label, rs in zip(labels, mine.values(), strict=True) if any(r.get("recon_curve") for r in rs)}
        if races:
            drawn.append(curves_png(races, folder / f"race-{name}.png", "training seconds",
                                    "held-out reconstruction error", title=f"{dataset}: aegan against pythae"))
    return drawn
