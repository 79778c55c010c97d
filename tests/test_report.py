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
from aegan.plots import (
    image_grid_png,
    loss_curves_figure,
    loss_curves_png,
    recon_grid_png,
    samples_and_recon_png,
    scatter_png,
)
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
    assert "0.8731" in page and "0.01235" in page and "<h2>Summary</h2>" not in page  # no summary for one run
    assert DATA_URI in page
    assert "step 700 (latest)" in page
    assert page.count("Earlier samples") == 1
    assert "step 100" in page and "step 600" in page  # strip spans earliest to latest-but-one
    assert "<h3>Reconstructions</h3>" in page and "rows of originals x alternate" not in page  # vector data
    assert "held-out reconstructions G(E(x))" in page  # drawn before pictures.json said how: no layout claimed
    assert "More pictures" not in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    # latest sample, 4 earlier ones, loss curves, the reconstructions; all decode as PNGs
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


# ------------------------------------------------------------------------- what was scored leads the page


IMAGE_SCORES = {"fd": 12.3456, "kid": 0.01, "precision": 0.81, "recall": 0.62, "coverage": 0.7, "kl_modes": 0.0456,
                "modes_total": 10, "modes_covered": 10, "recon_error_test": 0.05, "fd_recon": 9.31,
                "precision_recon": 0.84, "recall_recon": 0.549, "n_samples": 10000, "seed": 0, "step": 1000,
                "sampler": "gmm"}


def add_eval_pictures(run: Path, sampler: str = "gmm", with_json: bool = True) -> dict[str, bytes]:
    """The pictures `aegan eval` writes for an encoder model on images, each a distinct grey level."""
    folder = run / "report"
    folder.mkdir()
    written = {}
    for i, name in enumerate(["samples", "prior_samples", "reconstructions", "interpolations"]):
        png = image_grid_png(np.full((4, 1, 8, 8), 0.2 * (i + 1)), folder / f"{name}.png")
        written[name] = png.read_bytes()
    if with_json:
        (folder / "pictures.json").write_text(json.dumps({"step": 1000, "seed": 0, "pictures": {
            "samples.png": {"shows": "scored samples", "sampler": sampler, "n": 64, "of": 10000},
            "prior_samples.png": {"shows": "prior samples", "sampler": "prior", "n": 64},
            "reconstructions.png": {"shows": "held-out reconstructions", "n": 32, "layout": "alternating rows"},
            "interpolations.png": {"shows": "latent interpolations", "pairs": 8, "steps": 10}}}))
    return written


def figure_of(page: str, png: bytes) -> str:
    """The <figure> element that embeds `png`."""
    at = page.index(DATA_URI + base64.b64encode(png).decode("ascii"))
    return page[page.rindex("<figure", 0, at): page.index("</figure>", at)]


def test_scored_samples_lead_named_by_sampler_then_prior_recon_interpolations_then_training(tmp_path: Path) -> None:
    run = make_run(tmp_path / "img", model="aae", eval_scores=IMAGE_SCORES)
    (run / "data.json").write_text(json.dumps({"kind": "image"}))
    pngs = add_eval_pictures(run)
    (run / "report" / "mine.png").write_bytes(pngs["samples"])  # a picture of the user's own: still shown

    page = write_report(run).read_text(encoding="utf-8")
    order = ["<h3>Scored samples</h3>", "<h3>Prior samples and reconstructions</h3>", "<h3>Interpolations</h3>",
             "<h3>More pictures</h3>", "<h3>Training-time pictures</h3>", "<h3>Loss curves</h3>",
             "<h3>Evaluation (eval.json)</h3>", "<h3>Training log</h3>", "<h3>Config</h3>"]
    at = [page.index(h) for h in order]
    assert at == sorted(at)
    scored = figure_of(page, pngs["samples"])
    assert page.index(scored) < page.index("step 1000 (latest)")
    assert "sampler gmm (a Gaussian mixture fitted to the encoder&#x27;s codes)" in scored
    assert "64 of the 10000 scored samples, step 1000" in scored
    for number in ("modes 10 / 10", "fd 12.35", "precision 0.81", "recall 0.62", "coverage 0.7", "kl_modes 0.0456"):
        assert number in scored
    assert "kid" not in scored  # only the headline numbers; the full table follows further down
    prior, recon = figure_of(page, pngs["prior_samples"]), figure_of(page, pngs["reconstructions"])
    assert "sampler prior, not scored" in prior
    assert "rows of 32 originals x alternate with their reconstructions G(E(x))" in recon
    for number in ("fd_recon 9.31", "precision_recon 0.84", "recall_recon 0.549", "recon_error_test 0.05"):
        assert number in recon and number not in scored  # the decoder's own numbers, under its picture
    pair = page[page.index('<div class="pair">'):]
    assert pair.index(prior) < pair.index(recon) < pair.index("</div>")  # side by side, prior first
    assert "each row goes from E(a) to E(b) of a held-out pair in 10 steps" in figure_of(page, pngs["interpolations"])
    assert "(not the scored sampler" in page  # training-time pictures come from the prior
    assert len(embedded_pngs(page)) == 4 + 1 + 2 + 1  # eval pictures, mine.png, training samples, curves


