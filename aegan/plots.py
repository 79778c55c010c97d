"""Pictures for run folders and reports: 2-D scatter plots, image grids and loss curves.

Every function writes one PNG atomically (a temporary file in the target folder, then `os.replace`),
so a reader never sees half a picture, and returns the path it wrote.

Matplotlib is used through `matplotlib.figure.Figure` and the Agg canvas directly, never through
`pyplot`: no global figure state, no GUI backend, and the caller's own pyplot backend is left alone.
Image grids use only NumPy and Pillow.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
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

__all__ = ["generate_eval", "image_grid_png", "loss_curves_png", "picture", "scatter_png", "write_atomically"]


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


def _save_figure(fig: Figure, path: str | Path) -> Path:
    return write_atomically(path, lambda f: fig.savefig(f, format="png"))


# ----------------------------------------------------------------------------------------- scatter


def _square_limits(xy: np.ndarray, margin: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y limits of equal span, covering all of `xy` (M, 2) with a relative margin."""
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    half = 0.5 * float((hi - lo).max())
    half = half * (1.0 + 2.0 * margin) if half > 0 else max(float(np.abs(lo).max()), 1.0) * 0.5
    cx, cy = 0.5 * (lo + hi)
    return (cx - half, cx + half), (cy - half, cy + half)


def scatter_png(
    points: np.ndarray,
    path: str | Path,
    centres: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Scatter plot of 2-D points (N, D), with the true mode centres (K, D) as red crosses when given.

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

    c_xy = None
    if centres is not None:
        centres = np.asarray(centres, dtype=np.float64)
        if centres.ndim != 2 or centres.shape[1] < 2:
            raise AeganError(f"scatter_png expects centres of shape (K, 2), got {centres.shape}")
        c_xy = centres[np.isfinite(centres[:, :2]).all(axis=1), :2]  # (K', 2)

    fig = _new_figure(5.0, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    # `plot` with a marker style draws one Line2D, much faster than `scatter` for 10k points.
    ax.plot(xy[:, 0], xy[:, 1], linestyle="none", marker="o", markersize=2.5,
            markeredgewidth=0, alpha=0.35, color="tab:blue", rasterized=True)
    if c_xy is not None and len(c_xy):
        ax.plot(c_xy[:, 0], c_xy[:, 1], linestyle="none", marker="x", markersize=6, alpha=0.8,
                markeredgewidth=1.2, color="red", label="mode centres")
        ax.legend(loc="upper right", fontsize=7, framealpha=0.7)

    everything = np.concatenate([xy] + ([c_xy] if c_xy is not None else []), axis=0)
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
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise AeganError(
            f"image_grid_png expects a non-empty array (N, C, H, W) with C = 1 or 3, got shape {images.shape}"
        )
    n, c, h, w = images.shape
    ncol = nrow if nrow is not None else math.ceil(math.sqrt(n))
    if ncol < 1:
        raise AeganError(f"image_grid_png: nrow must be >= 1, got {nrow}")
    scale = upscale if upscale is not None else max(1, math.ceil(GRID_MIN_CELL_PX / max(h, w)))
    if scale < 1:
        raise AeganError(f"image_grid_png: upscale must be >= 1, got {upscale}")

    cells = _to_uint8_nhwc(images)  # (N, H, W, C)
    cells = cells.repeat(scale, axis=1).repeat(scale, axis=2)  # (N, H*s, W*s, C)
    ch, cw = h * scale, w * scale
    nrows = math.ceil(n / ncol)
    pad = GRID_PADDING_PX
    grid = np.full((nrows * (ch + pad) + pad, ncol * (cw + pad) + pad, c), GRID_PAD_VALUE, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = pad + r * (ch + pad), pad + k * (cw + pad)
        grid[top : top + ch, left : left + cw] = cells[i]

    picture = Image.fromarray(grid[:, :, 0], mode="L") if c == 1 else Image.fromarray(grid, mode="RGB")
    return write_atomically(path, lambda f: picture.save(f, format="PNG"))


# ------------------------------------------------------------------------------------- loss curves


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


def loss_curves_png(records: list[dict[str, Any]], path: str | Path, title: str = "") -> Path | None:
    """Curves of every `loss/...` key against `step` (and `monitor/...` keys on a second panel).

    records: the lines of metrics.jsonl, each a dict with `step`. Returns None (and writes nothing)
    when no record has a numeric loss or monitor value.
    """
    panels = [(name, s) for name, s in (("losses", _series(records, "loss/")),
                                        ("monitors", _series(records, "monitor/"))) if s]
    if not panels:
        return None

    fig = _new_figure(7.0, 3.2 * len(panels))
    for i, (name, series) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, i + 1)
        for key, (steps, values) in series.items():
            marker = "o" if len(steps) < 20 else None  # a few points are easier to read with markers
            ax.plot(steps, values, linewidth=1.0, marker=marker, markersize=3, label=key)
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, linewidth=0.3, alpha=0.5)
        ax.legend(fontsize=7, loc="best", framealpha=0.7)
        if i == 0 and title:
            ax.set_title(title, fontsize=9)
    fig.axes[-1].set_xlabel("step", fontsize=8)
    fig.tight_layout()
    return _save_figure(fig, path)


# ------------------------------------------------------------------------------------ model samples

def generate_eval(model: Model, nets: dict[str, torch.nn.Module], z: torch.Tensor) -> torch.Tensor:
    """G(z) on the model's scale, (n, *shape) on CPU, with the networks in eval mode (batch-norm statistics are
    used, not updated) and their modes restored afterwards, so looking at samples does not change training."""
    import torch

    was_training = {name: net.training for name, net in nets.items()}
    model.eval()
    try:
        with torch.no_grad():
            return model.generate(z.to(model.device)).float().cpu()
    finally:
        for name, net in nets.items():
            net.train(was_training[name])
        model.train(any(was_training.values()))


def picture(model: Model, nets: dict[str, torch.nn.Module], z: torch.Tensor, transform: Transform, kind: str,
            modes: dict[str, Any] | None, path: Path, title: str = "") -> Path:
    """Samples G(z) as a picture: a scatter with the mode centres for vectors, an image grid for images.

    Uses generate_eval, so drawing a picture does not change training.
    """
    x = generate_eval(model, nets, z)
    if kind == "vector":
        centres = np.asarray(modes["centres"]) if modes else None
        return scatter_png(transform.to_data(x).numpy(), path, centres=centres, title=title)
    return image_grid_png(((x.clamp(-1, 1) + 1) / 2).numpy(), path)
