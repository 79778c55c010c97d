"""colour-shapes: generated RGB images with known modes, for colour and size (DESIGN §2; no download).

Each image is a dark, slightly noisy background with one filled shape: a square or a disc, in one of 3 colours
(red, green, blue), centred in one of 4 positions (the quadrants' centres) with a jitter of up to side/16 pixels:
2 × 3 × 4 = 24 modes, uniform, each example labelled with its mode (shape · 12 + colour · 4 + position), so the
evaluator's classes are the modes and modes_covered / kl_modes count them as on the labelled images. A generator
that drops a colour, a shape or a position loses modes visibly; one that blurs shapes loses precision.
"""

from __future__ import annotations

import numpy as np

from aegan.data.base import Dataset
from aegan.data.images import from_array

SHAPES, COLOURS, POSITIONS = 2, 3, 4
MODES = SHAPES * COLOURS * POSITIONS
PALETTE = np.array([[220, 40, 40], [40, 200, 60], [50, 80, 230]], dtype=np.float32)  # red, green, blue


def colour_shapes_arrays(n: int = 12_000, side: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, side, side, 3) uint8, labels (n,) int64 in 0..23), a pure function of (n, side, seed)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, MODES, size=n)
    shape, colour, position = labels // 12, (labels // 4) % 3, labels % 4
    quarter = side / 4
    cy = np.where(position // 2 == 0, quarter, 3 * quarter) + rng.uniform(-side / 16, side / 16, size=n)
    cx = np.where(position % 2 == 0, quarter, 3 * quarter) + rng.uniform(-side / 16, side / 16, size=n)
    radius = side / 8 + rng.uniform(-side / 64, side / 64, size=n)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5  # pixel centres
    dy, dx = yy[None] - cy[:, None, None], xx[None] - cx[:, None, None]  # (n, side, side)
    r = radius[:, None, None]
    inside = np.where(shape[:, None, None] == 0, np.maximum(abs(dy), abs(dx)) <= r, dy * dy + dx * dx <= r * r)
    background = 20 + 8 * rng.standard_normal((n, side, side, 1)).astype(np.float32)
    fill = PALETTE[colour][:, None, None, :] + 12 * rng.standard_normal((n, 1, 1, 3)).astype(np.float32)
    x = np.where(inside[..., None], fill, background)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8), labels.astype(np.int64)


def colour_shapes() -> Dataset:
    """12,000 32×32 RGB images of 24 known modes (module docstring): 10,800 train / 1,200 test, with labels."""
    x, y = colour_shapes_arrays()
    ds = from_array(x, y, name="colour-shapes")
    return ds
