"""Pictures for run folders and reports: 2-D scatter plots, image grids (alone, or labelled side by side with
held-out originals and their reconstructions) and loss curves.

Every function writes one PNG atomically (a temporary file in the target folder, then `os.replace`),
so a reader never sees half a picture, and returns the path it wrote.

Matplotlib is used through `matplotlib.figure.Figure` and the Agg canvas directly, never through
`pyplot`: no global figure state, no GUI backend, and the caller's own pyplot backend is left alone.
Image grids use only NumPy and Pillow.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from aegan.errors import AeganError
from aegan.tables import is_number

if TYPE_CHECKING:
    import torch

    from aegan.data.base import Transform
    from aegan.models.base import Model

GRID_PADDING_PX = 2  # padding between and around cells of an image grid, in output pixels
GRID_MIN_CELL_PX = 56  # small images are upscaled (nearest) until a cell is at least this wide
GRID_PAD_VALUE = 255  # padding colour: white, which separates dark-background images (MNIST) well

__all__ = ["bars_png", "curve_series", "generate_eval", "histograms_png", "image_grid_png", "loss_curves_figure",
           "loss_curves_png", "picture", "recon_grid_png", "reconstruct_eval", "samples_and_recon_png", "scatter_png",
           "write_atomically"]


# ----------------------------------------------------------------------------------------- writing


def write_atomically(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(file)` on a temporary file next to `path`, then move it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; pictures and reports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _new_figure(width_in: float, height_in: float) -> Figure:
    """A figure with its own Agg canvas, independent of pyplot."""
    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _lay_out(fig: Figure, title: str = "") -> None:
    """Tight layout under an optional figure title. The title sits at a fixed fraction of the figure's height, so on a
    tall figure (the images suite's six panels, 19 inches) plain tight_layout put the top panel's frame through it;
    the panels get the figure's height less a title's line instead."""
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()) if title else None)


def _save_figure(fig: Figure, path: str | Path) -> Path:
    return write_atomically(path, lambda f: fig.savefig(f, format="png"))


# ----------------------------------------------------------------------------------------- benchmark figures


def bars_png(labels: list[str], panels: dict[str, tuple[list[float], list[float]]], path: str | Path,
             title: str = "") -> Path:
    """One bar panel per metric: panels maps a metric's name to (means, error half-widths), one bar per label."""
    fig = _new_figure(max(4.0, 0.45 * len(labels) + 1.5) * len(panels) ** 0.5 + 2, 3.2 * len(panels))
    for i, (name, (means, errs)) in enumerate(panels.items()):
        ax = fig.add_subplot(len(panels), 1, i + 1)
        ax.bar(range(len(labels)), means, yerr=errs, capsize=3, color="#4c72b0", ecolor="black")
        ax.set_ylabel(name)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels if i == len(panels) - 1 else [""] * len(labels), rotation=30, ha="right",
                           fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    _lay_out(fig, title)
    return _save_figure(fig, path)


def histograms_png(panels: dict[str, list[float]], path: str | Path, title: str = "") -> Path:
    """One histogram panel per label: panels maps a label to the (mean) count of samples in each mode; a dashed line
    marks the count every mode would have if the samples were spread evenly."""
    cols = min(4, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig = _new_figure(3.2 * cols, 2.4 * rows + 0.4)
    for i, (label, counts) in enumerate(panels.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.bar(range(len(counts)), counts, width=1.0, color="#55a868")
        total = sum(counts)
        if counts and total:
            ax.axhline(total / len(counts), color="black", linestyle="--", linewidth=0.8)
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
    _lay_out(fig, title)
    return _save_figure(fig, path)


def curves_png(panels: dict[str, dict[str, list[list[tuple[float, float]]]]], path: str | Path, xlabel: str,
               ylabel: str, title: str = "") -> Path:
    """One panel per title: panels maps it to {series label: curves, each a list of (x, y)}; every curve of a series
    (one per seed) in the series' colour, labelled once."""
    colours = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")
    fig = _new_figure(4.2 * len(panels), 3.4)
    for i, (name, series) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for colour, (label, curves) in zip(colours * len(series), series.items()):
            for j, curve in enumerate(curves):
                xs, ys = zip(*curve, strict=True) if curve else ((), ())
                ax.plot(xs, ys, color=colour, marker=".", markersize=3, linewidth=1, label=label if j == 0 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_yscale("log")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _lay_out(fig, title)
    return _save_figure(fig, path)


# ----------------------------------------------------------------------------------------- scatter


def _square_limits(xy: np.ndarray, margin: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y limits of equal span, covering all of `xy` (M, 2) with a relative margin."""
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    half = 0.5 * float((hi - lo).max())
    half = half * (1.0 + 2.0 * margin) if half > 0 else max(float(np.abs(lo).max()), 1.0) * 0.5
    cx, cy = 0.5 * (lo + hi)
    return (cx - half, cx + half), (cy - half, cy + half)


def _finite_xy(points: np.ndarray | None, what: str) -> np.ndarray | None:
    """The finite rows of `points`' first two columns, or None; a wrong shape is an AeganError naming `what`."""
    if points is None:
        return None
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2:
        raise AeganError(f"scatter_png expects {what}, got {points.shape}")
    return points[np.isfinite(points[:, :2]).all(axis=1), :2]


def scatter_png(
    points: np.ndarray,
    path: str | Path,
    centres: np.ndarray | None = None,
    title: str = "",
    background: np.ndarray | None = None,
    labels: tuple[str, str] = ("", ""),
) -> Path:
    """Scatter plot of 2-D points (N, D), with the true mode centres (K, D) as red crosses when given.

    background: other points (M, D) drawn in grey beneath, e.g. the held-out originals under their
    reconstructions; `labels` then names (points, background) in the legend.
    Points with more than 2 dimensions are plotted by their first two, and the title says so.
    Non-finite points (NaN, inf) are dropped and counted in the title.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2:
        raise AeganError(f"scatter_png expects points of shape (N, 2) or (N, D>2), got {points.shape}")
    notes: list[str] = []
    if points.shape[1] > 2:
        notes.append(f"first 2 of {points.shape[1]} dims")
    finite = np.isfinite(points[:, :2]).all(axis=1)
    xy = points[finite, :2]  # (N', 2)
    if not finite.all():
        notes.append(f"{int((~finite).sum())} non-finite points dropped")

    c_xy = _finite_xy(centres, "centres of shape (K, 2)")  # (K', 2)
    b_xy = _finite_xy(background, "background points of shape (M, 2)")  # (M', 2)

    fig = _new_figure(5.0, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    # `plot` with a marker style draws one Line2D, much faster than `scatter` for 10k points.
    if b_xy is not None:
        ax.plot(b_xy[:, 0], b_xy[:, 1], linestyle="none", marker="o", markersize=2.5, markeredgewidth=0,
                alpha=0.35, color="0.6", rasterized=True, label=labels[1] or None)
    ax.plot(xy[:, 0], xy[:, 1], linestyle="none", marker="o", markersize=2.5,
            markeredgewidth=0, alpha=0.35, color="tab:blue", rasterized=True, label=labels[0] or None)
    if c_xy is not None and len(c_xy):
        ax.plot(c_xy[:, 0], c_xy[:, 1], linestyle="none", marker="x", markersize=6, alpha=0.8,
                markeredgewidth=1.2, color="red", label="mode centres")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.7, markerscale=2 if b_xy is not None else 1)

    everything = np.concatenate([xy] + [p for p in (c_xy, b_xy) if p is not None], axis=0)
    if len(everything):
        xlim, ylim = _square_limits(everything)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
    ax.set_aspect("equal", adjustable="box")
    full_title = title + (f" ({'; '.join(notes)})" if notes else "")
    full_title = f"{full_title.strip()}\n{len(xy)} points" if full_title.strip() else f"{len(xy)} points"
    ax.set_title(full_title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return _save_figure(fig, path)


# -------------------------------------------------------------------------------------- image grid


def _to_uint8_nhwc(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (N, H, W, C) uint8; NaN becomes 0, values are clipped."""
    images = np.nan_to_num(np.asarray(images, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)


def _check_images(images: np.ndarray, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise AeganError(
            f"{what} expects a non-empty array (N, C, H, W) with C = 1 or 3, got shape {images.shape}"
        )
    return images


def _auto_scale(h: int, w: int, upscale: int | None) -> int:
    """The nearest-neighbour factor: `upscale`, or the smallest that makes a cell >= GRID_MIN_CELL_PX wide."""
    scale = upscale if upscale is not None else max(1, math.ceil(GRID_MIN_CELL_PX / max(h, w)))
    if scale < 1:
        raise AeganError(f"image grids: upscale must be >= 1, got {upscale}")
    return scale


def _grid_array(images: np.ndarray, ncol: int, scale: int, blank: np.ndarray | None = None) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] -> one uint8 grid (rows, cols, C), `ncol` cells a row, white padding.
    Cells where the boolean mask `blank` (N,) is set are left blank (padding colour)."""
    n, c, h, w = images.shape
    if ncol < 1:
        raise AeganError(f"image grids: nrow must be >= 1, got {ncol}")
    blank = np.zeros(n, dtype=bool) if blank is None else blank
    cells = _to_uint8_nhwc(images)  # (N, H, W, C)
    cells = cells.repeat(scale, axis=1).repeat(scale, axis=2)  # (N, H*s, W*s, C)
    ch, cw = h * scale, w * scale
    nrows = math.ceil(n / ncol)
    pad = GRID_PADDING_PX
    grid = np.full((nrows * (ch + pad) + pad, ncol * (cw + pad) + pad, c), GRID_PAD_VALUE, dtype=np.uint8)
    for i in range(n):
        if blank[i]:
            continue
        r, k = divmod(i, ncol)
        top, left = pad + r * (ch + pad), pad + k * (cw + pad)
        grid[top : top + ch, left : left + cw] = cells[i]
    return grid


def _save_array_png(grid: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 array (rows, cols, 1 or 3) as a grey or RGB PNG."""
    picture = Image.fromarray(grid[:, :, 0], mode="L") if grid.shape[2] == 1 else Image.fromarray(grid, mode="RGB")
    return write_atomically(path, lambda f: picture.save(f, format="PNG"))


def image_grid_png(
    images: np.ndarray,
    path: str | Path,
    nrow: int | None = None,
    upscale: int | None = None,
) -> Path:
    """One PNG grid of images (N, C, H, W), floats in [0, 1], C = 1 (grey) or 3 (RGB).

    nrow: images per row; None = ceil(sqrt(N)).
    upscale: integer nearest-neighbour factor; None = the smallest that makes a cell >= 56 px wide.
    Cells are separated and surrounded by 2 px of white padding.
    """
    images = _check_images(images, "image_grid_png")
    n, _, h, w = images.shape
    ncol = nrow if nrow is not None else math.ceil(math.sqrt(n))
    return _save_array_png(_grid_array(images, ncol, _auto_scale(h, w, upscale)), path)


# ------------------------------------------------------------------------------ labelled image panels

LABEL_FONT_PX = 14  # text of the labels drawn into composite pictures
LABEL_MARGIN_PX = 6  # space around a label
PANEL_GAP_PX = 24  # white space between the panels of a composite picture
RECON_ROW_LABELS = ("data", "recon.")  # left of the alternating rows of originals and reconstructions


def _font(size: int = LABEL_FONT_PX) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # a scalable font where Pillow has FreeType
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _text_size(text: str, font: Any) -> tuple[int, int]:
    """(width, height) in pixels of `text` drawn from its top left corner."""
    from PIL import ImageDraw

    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font, anchor="lt")
    return right - left, bottom - top


def _blank(height: int, width: int, channels: int) -> np.ndarray:
    return np.full((height, width, channels), GRID_PAD_VALUE, dtype=np.uint8)


def _draw_texts(canvas: np.ndarray, texts: Sequence[tuple[tuple[int, int], str]], font: Any) -> np.ndarray:
    """canvas (rows, cols, C) with each (xy, text) of `texts` drawn in black from its top left corner xy."""
    from PIL import ImageDraw

    img = Image.fromarray(canvas[:, :, 0], mode="L") if canvas.shape[2] == 1 else Image.fromarray(canvas, mode="RGB")
    draw = ImageDraw.Draw(img)
    for xy, text in texts:
        draw.text(xy, text, fill=0 if canvas.shape[2] == 1 else (0, 0, 0), font=font, anchor="lt")
    out = np.asarray(img)
    return out[:, :, None] if out.ndim == 2 else out.copy()


def _labelled(panel: np.ndarray, label: str) -> np.ndarray:
    """panel (rows, cols, C) with `label` written above it; as wide as the wider of the two."""
    font = _font()
    tw, th = _text_size(label, font)
    strip = th + 2 * LABEL_MARGIN_PX
    rows, cols, c = panel.shape
    canvas = _blank(strip + rows, max(cols, tw + 2 * LABEL_MARGIN_PX), c)
    canvas[strip:, :cols] = panel
    return _draw_texts(canvas, [((LABEL_MARGIN_PX, LABEL_MARGIN_PX), label)], font)


def _side_by_side(panels: Sequence[np.ndarray]) -> np.ndarray:
    """Panels (rows_i, cols_i, C) left to right, top-aligned, PANEL_GAP_PX apart."""
    rows = max(p.shape[0] for p in panels)
    c = panels[0].shape[2]
    width = sum(p.shape[1] for p in panels) + PANEL_GAP_PX * (len(panels) - 1)
    canvas = _blank(rows, width, c)
    left = 0
    for p in panels:
        canvas[: p.shape[0], left : left + p.shape[1]] = p
        left += p.shape[1] + PANEL_GAP_PX
    return canvas


def _recon_rows_array(originals: np.ndarray, reconstructions: np.ndarray, ncol: int, scale: int) -> np.ndarray:
    """Rows of `ncol` originals and of their reconstructions alternating (both (N, C, H, W) in [0, 1]), each row
    named in a gutter on the left (RECON_ROW_LABELS) when its cells are as high as the text."""
    n, c, h, w = originals.shape
    nrows = math.ceil(n / ncol)
    padded = np.zeros((2, nrows * ncol, c, h, w), dtype=np.float32)
    padded[0, :n], padded[1, :n] = originals, reconstructions
    cells = padded.reshape(2, nrows, ncol, c, h, w).transpose(1, 0, 2, 3, 4, 5).reshape(-1, c, h, w)
    blank = np.broadcast_to(np.arange(ncol) >= n - np.arange(nrows)[:, None, None] * ncol, (nrows, 2, ncol))
    grid = _grid_array(cells, ncol, scale, blank=blank.reshape(-1))
    font = _font(LABEL_FONT_PX - 2)
    if max(_text_size(t, font)[1] for t in RECON_ROW_LABELS) > h * scale:
        return grid  # rows too low to be named
    gutter = max(_text_size(t, font)[0] for t in RECON_ROW_LABELS) + 2 * LABEL_MARGIN_PX
    canvas = _blank(grid.shape[0], gutter + grid.shape[1], c)
    canvas[:, gutter:] = grid
    ch = h * scale + GRID_PADDING_PX
    texts = [((LABEL_MARGIN_PX, GRID_PADDING_PX + r * ch + (h * scale - _text_size(t, font)[1]) // 2), t)
             for r, t in ((r, RECON_ROW_LABELS[r % 2]) for r in range(2 * nrows))]
    return _draw_texts(canvas, texts, font)


RECON_LABEL = "held-out originals / reconstructions"


def recon_grid_png(originals: np.ndarray, reconstructions: np.ndarray, path: str | Path, ncol: int = 8,
                   upscale: int | None = None, label: str = RECON_LABEL) -> Path:
    """One PNG of images (N, C, H, W) in [0, 1] and their reconstructions (same shape): rows of `ncol` originals
    and rows of their reconstructions alternate, each row named ("data", "recon."), `label` above."""
    originals = _check_images(originals, "recon_grid_png")
    reconstructions = _check_images(reconstructions, "recon_grid_png")
    if originals.shape != reconstructions.shape:
        raise AeganError(f"recon_grid_png: originals {originals.shape} and reconstructions {reconstructions.shape} "
                         "differ in shape")
    scale = _auto_scale(*originals.shape[2:], upscale)
    return _save_array_png(_labelled(_recon_rows_array(originals, reconstructions, ncol, scale), label), path)


def samples_and_recon_png(samples: np.ndarray, originals: np.ndarray, reconstructions: np.ndarray,
                          path: str | Path, sample_label: str = "prior samples",
                          recon_label: str = RECON_LABEL) -> Path:
    """One PNG: the samples' grid (N, C, H, W) on the left, labelled `sample_label`; on the right the held-out
    originals and their reconstructions (M, C, H, W) in alternating rows as wide as the samples' grid, labelled
    `recon_label`. All images in [0, 1], of one size."""
    samples = _check_images(samples, "samples_and_recon_png")
    originals = _check_images(originals, "samples_and_recon_png")
    reconstructions = _check_images(reconstructions, "samples_and_recon_png")
    if originals.shape != reconstructions.shape or originals.shape[1:] != samples.shape[1:]:
        raise AeganError(f"samples_and_recon_png: samples {samples.shape}, originals {originals.shape} and "
                         f"reconstructions {reconstructions.shape} must hold images of one size")
    n, _, h, w = samples.shape
    ncol = math.ceil(math.sqrt(n))
    scale = _auto_scale(h, w, None)
    left = _labelled(_grid_array(samples, ncol, scale), sample_label)
    right = _labelled(_recon_rows_array(originals, reconstructions, ncol, scale), recon_label)
    return _save_array_png(_side_by_side([left, right]), path)


# ------------------------------------------------------------------------------------- loss curves


MIN_CURVE_POINTS = 2  # a series with fewer logged points is not a curve: the report shows it as a table instead


def _series(records: Sequence[dict[str, Any]], prefix: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{key: (steps, values)} for every key starting with `prefix` that has finite numbers."""
    keys = sorted({k for r in records for k in r if isinstance(k, str) and k.startswith(prefix)})
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key in keys:
        pairs = [
            (float(r["step"]), float(r[key]))
            for r in records
            if is_number(r.get("step")) and is_number(r.get(key)) and math.isfinite(float(r[key]))
        ]
        if pairs:
            steps, values = np.array(pairs).T
            out[key] = (steps, values)
    return out


def curve_series(records: Sequence[dict[str, Any]], prefix: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The series of `prefix` keys that loss_curves_png plots: those with at least MIN_CURVE_POINTS points."""
    return {k: v for k, v in _series(records, prefix).items() if len(v[0]) >= MIN_CURVE_POINTS}


def loss_curves_figure(records: Sequence[dict[str, Any]], title: str = "") -> Figure | None:
    """The figure loss_curves_png saves, or None when nothing is left to plot."""
    panels = [(name, s) for name, s in (("losses", curve_series(records, "loss/")),
                                        ("monitors", curve_series(records, "monitor/"))) if s]
    if not panels:
        return None
    steps = [float(r["step"]) for r in records if is_number(r.get("step")) and math.isfinite(float(r["step"]))]
    lo, hi = min(steps), max(steps)  # a panel exists, so some record has a step

    fig = _new_figure(7.0, 3.2 * len(panels))
    for i, (name, series) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, i + 1)
        for key, (x, values) in series.items():
            marker = "o" if len(x) < 20 else None  # a few points are easier to read with markers
            ax.plot(x, values, linewidth=1.0, marker=marker, markersize=3, label=key)
        if hi > lo:  # every panel spans the run's logged steps, not just its own points
            margin = 0.02 * (hi - lo)
            ax.set_xlim(lo - margin, hi + margin)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, linewidth=0.3, alpha=0.5)
        ax.legend(fontsize=7, loc="best", framealpha=0.7)
        if i == 0 and title:
            ax.set_title(title, fontsize=9)
    fig.axes[-1].set_xlabel("step", fontsize=8)
    fig.tight_layout()
    return fig


def loss_curves_png(records: list[dict[str, Any]], path: str | Path, title: str = "") -> Path | None:
    """Curves of every `loss/...` key against `step` (and `monitor/...` keys on a second panel).

    records: the lines of metrics.jsonl, each a dict with `step`. Keys with fewer than MIN_CURVE_POINTS logged
    values are left out (one dot is no curve), and a panel with no key left is dropped. Every panel's step axis
    spans the records' steps, first to last, so a monitor checked twice in a long run is drawn where it was
    checked. Returns None (and writes nothing) when nothing is left to plot.
    """
    fig = loss_curves_figure(records, title)
    return None if fig is None else _save_figure(fig, path)


# ------------------------------------------------------------------------------------ model samples


@contextlib.contextmanager
def _eval_mode(model: Model, nets: dict[str, torch.nn.Module]) -> Iterator[None]:
    """Every module of `model` and `nets` in eval mode (batch-norm statistics used, not updated) and no
    gradients inside; each module's own mode restored afterwards, so looking does not change training."""
    import torch

    modules = {id(m): m for root in (model, *nets.values()) for m in root.modules()}
    was_training = {key: m.training for key, m in modules.items()}
    model.eval()
    for net in nets.values():
        net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for key, m in modules.items():
            m.training = was_training[key]


def generate_eval(model: Model, nets: dict[str, torch.nn.Module], z: torch.Tensor) -> torch.Tensor:
    """G(z) on the model's scale, (n, *shape) on CPU, with the networks in eval mode (batch-norm statistics are
    used, not updated) and their modes restored afterwards, so looking at samples does not change training."""
    with _eval_mode(model, nets):
        return model.generate(z.to(model.device)).float().cpu()


def reconstruct_eval(model: Model, nets: dict[str, torch.nn.Module], x: torch.Tensor) -> torch.Tensor:
    """G(E(x)) on the model's scale, (n, *shape) on CPU, for x (n, *shape) on the model's scale; in eval mode
    like generate_eval. Models with an encoder only."""
    with _eval_mode(model, nets):
        return model.generate(model.encode(x.to(model.device))).float().cpu()


def _to_unit(x: torch.Tensor) -> np.ndarray:
    """Images on the model's scale [-1, 1] -> floats in [0, 1] for the grids."""
    return ((x.float().clamp(-1, 1) + 1) / 2).cpu().numpy()


def picture(model: Model, nets: dict[str, torch.nn.Module], z: torch.Tensor, transform: Transform, kind: str,
            modes: dict[str, Any] | None, path: Path, title: str = "", x_recon: torch.Tensor | None = None) -> Path:
    """Samples G(z) as a picture: a scatter with the mode centres for vectors, an image grid for images.

    x_recon: fixed held-out images (m, *shape) on the model's scale. For a model with an encoder on images the
    picture then holds two labelled parts side by side: the prior samples' grid, and rows of these originals
    alternating with their reconstructions G(E(x)). Ignored for vectors and for models without an encoder.
    Uses generate_eval and reconstruct_eval, so drawing a picture does not change training.
    """
    x = generate_eval(model, nets, z)
    if kind == "vector":
        centres = np.asarray(modes["centres"]) if modes else None
        return scatter_png(transform.to_data(x).numpy(), path, centres=centres, title=title)
    if x_recon is not None and len(x_recon) and model.has_encoder:
        x_rec = reconstruct_eval(model, nets, x_recon)
        return samples_and_recon_png(_to_unit(x), _to_unit(x_recon), _to_unit(x_rec), path)
    return image_grid_png(_to_unit(x), path)
