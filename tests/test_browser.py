"""A bench report opened in a real browser: headless Chromium (Debian's `chromium`; `.ci/run` installs it) loads the
page, and a script added to a copy of it counts the pictures that failed to load and the tables. A screenshot of the
page is kept as a test artifact in build/test-artifacts/."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts"
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).length;
  document.title = `probe images=${images.length} broken=${broken} tables=${document.querySelectorAll("table").length}`;
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           "--virtual-time-budget=15000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here (Debian: apt-get install chromium; .ci/run "
                                            "installs it)")
def test_a_bench_report_renders_in_chromium_with_every_picture_and_table(tmp_path):
    from aegan import train
    from aegan.bench import SUITES, write_results

    out = tmp_path / "bench"
    rows = []
    for variant, seed in [("gan", 0), ("gan", 1), ("alphagan", 0)]:
        folder = f"{variant}-ring8-s{seed}"
        if seed == 0:  # a real run folder, whose last sample picture the report shows
            train(variant, "ring8", steps=20, out=out / folder, seed=seed, overrides={"progress": False})
        counts = [300, 0, 310, 290, 305, 0, 295, 300] if variant == "gan" else [312] * 8
        rows.append({"variant": variant, "model": variant, "setting": "D=G", "data": "ring8", "seed": seed,
                     "sampler": "prior", "run": folder, "modes_total": 8, "modes_covered": sum(c > 0 for c in counts),
                     "high_quality_fraction": 0.9 - 0.1 * seed, "kl_modes": 0.1, "mode_counts": counts,
                     "steps": 20, "train_s": 1.0})
    write_results(out, SUITES["toy"], rows, budget="small", figures=True)
    page = (out / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))

    dom = _chromium("--dump-dom", probe.as_uri())
    title = re.search(r"<title>probe images=(\d+) broken=(\d+) tables=(\d+)</title>", dom.stdout)
    assert title, f"the page did not load in {BROWSER}: {dom.stderr[-500:]}"
    images, broken, tables = (int(v) for v in title.groups())
    # the bars and the mode histogram, one sample grid per seed-0 run, and each run section's pictures
    assert images >= 4 and broken == 0
    assert tables >= 3  # ours, the published anchors, the runs' summary (and the runs' own tables)
    assert "VEEGAN" in dom.stdout and "mean ± standard error" in dom.stdout and "GFLOP/s" in dom.stdout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "bench-report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2400", (out / "report.html").as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000
