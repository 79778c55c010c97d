"""One self-contained HTML page for a run folder, or for a folder of runs.

`write_report(path)` reads the run folder contract (DESIGN §5): `config.yaml`, `metrics.jsonl`,
`eval.json`, `samples/step_NNNNNNN.png`, `data.json`, and the pictures `aegan eval` draws in `report/`
(described by `report/pictures.json`; any other `report/*.png` is shown too).
Only `config.yaml` is required; whatever else is missing is named in the page instead.

Each run's section leads with what was scored: the samples `aegan eval` scored, captioned with their sampler
and the headline numbers; then, for encoder models, prior samples beside held-out reconstructions, and latent
interpolations; then the pictures drawn while training, the curves, and the tables (eval.json, the last
training log record, config).

The page has no JavaScript and no external resources: CSS is inline and every PNG is embedded as a
base64 data URI, so the single file can be mailed or attached to an issue. All text is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from aegan.errors import AeganError
from aegan.plots import MIN_CURVE_POINTS, loss_curves_png, write_atomically
from aegan.tables import MISSING, SUMMARY_HEADER, fmt, is_number, summary_rows

REPORT_NAME = "report.html"
MAX_EARLIER_SAMPLES = 4  # earlier sample pictures shown in the strip under the latest one

# eval.json keys in the order a reader scans them (DESIGN §3); unknown numeric keys follow, sorted,
# and the bookkeeping keys come last.
EVAL_KEY_ORDER = [
    "modes_covered", "modes_total", "high_quality_fraction", "kl_modes",
    "fd", "kid", "classifier_score", "precision", "recall", "density", "coverage",
    "msssim_samples", "msssim_data", "birthday_support", "ndb", "ndb_k",
    "recon_error_test", "fd_recon", "precision_recon", "recall_recon", "code_kl",
]
EVAL_KEYS_LAST = ["n_samples", "seed", "step"]
# the numbers shown under the scored samples, where eval.json has them (the modes, when known, come first)
HEADLINE_KEYS = ["high_quality_fraction", "fd", "precision", "recall", "coverage", "kl_modes"]
# the numbers shown under the held-out reconstructions (recall_recon: what an exact code model would decode to)
RECON_KEYS = ["fd_recon", "precision_recon", "recall_recon", "recon_error_test"]

# The pictures `aegan eval` writes in RUN/report/ (aegan.evaluate.draw_pictures) and the file describing them.
SCORED_PNG, PRIOR_PNG, RECON_PNG, INTERP_PNG = "samples.png", "prior_samples.png", "reconstructions.png", \
    "interpolations.png"
EVAL_PICTURES = (SCORED_PNG, PRIOR_PNG, RECON_PNG, INTERP_PNG)
PICTURES_JSON = "pictures.json"

# what each sampler draws from, for captions; an unknown name is shown as it is
SAMPLER_TEXT = {
    "prior": "the model's prior",
    "gaussian": "a full-covariance Gaussian fitted to the encoder's codes",
    "gmm": "a Gaussian mixture fitted to the encoder's codes",
    "codegan": "a small GAN trained on the encoder's codes",
    "flow": "a normalizing flow fitted to the encoder's codes",
    "twostage": "a VAE fitted to the encoder's codes",
    "diffusion": "a denoising-diffusion model of the encoder's codes",
    "ppgn": "PPGN chains in code space",
    "mala": "MALA chains in code space",
}

_SAMPLE_NAME = re.compile(r"^step_(\d+)\.png$")

__all__ = ["write_report"]


# ------------------------------------------------------------------------------------ reading a run


@dataclass
class RunData:
    """Everything the report shows about one run folder; None or empty where a file is missing."""

    name: str
    folder: Path
    config: dict[str, Any] | None = None
    config_error: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    bad_metric_lines: int = 0
    eval: dict[str, Any] | None = None
    eval_error: str | None = None
    data_info: dict[str, Any] | None = None
    samples: list[tuple[int, Path]] = field(default_factory=list)  # (step, png), ascending step
    eval_pictures: dict[str, Path] = field(default_factory=dict)  # EVAL_PICTURES present in report/
    pictures_info: dict[str, dict[str, Any]] = field(default_factory=dict)  # report/pictures.json's "pictures"
    extra_pictures: list[Path] = field(default_factory=list)  # other report/*.png
    chains: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)  # chains/<tag>.png and its record
    missing: list[str] = field(default_factory=list)


def _read_json(path: Path) -> tuple[Any, str | None]:
    """(value, None) or (None, one-line reason it could not be read)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as e:
        return None, f"{path.name} could not be read: {e}"


