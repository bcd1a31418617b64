"""The HTML report in a real browser: headless Chromium (Debian's package; tests/run installs
it) renders the report built from fixture results with an injected HCA fault; the DOM it
produced has every section, the failing banner and the fault's lines; its screenshot and its
print to PDF are kept under out/test-outputs/ (TRAINBED_TEST_OUTPUTS overrides). No cluster.

Without Chromium the test skips, unless TRAINBED_REQUIRE_CHROMIUM is set (tests/run sets it):
then it fails, so CI cannot pass without having rendered the report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.unit.report_helpers import FAULT_LINE, REPO, build_report
from trainbed.html_report import SECTIONS

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
    build_report(tmp_path, fault=True)
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
    assert dom.images == 5
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
