"""Published numbers printed beside ours, each with its source. Typed from the papers; no offline copy of their
tables was available to cross-check them (VEEGAN's and PacGAN's tables are images in their repositories), so a
reader should check them against the papers before citing them from here.

Protocols differ from ours in networks, steps and sometimes sample counts (see the README's Benchmarks section);
these are anchors, not like-for-like rows.
"""

from __future__ import annotations

from typing import Any

VEEGAN = "VEEGAN, Srivastava et al. 2017, arXiv:1705.07761, Table 1 (2,500 samples)"
PACGAN = "PacGAN, Lin et al. 2018, arXiv:1712.04086"


def _row(source: str, method: str, data: str, modes: float, total: int, hq: float | None = None,
         kl: float | None = None, setting: str = "D=G") -> dict[str, Any]:
    return {"source": source, "method": method, "setting": setting, "data": data, "modes_covered": modes,
            "modes_total": total, "high_quality_fraction": hq, "kl_modes": kl}


PUBLISHED: dict[str, list[dict[str, Any]]] = {
    "toy": [
        _row(VEEGAN, "GAN", "ring8", 1, 8, 0.993), _row(VEEGAN, "ALI", "ring8", 2.8, 8, 0.0013),
        _row(VEEGAN, "Unrolled GAN", "ring8", 7.6, 8, 0.356), _row(VEEGAN, "VEEGAN", "ring8", 8, 8, 0.529),
        _row(VEEGAN, "GAN", "grid25", 3.3, 25, 0.005), _row(VEEGAN, "ALI", "grid25", 15.8, 25, 0.016),
        _row(VEEGAN, "Unrolled GAN", "grid25", 23.6, 25, 0.16), _row(VEEGAN, "VEEGAN", "grid25", 24.6, 25, 0.40),
        _row(f"{PACGAN}, Table 1", "GAN", "ring8", 6.3, 8),
        _row(f"{PACGAN}, Table 1", "PacGAN4", "grid25", 24.8, 25, 0.936, 0.04),
    ],
    "synthetic1200": [
        _row(f"{VEEGAN}; high quality within 10 std (our high_quality_10std)", "VEEGAN", "synthetic1200", 5.5, 10,
             0.283),
    ],
    "stacked": [
        _row(f"{PACGAN}, Table 3 (stacked MNIST, not our data)", "PacDCGAN4", "stacked MNIST", 667, 1000, None, 1.81,
             setting="D=G/4"),
    ],
}
PUBLISHED["modes"] = PUBLISHED["toy"]


def published(suite: str) -> list[dict[str, Any]]:
    """The published rows printed beside a suite's results (none for suites without an anchor)."""
    return [dict(r) for r in PUBLISHED.get(suite, [])]