def _read_config(run: RunData) -> None:
    try:
        config = yaml.safe_load((run.folder / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        run.config_error = f"config.yaml could not be read: {str(e).splitlines()[0] if str(e) else e!r}"
        return
    if isinstance(config, dict):
        run.config = config
    else:
        run.config_error = f"config.yaml is not a mapping (got {type(config).__name__})"


def _read_metrics(run: RunData) -> None:
    """Parse metrics.jsonl; a torn last line (a run still writing) or a bad line is counted, not fatal."""
    path = run.folder / "metrics.jsonl"
    if not path.is_file():
        run.missing.append("metrics.jsonl")
        return
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            run.bad_metric_lines += 1
            continue
        if isinstance(record, dict):
            run.records.append(record)
        else:
            run.bad_metric_lines += 1


def _read_eval(run: RunData) -> None:
    path = run.folder / "eval.json"
    if not path.is_file():
        run.missing.append("eval.json")
        return
    value, error = _read_json(path)
    if isinstance(value, dict):
        run.eval = value
    else:
        run.eval_error = error or "eval.json is not a JSON object"


def _read_samples(run: RunData) -> None:
    folder = run.folder / "samples"
    found = []
    if folder.is_dir():
        for png in folder.iterdir():
            match = _SAMPLE_NAME.match(png.name)
            if match and png.is_file():
                found.append((int(match.group(1)), png))
    if not found:
        run.missing.append("samples/step_*.png")
    run.samples = sorted(found)


def load_run(folder: Path) -> RunData:
    """Read one run folder (which has a config.yaml) into a RunData."""
    run = RunData(name=folder.name, folder=folder)
    _read_config(run)
    _read_metrics(run)
    _read_eval(run)
    if (folder / "data.json").is_file():
        info, _ = _read_json(folder / "data.json")
        run.data_info = info if isinstance(info, dict) else None
    else:
        run.missing.append("data.json")
    _read_samples(run)
    _read_eval_pictures(run)
    _read_chains(run)
    return run


def _read_chains(run: RunData) -> None:
    """RUN/chains/<tag>.png with <tag>.json, written by `aegan sample --sampler ppgn|mala` (aegan.run.save_chains)."""
    folder = run.folder / "chains"
    if not folder.is_dir():
        return
    for png in sorted(p for p in folder.glob("*.png") if p.is_file()):
        record, _ = _read_json(png.with_suffix(".json"))
        run.chains.append((png, record if isinstance(record, dict) else {}))


def _read_eval_pictures(run: RunData) -> None:
    folder = run.folder / "report"
    if not folder.is_dir():
        return
    pngs = sorted(p for p in folder.glob("*.png") if p.is_file())
    run.eval_pictures = {p.name: p for p in pngs if p.name in EVAL_PICTURES}
    run.extra_pictures = [p for p in pngs if p.name not in EVAL_PICTURES]
    if (folder / PICTURES_JSON).is_file():
        info, _ = _read_json(folder / PICTURES_JSON)
        pictures = info.get("pictures") if isinstance(info, dict) else None
        if isinstance(pictures, dict):
            run.pictures_info = {k: v for k, v in pictures.items() if isinstance(k, str) and isinstance(v, dict)}


def find_runs(path: Path) -> list[Path]:
    """[path] if it is a run folder, else its immediate subfolders that are runs, sorted by name."""
    if not path.is_dir():
        raise AeganError(f"report: {path} is not a folder; give a run folder or a folder of runs")
    if (path / "config.yaml").is_file():
        return [path]
    runs = sorted(p for p in path.iterdir() if p.is_dir() and (p / "config.yaml").is_file())
    if not runs:
        raise AeganError(
            f"report: no runs in {path}: neither it nor any subfolder has a config.yaml; "
            "give a run folder (made by `aegan train`) or a folder of them"
        )
    return runs


# --------------------------------------------------------------------------------- formatting values


def _name_of(value: object) -> str | None:
    """`model`/`data` may be a plain name or a mapping with a name-like field."""
    if isinstance(value, dict):
        for key in ("name", "preset", "kind", "type"):
            if isinstance(value.get(key), str):
                return value[key]
        return None
    return None if value is None else fmt(value)


def _flatten(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _eval_columns(evals: list[dict[str, Any]]) -> list[str]:
    """Numeric eval.json keys present in any run: EVAL_KEY_ORDER first, then others, then bookkeeping."""
    present = {k for e in evals for k, v in e.items() if is_number(v)}
    known = [k for k in EVAL_KEY_ORDER if k in present]
    last = [k for k in EVAL_KEYS_LAST if k in present]
    others = sorted(present - set(known) - set(last))
    return known + others + last


def _modes_text(ev: dict[str, Any]) -> str:
    covered, total = ev.get("modes_covered"), ev.get("modes_total")
    if covered is None and total is None:
        return MISSING
    return f"{fmt(covered)} / {fmt(total)}"


# -------------------------------------------------------------------------------------- HTML pieces

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; border-bottom: 1px solid #ccc; padding-top: 1em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #8a5a00; background: #fff7e6; padding: 0.3em 0.6em; border-left: 3px solid #e6a700; }
.muted { color: #777; }
figure { display: inline-block; margin: 0.4em 0.8em 0.4em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; text-align: center; }
figcaption .numbers { color: #222; font-variant-numeric: tabular-nums; }
.strip img { max-height: 160px; }
.wide { overflow-x: auto; }  /* a summary with many eval.json keys scrolls by itself, not the page */
.pair { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: flex-start; }
.pair figure { flex: 1 1 320px; max-width: calc(50% - 0.4em); margin: 0.4em 0; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(png: bytes, caption: str, alt: str = "", details: str = "") -> str:
    """A figure with the PNG embedded; `details` is a second caption line (plain text)."""
    more = f'<br><span class="numbers">{esc(details)}</span>' if details else ""
    return (f'<figure><img src="{_data_uri(png)}" alt="{esc(alt or caption)}">'
            f"<figcaption>{esc(caption)}{more}</figcaption></figure>")


def _figure_from_file(path: Path, caption: str, details: str = "") -> str:
    try:
        return _figure(path.read_bytes(), caption, details=details)
    except OSError as e:
        return f'<p class="note">{esc(path.name)} could not be read: {esc(e)}</p>'


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """A table whose cells are already text; columns from `numeric_from` on are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{esc(c)}</td>' if i >= numeric_from else f"<td>{esc(c)}</td>"
            for i, c in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


# ------------------------------------------------------------------------------------ page sections


def _run_cfg(run: RunData, key: str) -> object:
    return (run.config or {}).get(key)


def _data_label(run: RunData) -> str:
    name = _name_of(_run_cfg(run, "data")) or MISSING
    kind = (run.data_info or {}).get("kind")
    return f"{name} ({kind})" if isinstance(kind, str) else name


def summary_section(runs: list[RunData]) -> str:
    """One row per run: name, model, data, steps, the numeric eval.json keys, then the sampler."""
    evals = [r.eval or {} for r in runs]
    columns = _eval_columns(evals)
    has_modes = any(c in columns for c in ("modes_covered", "modes_total"))
    rest = [c for c in columns if c not in ("modes_covered", "modes_total")]
    has_sampler = any(isinstance(e.get("sampler"), str) for e in evals)
    header = (["run", "model", "data", "steps"] + (["modes covered / total"] if has_modes else []) + rest
              + (["sampler"] if has_sampler else []))
    rows = []
    for run, ev in zip(runs, evals, strict=True):
        row = [run.name, _name_of(_run_cfg(run, "model")) or MISSING, _data_label(run),
               fmt(_run_cfg(run, "steps"))]
        if has_modes:
            row.append(_modes_text(ev))
        row += [fmt(ev.get(c)) if is_number(ev.get(c)) else MISSING for c in rest]
        if has_sampler:
            row.append(ev["sampler"] if isinstance(ev.get("sampler"), str) else MISSING)
        rows.append(row)
    return f'<h2>Summary</h2><div class="wide">{_table(header, rows, numeric_from=3)}</div>'


def _config_html(run: RunData) -> str:
    if run.config is None:
        return _note(run.config_error or "config.yaml could not be read")
    main = [k for k in ("model", "data", "steps", "seed") if k in run.config]
    rows = [[k, fmt(_name_of(run.config[k]) if isinstance(run.config[k], dict) else run.config[k])] for k in main]
    full = yaml.safe_dump(run.config, sort_keys=False, default_flow_style=False)
    return (f"<h3>Config</h3>{_table(['field', 'value'], rows, numeric_from=2)}"
            f"<details><summary>Full config.yaml ({len(_flatten(run.config))} fields)</summary>"
            f"<pre>{esc(full)}</pre></details>")


def _eval_html(run: RunData) -> str:
    """The whole of eval.json as a table (its absence is said where the scored samples would be)."""
    if run.eval is None:
        return ""
    order = _eval_columns([run.eval])
    strings = sorted(k for k, v in run.eval.items() if not is_number(v))
    rows = [[k, fmt(run.eval[k])] for k in strings + order]
    return f"<h3>Evaluation (eval.json)</h3>{_table(['metric', 'value'], rows)}"


def _training_html(run: RunData) -> str:
    if not run.records:
        what = "metrics.jsonl is missing" if "metrics.jsonl" in run.missing else "metrics.jsonl has no records"
        return "<h3>Training log</h3>" + _note(what + ".")
    last = run.records[-1]
    keys = [k for k in last if k != "step" and is_number(last[k])]
    rows = [[k, fmt(last[k])] for k in sorted(keys, key=lambda k: (not k.startswith("loss/"), k))]
    intro = (f'<p class="muted">{len(run.records)} records; values at the last logged step '
             f"{esc(fmt(last.get('step')))}.</p>")
    bad = _note(f"{run.bad_metric_lines} line(s) of metrics.jsonl could not be parsed and were skipped.") \
        if run.bad_metric_lines else ""
    return f"<h3>Training log</h3>{intro}{bad}{_table(['key', 'value'], rows)}"


def _monitor_records(run: RunData) -> list[dict[str, Any]]:
    """The metrics.jsonl records that hold a collapse-monitor check (a numeric `monitor/...` value)."""
    return [r for r in run.records
            if any(isinstance(k, str) and k.startswith("monitor/") and is_number(v) for k, v in r.items())]


def _monitor_table_html(checks: list[dict[str, Any]]) -> str:
    """The collapse monitor's values as a table: for runs with too few checks to draw a curve."""
    keys = sorted({k for r in checks for k, v in r.items() if k.startswith("monitor/") and is_number(v)})
    rows = [[fmt(r.get("step"))] + [fmt(r[k]) if is_number(r.get(k)) else MISSING for k in keys] for r in checks]
    what = "one check" if len(checks) == 1 else f"{len(checks)} checks"
    return (f"<h3>Collapse monitor</h3><p class=\"muted\">{what}: too few to draw as a curve.</p>"
            + _table(["step"] + keys, rows, numeric_from=0))


def _loss_curves_html(run: RunData) -> str:
    if not run.records:
        return ""
    checks = _monitor_records(run)
    monitor = _monitor_table_html(checks) if 0 < len(checks) < MIN_CURVE_POINTS else ""
    with tempfile.TemporaryDirectory() as tmp:
        png = loss_curves_png(run.records, Path(tmp) / "losses.png", title=run.name)
        if png is None:
            return "<h3>Loss curves</h3>" + _note(
                f"metrics.jsonl has fewer than {MIN_CURVE_POINTS} logged values of every loss/ and monitor/ key: "
                "nothing to draw as a curve (the training log below has the last values).") + monitor
        return "<h3>Loss curves</h3>" + _figure(png.read_bytes(), "loss/ and monitor/ values against step") + monitor


# ------------------------------------------------------------------------- the pictures `aegan eval` drew


def _sampler_text(name: str) -> str:
    described = SAMPLER_TEXT.get(name)
    return f"sampler {name} ({described})" if described else f"sampler {name}"


def _picture_info(run: RunData, name: str) -> dict[str, Any]:
    return run.pictures_info.get(name, {})


def _is_vector(run: RunData) -> bool:
    return (run.data_info or {}).get("kind") == "vector"


def _headline(ev: dict[str, Any]) -> str:
    """The key numbers of eval.json on one line: modes covered / total first (when known), then HEADLINE_KEYS."""
    parts = []
    if is_number(ev.get("modes_covered")) or is_number(ev.get("modes_total")):
        parts.append(f"modes {_modes_text(ev)}")
    return " · ".join(parts + _numbers(ev, HEADLINE_KEYS))


def _numbers(ev: dict[str, Any], keys: list[str]) -> list[str]:
    """`key value` for each of `keys` that eval.json holds as a number, in that order."""
    return [f"{k} {fmt(ev[k])}" for k in keys if is_number(ev.get(k))]


def _scored_sampler(run: RunData) -> str | None:
    """The sampler of the scored samples: from report/pictures.json, else eval.json's `sampler`."""
    for where in (_picture_info(run, SCORED_PNG), run.eval or {}):
        if isinstance(where.get("sampler"), str):
            return where["sampler"]
    return None


def _scored_html(run: RunData) -> str:
    """The samples `aegan eval` scored, captioned with their sampler and the headline numbers."""
    head = "<h3>Scored samples</h3>"
    png = run.eval_pictures.get(SCORED_PNG)
    if run.eval is None:
        return head + _note(run.eval_error or "No eval.json: this run was not evaluated (run `aegan eval` on it).")
    if png is None:
        return head + _note("report/samples.png is missing: run `aegan eval` on this run to draw the samples it "
                            "scores.") + f'<p class="numbers">{esc(_headline(run.eval))}</p>'
    sampler = _scored_sampler(run)
    info = _picture_info(run, SCORED_PNG)
    n_total = info.get("of", run.eval.get("n_samples"))
    shown = f"{fmt(info['n'])} of the {fmt(n_total)} scored samples" if is_number(info.get("n")) and \
        is_number(n_total) else "the scored samples"
    step = f", step {fmt(run.eval['step'])}" if is_number(run.eval.get("step")) else ""
    tau = info.get("temperature", run.eval.get("temperature", 1))
    at = f" at temperature {fmt(tau)}" if is_number(tau) and tau != 1 else ""
    caption = f"{_sampler_text(sampler) if sampler else 'sampler unknown'}{at}: {shown}{step}"
    return head + _figure_from_file(png, caption, details=_headline(run.eval))


def _prior_caption(run: RunData) -> str:
    n = _picture_info(run, PRIOR_PNG).get("n")
    count = f"{fmt(n)} " if is_number(n) else ""
    return f"prior samples: {count}draws of {SAMPLER_TEXT['prior']}, decoded (sampler prior, not scored)"


def _recon_caption(run: RunData) -> str:
    info = _picture_info(run, RECON_PNG)
    layout = info.get("layout")  # absent in runs evaluated before pictures.json: then rows for images only
    n = f"{fmt(info['n'])} " if is_number(info.get("n")) else ""
    if layout == "overlay":
        return f"held-out reconstructions: {n}originals x (grey) and their reconstructions G(E(x)) (blue)"
    if layout == "alternating rows" or (layout is None and not _is_vector(run)):
        return f"held-out reconstructions: rows of {n}originals x alternate with their reconstructions G(E(x))"
    return "held-out reconstructions G(E(x))"


def _interp_caption(run: RunData) -> str:
    info = _picture_info(run, INTERP_PNG)
    pairs, steps = info.get("pairs"), info.get("steps")
    if _is_vector(run):
        how = f" ({fmt(pairs)} pairs, {fmt(steps)} points each)" if is_number(pairs) and is_number(steps) else ""
        return f"decoded latent interpolations between held-out pairs{how}"
    how = f" in {fmt(steps)} steps" if is_number(steps) else ""
    return f"decoded latent interpolations: each row goes from E(a) to E(b) of a held-out pair{how}"


def _eval_pictures_html(run: RunData) -> str:
    """Scored samples; prior samples beside held-out reconstructions; interpolations; other report/ pictures."""
    out = _scored_html(run)
    pair = []
    if PRIOR_PNG in run.eval_pictures:
        pair.append(_figure_from_file(run.eval_pictures[PRIOR_PNG], _prior_caption(run)))
    if RECON_PNG in run.eval_pictures:
        numbers = " · ".join(_numbers(run.eval or {}, RECON_KEYS))
        pair.append(_figure_from_file(run.eval_pictures[RECON_PNG], _recon_caption(run), details=numbers))
    if pair:
        title = "Prior samples and reconstructions" if len(pair) == 2 else (
            "Prior samples" if PRIOR_PNG in run.eval_pictures else "Reconstructions")
        out += f'<h3>{title}</h3><div class="pair">{"".join(pair)}</div>'
    if INTERP_PNG in run.eval_pictures:
        out += "<h3>Interpolations</h3>" + _figure_from_file(run.eval_pictures[INTERP_PNG], _interp_caption(run))
    if run.chains:
        out += ("<h3>Chains in code space</h3><p class=\"muted\">Each row is one chain, decoded from its start (left) "
                "to the step where it stopped (right).</p>" + "".join(_figure_from_file(p, _chain_caption(p, r))
                                                                         for p, r in run.chains))
    if run.extra_pictures:
        out += "<h3>More pictures</h3>" + "".join(_figure_from_file(p, p.stem) for p in run.extra_pictures)
    return out


def _chain_caption(png: Path, record: dict[str, Any]) -> str:
    """What a chain strip shows: sampler, condition, steps, why the chains stopped, acceptance."""
    if not record:
        return f"{png.stem} (its record {png.stem}.json is missing)"
    what = f"class {record['label']}" if record.get("label") is not None else f"cluster {record.get('cluster')}"
    text = f"{record.get('sampler', '?')} chains conditioned on {what}"
    if isinstance(record.get("mean_steps"), (int, float)):
        text += f", stopped after {record['mean_steps']:.0f} steps on average"
    reasons = record.get("reasons")
    if isinstance(reasons, list) and reasons:
        text += f" ({reasons[0]})"
    if isinstance(record.get("mean_acceptance"), (int, float)):
        text += f", acceptance {record['mean_acceptance']:.2f}"
    return text


# ---------------------------------------------------------------------------- pictures drawn in training


def _earlier_samples(samples: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
    """Up to MAX_EARLIER_SAMPLES of the samples before the latest, spread evenly, first one included."""
    earlier = samples[:-1]
    if len(earlier) <= MAX_EARLIER_SAMPLES:
        return earlier
    picks = np.linspace(0, len(earlier) - 1, MAX_EARLIER_SAMPLES).round().astype(int)
    return [earlier[i] for i in sorted(set(picks.tolist()))]


def _samples_html(run: RunData) -> str:
    head = "<h3>Training-time pictures</h3>"
    if not run.samples:
        return head + _note("No sample pictures: samples/ has no step_*.png files.")
    sampler = _scored_sampler(run)
    differs = " (not the scored sampler, so they can look unlike the scored samples above)" \
        if sampler not in (None, "prior") else ""
    recon = " A picture labelled so also holds held-out originals and their reconstructions." \
        if RECON_PNG in run.eval_pictures and not _is_vector(run) else ""
    intro = (f'<p class="muted">Drawn while training, each time from the same fixed draws of '
             f"{SAMPLER_TEXT['prior']}{esc(differs)}.{recon}</p>")
    step, latest = run.samples[-1]
    out = head + intro + _figure_from_file(latest, f"step {step} (latest)")
    earlier = _earlier_samples(run.samples)
    if earlier:
        figures = "".join(_figure_from_file(p, f"step {s}") for s, p in earlier)
        out += f'<div class="strip"><p class="muted">Earlier samples:</p>{figures}</div>'
    return out


def run_section(run: RunData) -> str:
    """Heading, what is missing; what was scored (scored samples, prior samples and reconstructions,
    interpolations); the pictures drawn in training; curves; then eval.json, the training log and the config."""
    model = _name_of(_run_cfg(run, "model")) or MISSING
    subtitle = f"— {model} on {_data_label(run)}"
    heading = f'<h2 id="{esc(run.name)}">{esc(run.name)} <span class="muted">{esc(subtitle)}</span></h2>'
    missing = _note("Missing from this run folder: " + ", ".join(run.missing) + ".") if run.missing else ""
    return "".join([
        f"<section>{heading}{missing}",
        _eval_pictures_html(run), _samples_html(run), _loss_curves_html(run),
        _eval_html(run), _training_html(run), _config_html(run),
        "</section>",
    ])


def bench_section(path: Path) -> str:
    """The section of an `aegan bench` folder from its results.json, or "" for other folders: a suite's results
    (aegan.bench.results) with the machine, the published anchors, the figures and a sample grid per method, or
    the mean ± std table of an older list of rows."""
    doc, problem = _read_json(path / "results.json")
    if problem or not doc:
        return ""
    if isinstance(doc, dict) and isinstance(doc.get("summary"), dict):
        return _suite_section(path, doc)
    if not isinstance(doc, list):
        return ""
    try:
        table = _table(SUMMARY_HEADER, summary_rows(doc), numeric_from=3)
    except (KeyError, TypeError, ValueError):
        return _note("results.json is not an aegan bench result; its summary is left out.")
    return f"<h2>Benchmark: mean ± std over seeds</h2>{table}"


# what a bench suite's results show (aegan.bench.results writes them; the report and results.md read these)
SPREAD_NAME = {"se": "mean ± standard error", "sd": "mean ± std"}
PUBLISHED_KEYS = ("source", "method", "setting", "data", "modes_covered", "modes_total", "high_quality_fraction",
                  "kl_modes")


def machine_line(m: dict[str, Any]) -> str:
    """A benchmark machine in one line: CPU, cores, memory, torch and its threads, the matmul rate, the platform."""
    return (f"{m.get('cpu')}, {m.get('usable_cores') or m.get('cores')} cores, {m.get('memory_gib')} GiB, "
            f"torch {m.get('torch')} ({m.get('torch_threads')} threads), fp32 matmul {m.get('matmul_gflops')} GFLOP/s, "
            f"{m.get('platform')}")


def _suite_section(path: Path, doc: dict[str, Any]) -> str:
    summary, machine = doc["summary"], doc.get("machine") or {}
    spread = SPREAD_NAME.get(doc.get("spread"), SPREAD_NAME["sd"])
    parts = [f'<h2>Benchmark: {esc(doc.get("suite"))}</h2>',
             f'<p>{esc(doc.get("about", ""))}. Budget: {esc(doc.get("budget"))}. {esc(doc.get("date", ""))}.</p>']
    if machine:
        parts.append(f'<p class="numbers">Machine: {esc(machine_line(machine))}</p>')
    if doc.get("command"):
        parts.append(f"<p><code>{esc(doc['command'])}</code></p>")
    header, rows = summary.get("header", []), summary.get("rows", [])
    labels = sum(1 for h in header if h in ("variant", "setting", "data", "sampler"))
    parts.append(f"<h3>Ours: {spread} over seeds</h3>"
                 f'<div class="wide">{_table([str(h) for h in header], rows, numeric_from=labels)}</div>')
    anchors = [r for r in doc.get("published") or [] if isinstance(r, dict)]
    if anchors:
        keys = list(PUBLISHED_KEYS)
        parts.append("<h3>Published (anchors, not like-for-like)</h3>"
                     f'<div class="wide">{_table(keys, [[fmt(r.get(k)) for k in keys] for r in anchors], 4)}</div>')
    figures = sorted((path / "figures").glob("*.png")) if (path / "figures").is_dir() else []
    if figures:
        parts.append("<h3>Figures</h3>" + "".join(_figure_from_file(f, f.stem) for f in figures))
    grids = _suite_sample_grids(path, [r for r in doc.get("rows") or [] if isinstance(r, dict)])
    if grids:
        parts.append(f'<h3>Samples (seed 0, each method\'s last training picture)</h3><div>{grids}</div>')
    return "".join(parts)


def _suite_sample_grids(path: Path, rows: list[dict[str, Any]]) -> str:
    """The last sample picture of each seed-0 run named in the rows, captioned with its variant and data."""
    out, seen = [], set()
    for r in rows:
        run = r.get("run")
        if r.get("seed") != 0 or not isinstance(run, str) or run in seen:
            continue
        seen.add(run)
        pictures = sorted((path / run / "samples").glob("step_*.png")) if (path / run / "samples").is_dir() else []
        if pictures:
            caption = " ".join(str(r.get(k)) for k in ("variant", "setting", "data") if r.get(k))
            out.append(_figure_from_file(pictures[-1], caption, details=f"{run}, prior samples while training"))
    return "".join(out)


def render(path: Path, runs: list[RunData], folder_of_runs: bool) -> str:
    title = f"aegan report: {path.name or path}"
    body = (bench_section(path) + summary_section(runs)) if folder_of_runs else ""
    body += "".join(run_section(r) for r in runs)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><h1>{esc(title)}</h1>{body}</body></html>\n")


# ----------------------------------------------------------------------------------------- entry point


def write_report(path: str | Path) -> Path:
    """Write `path/report.html` for a run folder, or for a folder whose subfolders are runs; return its path.

    A folder is a run when it holds config.yaml. For a folder of runs the page starts with a summary table.
    Raises AeganError if `path` is neither a run nor holds any run.
    """
    path = Path(path).resolve()
    run_folders = find_runs(path)
    folder_of_runs = run_folders != [path]
    runs = [load_run(f) for f in run_folders]
    page = render(path, runs, folder_of_runs)

    return write_atomically(path / REPORT_NAME, lambda f: f.write(page.encode("utf-8")))