def test_caption_falls_back_to_eval_json_sampler(tmp_path: Path) -> None:
    """Runs evaluated before report/pictures.json existed: the sampler comes from eval.json."""
    run = make_run(tmp_path / "old", model="gan", eval_scores={**SCORES, "sampler": "prior"})
    pngs = add_eval_pictures(run, with_json=False)
    page = write_report(run).read_text(encoding="utf-8")
    scored = figure_of(page, pngs["samples"])
    assert "sampler prior (the model&#x27;s prior): the scored samples, step 1000" in scored
    assert "modes 23 / 25 · high_quality_fraction 0.8731 · kl_modes 0.01235" in scored
    assert "not the scored sampler" not in page


def test_caption_names_the_temperature_of_the_scored_samples(tmp_path: Path) -> None:
    run = make_run(tmp_path / "hot", model="aae", eval_scores={**IMAGE_SCORES, "temperature": 1.3})
    (run / "data.json").write_text(json.dumps({"kind": "image"}))
    pngs = add_eval_pictures(run)
    page = write_report(run).read_text(encoding="utf-8")
    assert "codes) at temperature 1.3: 64 of the 10000 scored samples" in figure_of(page, pngs["samples"])
    (run / "eval.json").write_text(json.dumps({**IMAGE_SCORES, "temperature": 1.0}))
    assert "temperature" not in figure_of(write_report(run).read_text(encoding="utf-8"), pngs["samples"])


