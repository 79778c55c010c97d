"""Pictures (aegan.plots) and the HTML report (aegan.report) on fake run folders."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from aegan.errors import AeganError
from aegan.plots import image_grid_png, loss_curves_png, scatter_png
from aegan.report import write_report

DATA_URI = "data:image/png;base64,"


def _grid25_centres() -> np.ndarray:
    g = np.arange(-4.0, 5.0, 2.0)
    return np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)  # (25, 2)


def make_run(
    folder: Path,
    *,
    model: str = "alphagan",
    eval_scores: dict | None = None,
    sample_steps: tuple[int, ...] = (500, 1000),
    with_metrics: bool = True,
) -> Path:
    """A fake run folder following DESIGN §5, with toy scatter samples."""
    folder.mkdir(parents=True)
    config = {"model": model, "data": "grid25", "steps": 1000, "seed": 0, "batch_size": 64}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "data.json").write_text(json.dumps({"kind": "vector"}))
    if with_metrics:
        lines = [json.dumps({"step": s, "loss/D": 1.0 / (1 + s), "loss/G": 0.75, "time_s": 0.01 * s})
                 for s in range(0, 1001, 100)]
        (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if eval_scores is not None:
        (folder / "eval.json").write_text(json.dumps(eval_scores))
    rng = np.random.default_rng(0)
    centres = _grid25_centres()
    for step in sample_steps:
        points = centres[rng.integers(0, 25, 500)] + 0.05 * rng.standard_normal((500, 2))
        scatter_png(points, folder / "samples" / f"step_{step:07d}.png", centres, title=f"step {step}")
    return folder


def embedded_pngs(page: str) -> list[Image.Image]:
    """Decode every data-URI PNG in the page."""
    payloads = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    out = []
    for p in payloads:
        img = Image.open(io.BytesIO(base64.b64decode(p)))
        img.load()
        out.append(img)
    return out


SCORES = {"modes_total": 25, "modes_covered": 23, "high_quality_fraction": 0.8731234,
          "kl_modes": 0.0123456, "n_samples": 2000, "seed": 0, "step": 1000, "sampler": "prior"}


# ---------------------------------------------------------------------------------------- plots


def test_image_grid_has_expected_pixel_size(tmp_path: Path) -> None:
    images = np.random.default_rng(0).random((10, 1, 8, 8))
    out = image_grid_png(images, tmp_path / "grid.png")  # 4 columns, 3 rows, 8 px * 7 = 56 px cells
    img = Image.open(out)
    assert img.size == (4 * 56 + 5 * 2, 3 * 56 + 4 * 2)
    assert img.mode == "L"


def test_image_grid_rgb_explicit_layout_and_pixels(tmp_path: Path) -> None:
    images = np.zeros((6, 3, 28, 28))
    images[0, 0] = 1.0  # first image pure red
    out = image_grid_png(images, tmp_path / "grid.png", nrow=3, upscale=1)
    img = np.asarray(Image.open(out))
    assert img.shape == (2 * 28 + 3 * 2, 3 * 28 + 4 * 2, 3)
    assert tuple(img[2, 2]) == (255, 0, 0)  # first cell starts after 2 px padding
    assert tuple(img[0, 0]) == (255, 255, 255)  # padding
    assert tuple(img[2, 2 + 28 + 2]) == (0, 0, 0)  # second cell is black


def test_image_grid_rejects_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(AeganError, match="N, C, H, W"):
        image_grid_png(np.zeros((4, 28, 28)), tmp_path / "grid.png")


def test_scatter_handles_nan_and_extra_dims(tmp_path: Path) -> None:
    points = np.random.default_rng(0).standard_normal((2000, 3))
    points[:7, 1] = np.nan
    points[7, 0] = np.inf
    out = scatter_png(points, tmp_path / "s.png", centres=_grid25_centres(), title="nan test")
    assert Image.open(out).size[0] > 100
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left nothing behind


def test_scatter_of_only_nan_points_still_writes(tmp_path: Path) -> None:
    assert scatter_png(np.full((5, 2), np.nan), tmp_path / "s.png").is_file()


def test_loss_curves_none_when_nothing_to_plot(tmp_path: Path) -> None:
    assert loss_curves_png([{"step": 0, "time_s": 1.0}], tmp_path / "l.png") is None
    assert not (tmp_path / "l.png").exists()
    records = [{"step": s, "loss/D": 1.0, "monitor/d_real": 0.5} for s in range(5)]
    assert loss_curves_png(records, tmp_path / "l.png").is_file()


# --------------------------------------------------------------------------------------- report


def test_single_run_report(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run1", eval_scores=SCORES, sample_steps=(100, 200, 300, 400, 500, 600, 700))
    (run / "report").mkdir()
    image_grid_png(np.ones((4, 1, 8, 8)) * 0.5, run / "report" / "reconstructions.png")

    out = write_report(run)
    assert out == run.resolve() / "report.html"
    page = out.read_text(encoding="utf-8")
    assert "alphagan" in page and "grid25" in page
    assert "0.8731" in page and "0.01235" in page and "23 / 25" not in page  # no summary for one run
    assert DATA_URI in page
    assert "step 700 (latest)" in page
    assert page.count("Earlier samples") == 1
    assert "step 100" in page and "step 600" in page  # strip spans earliest to latest-but-one
    assert "More pictures" in page and "reconstructions" in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    # latest sample, 4 earlier ones, loss curves, 1 extra picture; all decode as PNGs
    assert len(embedded_pngs(page)) == 1 + 4 + 1 + 1


def test_folder_of_two_runs_has_summary_with_both(tmp_path: Path) -> None:
    make_run(tmp_path / "a_gan", model="gan", eval_scores={**SCORES, "modes_covered": 9, "fd": 12.3456})
    make_run(tmp_path / "b_alphagan", eval_scores=SCORES)
    (tmp_path / "not_a_run").mkdir()

    page = write_report(tmp_path).read_text(encoding="utf-8")
    summary = page[page.index("<h2>Summary</h2>"): page.index("</table>")]
    assert "a_gan" in summary and "b_alphagan" in summary and "not_a_run" not in summary
    assert "9 / 25" in summary and "23 / 25" in summary
    assert "12.35" in summary and "—" in summary  # b_alphagan has no fd
    header = re.findall(r"<th>(.*?)</th>", summary)
    assert header[:6] == ["run", "model", "data", "steps", "modes covered / total", "high_quality_fraction"]
    assert header.index("kl_modes") < header.index("fd") < header.index("n_samples")


def test_run_without_eval_or_samples_says_so(tmp_path: Path) -> None:
    run = make_run(tmp_path / "bare", eval_scores=None, sample_steps=(), with_metrics=False)
    (run / "data.json").unlink()
    page = write_report(run).read_text(encoding="utf-8")
    assert "No eval.json" in page
    assert "No sample pictures" in page
    assert "Missing from this run folder: metrics.jsonl, eval.json, data.json, samples/step_*.png." in page


def test_torn_metrics_line_and_escaping(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", model="<b>evil</b>", eval_scores=SCORES)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 1100, "loss/D": 0.')  # a run still writing its last line
    page = write_report(run).read_text(encoding="utf-8")
    assert "<b>evil</b>" not in page and "&lt;b&gt;evil&lt;/b&gt;" in page
    assert "1 line(s) of metrics.jsonl could not be parsed" in page


def test_folder_without_runs_raises(tmp_path: Path) -> None:
    (tmp_path / "empty_sub").mkdir()
    with pytest.raises(AeganError, match="no runs"):
        write_report(tmp_path)
    with pytest.raises(AeganError, match="not a folder"):
        write_report(tmp_path / "does_not_exist")
