"""The demo end to end on small settings: toy runs two at a time, the image part, the tables and the report."""

from __future__ import annotations

from aegan.demo import DEMO_RUNS, IMAGE_MODELS, demo


def test_demo_trains_scores_and_reports_every_run(tmp_path, capsys):
    report = demo(out=tmp_path / "d", steps=20, image_minutes=0.02, image_data="digits")
    out = capsys.readouterr().out
    for model, data, _ in DEMO_RUNS:
        assert (tmp_path / "d" / f"{model}-{data}" / "eval.json").is_file()
        assert f"{model}-{data}" in out
    for model in IMAGE_MODELS:
        assert (tmp_path / "d" / f"{model}-digits" / "eval.json").is_file()
    assert "digits, 0.02 min of training each" in out and "gmm" in out
    html = report.read_text()
    assert "alphagan-digits" in html and "gan-grid25" in html