def test_missing_scored_picture_is_named(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", eval_scores=SCORES)
    page = write_report(run).read_text(encoding="utf-8")
    assert "report/samples.png is missing" in page and "modes 23 / 25" in page


# ------------------------------------------------------------------------------------- monitor curves


def test_single_monitor_check_is_a_table_not_a_dot(tmp_path: Path) -> None:
    run = make_run(tmp_path / "short", eval_scores=SCORES)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    records[-1].update({"monitor/diversity": 0.987, "monitor/coverage": 0.654})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    fig = loss_curves_figure(records)
    assert len(fig.axes) == 1  # the losses only: one monitor point is no curve
    page = write_report(run).read_text(encoding="utf-8")
    monitor = page[page.index("<h3>Collapse monitor</h3>"):]
    monitor = monitor[: monitor.index("</table>")]
    assert "one check" in monitor and "0.987" in monitor and "0.654" in monitor and "1000" in monitor


def test_monitor_curve_spans_the_runs_steps(tmp_path: Path) -> None:
    records = [{"step": s, "loss/D": 1.0 / (1 + s)} for s in range(0, 1001, 100)]
    records[5]["monitor/diversity"], records[10]["monitor/diversity"] = 0.9, 0.8  # checks at 500 and 1000
    fig = loss_curves_figure(records)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert lo <= 0 and hi >= 1000 and hi - lo < 1100
    assert loss_curves_figure([{"step": 10, "loss/D": 1.0}]) is None  # one record: nothing to draw
    page = write_report(make_run(tmp_path / "r", eval_scores=SCORES, with_metrics=False)).read_text()
    assert "Loss curves" not in page and "Collapse monitor" not in page


# --------------------------------------------------------------------------- training-time pictures


def _tiny_encoder_model(shape: tuple[int, ...]):
    from aegan import models
    from aegan.config import Config
    from aegan.loop.configure import resolve_defaults

    cfg = Config(model="alphagan")
    cfg.net.width = 8
    resolve_defaults(cfg, "image")
    model = models.get("alphagan")(shape, cfg)
    model.train()
    return model, dict(model.nets.items())


def test_picture_with_held_out_images_shows_prior_samples_and_reconstructions(tmp_path: Path) -> None:
    import torch

    from aegan.plots import picture, reconstruct_eval

    torch.manual_seed(0)
    model, nets = _tiny_encoder_model((1, 8, 8))
    z = model.prior(64, generator=torch.Generator().manual_seed(1))
    x = torch.rand(32, 1, 8, 8) * 2 - 1
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = np.asarray(Image.open(picture(model, nets, z, None, "image", None, tmp_path / "plain.png")))
    both = np.asarray(Image.open(picture(model, nets, z, None, "image", None, tmp_path / "both.png", x_recon=x)))
    assert all(m.training for m in model.modules())  # back in training mode
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # batch-norm statistics too

    x_rec = reconstruct_eval(model, nets, x)
    assert x_rec.shape == x.shape
    recon = np.asarray(Image.open(recon_grid_png(((x + 1) / 2).numpy(), ((x_rec + 1) / 2).numpy(),
                                                 tmp_path / "recon.png", ncol=8)))
    # left: the prior samples' grid under a label; right: the labelled originals/reconstructions rows
    top = next(r for r in range(1, 60) if np.array_equal(both[r: r + plain.shape[0], : plain.shape[1]], plain))
    assert both[:top, : plain.shape[1]].min() < 128  # the label "prior samples" is written above
    assert np.array_equal(both[: recon.shape[0], -recon.shape[1]:], recon)
    assert both.shape[1] > 2 * plain.shape[1]


def test_recon_grid_alternates_originals_and_reconstructions(tmp_path: Path) -> None:
    originals, recons = np.full((6, 1, 4, 4), 0.2), np.full((6, 1, 4, 4), 0.8)
    originals[5], recons[5] = 0.4, 0.6  # the last pair
    img = np.asarray(Image.open(recon_grid_png(originals, recons, tmp_path / "r.png", ncol=4, upscale=1)))
    step = 4 + 2  # a cell and its padding; rows counted from the bottom, below the label (4 px rows get no names)

    def cell(row: int, col: int) -> np.ndarray:  # rows: data 0-3, recon 0-3, data 4-5, recon 4-5
        top, left = img.shape[0] - (4 - row) * step, 2 + col * step
        return img[top: top + 4, left: left + 4]

    assert (cell(0, 3) == 51).all() and (cell(1, 3) == 204).all()  # image 3 and its reconstruction
    assert (cell(2, 0) == 51).all() and (cell(3, 0) == 204).all()  # image 4
    assert (cell(2, 1) == 102).all() and (cell(3, 1) == 153).all()  # image 5
    assert (cell(2, 2) == 255).all() and (cell(3, 3) == 255).all()  # no image 6 or 7: blank
    assert img[: img.shape[0] - 4 * step].min() < 128  # the label above
    rgb = np.random.default_rng(0).random((5, 3, 16, 16))
    both = Image.open(samples_and_recon_png(rgb, rgb[:3], rgb[:3], tmp_path / "rgb.png"))
    assert both.mode == "RGB" and both.size[0] > 2 * 3 * 64  # two panels of 3 columns of 64 px cells


# ------------------------------------------------------------------ aegan eval's pictures, end to end


def test_eval_writes_prior_samples_and_names_each_pictures_sampler(tmp_path: Path, tiny: dict) -> None:
    import aegan

    run = aegan.train("aae", data="ring8", steps=10, out=tmp_path / "v", overrides=tiny)
    aegan.evaluate(run, n=300)
    report = tmp_path / "v" / "report"
    info = json.loads((report / "pictures.json").read_text())
    assert info["step"] == 10 and info["pictures"]["samples.png"]["sampler"] == "gmm"
    assert info["pictures"]["prior_samples.png"]["sampler"] == "prior"
    assert sorted(p.name for p in report.glob("*.png")) == ["interpolations.png", "prior_samples.png",
                                                             "reconstructions.png", "samples.png"]
    eval_json = json.loads((tmp_path / "v" / "eval.json").read_text())
    assert not [k for k, v in eval_json.items() if not isinstance(v, (int, float)) and k != "sampler"]
    page = write_report(tmp_path / "v").read_text(encoding="utf-8")
    assert page.index("sampler gmm") < page.index("sampler prior, not scored") < page.index("Training-time")

    aegan.evaluate(run, n=300, sampler="prior")  # the scored samples are the prior's now: no second picture
    assert not (report / "prior_samples.png").exists()
    assert json.loads((report / "pictures.json").read_text())["pictures"]["samples.png"]["sampler"] == "prior"
    assert "sampler prior (the model&#x27;s prior)" in write_report(tmp_path / "v").read_text(encoding="utf-8")


def test_eval_pictures_of_an_image_encoder_run(tmp_path: Path, tiny: dict) -> None:
    import aegan

    run = aegan.train("alphagan", data="digits", steps=4, out=tmp_path / "d", overrides=tiny)
    aegan.evaluate(run, n=64)  # too few to score: the pictures are drawn all the same
    report = tmp_path / "d" / "report"
    assert (report / "prior_samples.png").is_file()
    samples, recon = Image.open(report / "samples.png"), Image.open(report / "reconstructions.png")
    assert samples.size == (8 * 56 + 9 * 2, 8 * 56 + 9 * 2)
    assert recon.size[0] > samples.size[0] and recon.size[1] > samples.size[1]  # row names and a label


@pytest.mark.parametrize("draw", ["bars", "histograms"])
def test_figure_title_sits_above_the_panels(tmp_path: Path, monkeypatch, draw: str) -> None:
    """tight_layout leaves a figure title out of its sums: the top panel's frame must still end below the title."""
    from aegan import plots

    figures = []
    monkeypatch.setattr(plots, "_save_figure", lambda fig, path: figures.append(fig) or Path(path))
    labels = [f"model{i} code model: gmm" for i in range(13)]  # the images suite's figure: 13 rows, 6 panels
    if draw == "bars":
        panels = {key: ([1.0] * 13, [0.1] * 13) for key in ("fd", "fd_check", "precision", "recall", "coverage",
                                                             "kl_modes")}
        plots.bars_png(labels, panels, tmp_path / "b.png", title="fashion-mnist: mean ± std over seeds")
    else:
        plots.histograms_png({label: [3.0, 1.0] for label in labels}, tmp_path / "h.png", title="modes")
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    top = max(ax.get_window_extent(renderer).y1 for ax in fig.axes)
    assert top < title.y0
