"""Tables of scores as text: one way to write a cell, then plain-text (terminal) and Markdown layouts, and the
benchmark's mean ± std summary. The HTML layout is aegan.report's; it uses the same cells.

Standard library only, so that the command line can import it without loading NumPy or torch.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Sequence
from typing import Any

MISSING = "—"  # shown for a value a row does not have

# `aegan bench`'s summary: one row per (variant, data set, sampler), mean ± std over seeds.
SUMMARY_HEADER = ["variant", "data", "sampler", "seeds", "modes covered", "high-quality fraction", "kl_modes",
                  "train s"]

__all__ = ["MISSING", "SUMMARY_HEADER", "fmt", "is_number", "markdown_table", "mean_sd_table", "mean_spread_rows",
           "summary_rows",
           "summary_table", "text_table"]


def is_number(x: object) -> bool:
    """A real number (Python's or NumPy's), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def fmt(value: object) -> str:
    """A cell's text: ints as they are, floats to 4 significant digits (whole ones as ints), None as "—"."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def text_table(rows: list[dict[str, Any]], keys: Sequence[str]) -> str:
    """A plain-text table of `keys` over `rows`, right-aligned columns, cells by fmt."""
    cells = [[fmt(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) for v, w in zip(values, widths, strict=True))

    return "\n".join([line(list(keys)), line(["-" * w for w in widths]), *(line(c) for c in cells)])


def markdown_table(header: Sequence[str], rows: list[list[str]]) -> str:
    """A Markdown table of cells that are already text."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def _mean_sd(values: list[float], spec: str) -> str:
    return _mean_spread(values, spec, "sd")


def summary_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """One row of SUMMARY_HEADER cells per (variant, data set, sampler) of `aegan bench` results: mean ± std over
    seeds."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["variant"], r["data"], fmt(r.get("sampler"))), []).append(r)
    out = []
    for (variant, dataset, sampler), rs in groups.items():
        col = {key: [float(r[key]) for r in rs] for key in ("modes_covered", "high_quality_fraction", "kl_modes",
                                                             "train_s")}
        out.append([variant, dataset, sampler, str(len(rs)),
                    f"{_mean_sd(col['modes_covered'], '.1f')} / {rs[0]['modes_total']}",
                    _mean_sd(col["high_quality_fraction"], ".3f"), _mean_sd(col["kl_modes"], ".4f"),
                    _mean_sd(col["train_s"], ".0f")])
    return out


def _mean_spread(values: list[float], spec: str, spread: str) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):{spec}} ± {sd / math.sqrt(len(values)) if spread == 'se' else sd:{spec}}"


# formats of the keys whose values have a natural precision; others get the table's spec (3 significant digits)
KEY_SPECS = {"modes_covered": ".1f", "high_quality_fraction": ".3f", "kl_modes": ".4f", "steps": ".0f",
             "train_s": ".0f", "cover_steps": ".0f", "cover_s": ".1f", "modes_10std": ".1f",
             "high_quality_10std": ".3f", "within_mode_spread": ".2f"}


def mean_spread_rows(rows: list[dict[str, Any]], by: Sequence[str], keys: Sequence[str], spec: str | None = None,
                     spread: str = "sd") -> tuple[list[str], list[list[str]]]:
    """Header and cells: one row per distinct value of the `by` columns, `keys` as mean ± std (spread "sd") or
    mean ± standard error (spread "se") over the rows (seeds) that share it; a key no row of the group has is "—".
    `spec` formats every key; by default KEY_SPECS, else 3 significant digits."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in by), []).append(r)
    out = []
    for group, rs in groups.items():
        cells = [fmt(v) for v in group] + [str(len(rs))]
        for key in keys:
            values = [float(r[key]) for r in rs if is_number(r.get(key))]
            cells.append(_mean_spread(values, spec or KEY_SPECS.get(key, ".3g"), spread) if values else MISSING)
        out.append(cells)
    return [*by, "seeds", *keys], out


def mean_sd_table(rows: list[dict[str, Any]], by: Sequence[str], keys: Sequence[str], spec: str | None = None,
                  spread: str = "sd") -> str:
    """Markdown of mean_spread_rows."""
    return markdown_table(*mean_spread_rows(rows, by, keys, spec, spread))


def summary_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: mean ± std over seeds of each variant on each data set through each sampler."""
    return markdown_table(SUMMARY_HEADER, summary_rows(rows))
