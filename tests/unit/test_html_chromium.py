"""The HTML report in a real browser: headless Chromium (Debian's package; tests/run installs
it) renders the report built from fixture results with an injected HCA fault; the DOM it
produced has every section, the failing banner and the fault's lines; its screenshot and its
print to PDF are kept under out/test-outputs/ (TRAINBED_TEST_OUTPUTS overrides). No cluster.

Without Chromium the test skips, unless TRAINBED_REQUIRE_CHROMIUM is set (tests/run sets it):
then it fails, so CI cannot pass without having rendered the report.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.unit.report_helpers import FAULT_LINE, REPO, build_report
from trainbed.html_report import SECTIONS, write_html
from trainbed.probes.report import heatmap_figures, heatmap_names

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUTPUTS = Path(os.environ.get("TRAINBED_TEST_OUTPUTS", REPO / "out" / "test-outputs"))


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("TRAINBED_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is not installed (tests/run installs Debian's package)")
        pytest.skip("needs chromium (Debian's package; tests/run installs it)")
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


class _Dom(HTMLParser):
    """Text per section id and the class of each section, from the DOM Chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.classes: dict[str, str] = {}
        self.images = 0
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section" and values.get("id"):
            self._open.append(values["id"] or "")
            self.classes[values["id"] or ""] = values.get("class") or ""
        if tag == "img" and (values.get("src") or "").startswith("data:image/png;base64,"):
            self.images += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open:
            key = self._open[-1]
            self.text[key] = self.text.get(key, "") + data


def test_chromium_renders_the_report_with_an_hca_fault(tmp_path: Path) -> None:
    doc = build_report(tmp_path, fault=True)
    url = (tmp_path / "report.html").as_uri()
    dumped = _chromium("--dump-dom", url)
    assert dumped.returncode == 0 and "<html" in dumped.stdout, dumped.stderr[-2000:]
    dom = _Dom()
    dom.feed(dumped.stdout)
    assert list(dom.text) == list(SECTIONS), list(dom.text)
    assert dom.classes["banner"] == "fail"
    banner = " ".join(dom.text["banner"].split())
    assert banner.startswith("NOT ACCEPTED")
    assert f"check gpu02: {FAULT_LINE}" in banner
    assert "gpu01 storage: not measured on NFS: /mnt/checkpoints is overlay on overlay" in banner
    assert FAULT_LINE in dom.text["checks"]
    assert "mlx5_4" in dom.text["fabric"] and "200.00 Gb/s < 360 Gb/s" in dom.text["ib"]
    # NCCL, ib_write_bw, training, storage; the node × rail heatmap and one per rail (full mode)
    assert dom.images == 4 + len(heatmap_names(doc["probe"]))
    OUTPUTS.mkdir(parents=True, exist_ok=True)
    shot = OUTPUTS / "report-hca-fault.png"
    shot.unlink(missing_ok=True)
    taken = _chromium(f"--screenshot={shot}", "--window-size=1200,3000", url)
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    # readable printed: the print stylesheet applies and a PDF comes out
    pdf = OUTPUTS / "report-hca-fault.pdf"
    pdf.unlink(missing_ok=True)
    printed = _chromium(f"--print-to-pdf={pdf}", "--no-pdf-header-footer", url)
    assert printed.returncode == 0 and pdf.exists(), printed.stderr[-2000:]
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000


#: Appended to a copy of the report: writes each heatmap's natural and rendered width into the
#: DOM, which --dump-dom then prints (the report itself carries no script).
_MEASURE = """<script>
window.addEventListener("load", () => {
  document.body.dataset.heatmaps = JSON.stringify([...document.querySelectorAll(".heatmap img")]
    .map(i => [i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width,
               i.getBoundingClientRect().height]));
});
</script>"""


def test_chromium_shows_a_128_node_heatmap_at_its_own_size(tmp_path: Path) -> None:
    """The report's heatmap of 128 nodes (node × node, 1,668 px wide, wider than the page) is
    drawn one image pixel per CSS pixel in its scrolling box, so its 6 pt labels stay legible."""
    from tests.unit.test_probe_report import _synthetic

    doc = build_report(tmp_path, fault=True)
    probe = doc["probe"]
    rail = probe["schedule"]["ib_write_bw"]["rails"][0]
    big = heatmap_figures(_synthetic(128, [rail], "full"))[f"ib_write_bw_heatmap_{rail}.png"]
    big.savefig(tmp_path / "probe" / f"ib_write_bw_heatmap_{rail}.png", format="png")
    page = write_html(tmp_path, probe, doc, tmp_path / "probe")
    page.write_text(page.read_text().replace("</body>", _MEASURE + "</body>"))
    dumped = _chromium("--dump-dom", "--window-size=1200,900", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    found = re.search(r'data-heatmaps="([^"]*)"', dumped.stdout)
    assert found, "the measuring script did not run"
    sizes = json.loads(html.unescape(found.group(1)))
    assert len(sizes) == len(heatmap_names(probe))
    for natural_w, natural_h, shown_w, shown_h in sizes:
        assert (shown_w, shown_h) == (natural_w, natural_h)
    assert max(s[0] for s in sizes) >= 128 * 11 > 1100  # wider than the page's column
