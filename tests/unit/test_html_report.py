"""The one HTML report: every section, the banner, the failure lines of an injected fault,
no external asset, every chart an embedded PNG; `trainbed report DIR` renders it again."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.report_helpers import FAULT_LINE, build_report
from trainbed.cli import main
from trainbed.html_report import SECTIONS, render_html


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.append(values["id"] or "")
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag in ("link", "script", "iframe") or (tag != "img" and values.get("src")):
            self.external.append(f"<{tag} {values}>")


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.mark.parametrize("fault", [False, True], ids=["clean", "hca-fault"])
def test_sections_banner_and_embedded_charts(tmp_path: Path, fault: bool) -> None:
    doc = build_report(tmp_path, fault=fault)
    html = (tmp_path / "report.html").read_text()
    page = _page(html)
    assert [i for i in page.ids if i in SECTIONS] == list(SECTIONS)
    assert page.external == [] and "http://" not in html and "https://" not in html
    # NCCL against size, ib_write_bw distribution, training, storage; the heatmaps: node × rail
    # and (full mode) node × node per rail
    assert doc["probe"]["mode"] == "full"
    assert len(page.images) == 4 + 1 + len(doc["probe"]["schedule"]["ib_write_bw"]["rails"])
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "@media print" in html
    banner = re.search(r'<section id="banner" class="(\w+)">(.*?)</section>', html, re.S)
    assert banner is not None
    if fault:
        assert banner.group(1) == "fail" and "NOT ACCEPTED" in banner.group(2)
        assert f"check gpu02: {FAULT_LINE}" in banner.group(2)
        assert "mlx5_4" in html.split('id="fabric"')[1].split("</section>")[0]
    else:
        assert doc["accepted"] and banner.group(1) == "pass" and "ACCEPTED" in banner.group(2)
    ib = html.split('<section id="ib">')[1].split("</section>")[0]
    assert "ib_write_lat after each pair" in ib and "worst p99 1.6 µs" in ib
    # the mock-like storage: said in the banner, never a pass
    assert "not measured on NFS: /mnt/checkpoints is overlay on overlay" in banner.group(2)


def test_report_command_renders_it_again(tmp_path: Path) -> None:
    build_report(tmp_path, fault=True)
    (tmp_path / "report.html").unlink()
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "NOT ACCEPTED" in result.output and (tmp_path / "report.html").exists()
    # a probe directory alone gets its HTML too
    result = CliRunner().invoke(main, ["report", str(tmp_path / "probe")])
    assert (tmp_path / "probe" / "report.html").exists(), result.output
    assert 'id="banner"' in (tmp_path / "probe" / "report.html").read_text()


def test_text_is_escaped() -> None:
    doc = {
        "cluster": "<b>x</b>",
        "accepted": False,
        "reasons": ["<script>alert(1)</script>"],
        "caveats": [],
    }
    doc |= {"inventory": "i", "inventory_sha256": "0", "summary": {}, "started": "", "finished": ""}
    doc |= {"checks": {"error": None, "nodes": []}, "probe": None}
    html = render_html(None, doc)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
