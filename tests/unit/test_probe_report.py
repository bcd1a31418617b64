"""Reports from a results document: Markdown, JUnit XML, the PNG heatmap."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.unit import probe_helpers as h
from trainbed.probes.evaluate import NcclOutput, evaluate
from trainbed.probes.report import render_junit, render_markdown, write_reports

STARTED, FINISHED = h.STARTED, h.FINISHED
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def failing() -> dict[str, Any]:
    """prod with gpu03's rail2 HCA degraded and single-gpu06 without NVLS."""
    inv = h.load_prod()
    nccl, ib = h.suite_outputs(
        inv,
        ib_gbps=lambda a, b, r: 200.0 if "gpu03" in (a, b) and r == "rail2" else 396.0,
        single_busbw=lambda host: 366.0 if host == "gpu06" else 478.0,
    )
    return h.evaluate_suite(inv, nccl, ib)


@pytest.fixture(scope="module")
def clean() -> dict[str, Any]:
    inv = h.load_prod()
    nccl, ib = h.suite_outputs(inv)
    return evaluate(inv, started=STARTED, finished=FINISHED, nccl_outputs=nccl, ib_outputs=ib)


def test_write_reports_produces_the_four_files(tmp_path: Path, failing: dict[str, Any]) -> None:
    paths = write_reports(failing, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == sorted(
        ["results.json", "report.md", "junit.xml", "ib_write_bw_heatmap.png"]
    )
    png = paths["ib_write_bw_heatmap.png"].read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    from matplotlib.image import imread

    height, width, _ = imread(paths["ib_write_bw_heatmap.png"]).shape
    assert height > 300 and width > 300


def test_markdown_leads_with_the_verdict(failing: dict[str, Any], clean: dict[str, Any]) -> None:
    md = render_markdown(failing)
    lines = md.splitlines()
    assert lines[0] == "# Probe results: xe9680-validation"
    assert lines[2].startswith("**FAILED**: 1 of 11 NCCL runs failed; 5 of 120 ib_write_bw")
    assert md.index("## Findings") < md.index("## Failures") < md.index("## NCCL all_reduce")
    assert "- **HCA** gpu03 mlx5_4 on rail2:" in md
    assert "- **Node** gpu06:" in md and "NVLS not in use" in md
    # Expected vs actual for each failure.
    assert "| single-gpu06 | gpu06 | ≥ 440.00 GB/s | 366.00 GB/s |" in md
    assert "| gpu03–gpu04 | rail2 | mlx5_4 ↔ mlx5_4 | ≥ 360.00 Gb/s | 200.00 Gb/s |" in md
    assert "| gpu01–gpu03 | 396.0 | 396.0 | 200.0 ✗ |" in md
    ok = render_markdown(clean)
    assert ok.splitlines()[2].startswith("**PASSED**") and "## Failures" not in ok


def test_junit_one_case_per_run_and_pair_rail(failing: dict[str, Any]) -> None:
    root = ET.fromstring(render_junit(failing))
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    nccl, ib = suites["nccl_all_reduce"], suites["ib_write_bw"]
    assert len(nccl.findall("testcase")) == 11 and nccl.get("failures") == "1"
    assert len(ib.findall("testcase")) == 120 and ib.get("failures") == "5"
    assert root.get("tests") == "131" and root.get("failures") == "6"
    for case in ib.findall("testcase"):
        v = case.get("classname").split(".")
        assert v[0] == "ib_write_bw" and v[1].startswith("rail")
        a, b = v[2].split("-")
        assert a in case.get("name") and b in case.get("name") and v[1] in case.get("name")
    failed = [c for c in ib.findall("testcase") if c.find("failure") is not None]
    assert {c.get("classname") for c in failed} == {
        f"ib_write_bw.rail2.{p}"
        for p in ("gpu01-gpu03", "gpu02-gpu03", "gpu03-gpu04", "gpu03-gpu05", "gpu03-gpu06")
    }
    assert "200.00 Gb/s < 360 Gb/s" in failed[0].find("failure").get("message")
    for case in nccl.findall("testcase"):
        assert case.get("classname").startswith("nccl.")
        assert all(
            node in case.get("classname")
            for node in case.get("name").split("[")[1][:-1].split(", ")
        )
    (bad,) = [c for c in nccl.findall("testcase") if c.find("failure") is not None]
    assert bad.get("classname") == "nccl.single.gpu06"
    assert "NVLS not in use" in bad.find("failure").get("message")
    assert float(bad.get("time")) == 42.0


def test_reports_without_ib_measurements(tmp_path: Path) -> None:
    inv = h.load_prod()
    nccl, _ = h.suite_outputs(inv)
    nccl = [NcclOutput(o.name, None) if o.name == "all" else o for o in nccl]
    doc = evaluate(inv, started=STARTED, finished=None, nccl_outputs=nccl, suites=["nccl"])
    paths = write_reports(doc, tmp_path)
    assert paths["ib_write_bw_heatmap.png"].read_bytes().startswith(PNG_MAGIC)
    md = paths["report.md"].read_text()
    assert f"started {STARTED}, did not finish." in md and "## ib_write_bw" not in md
    assert "- **Ambiguous** gpu01, gpu02, gpu03, gpu04, gpu05, gpu06:" in md
    ET.parse(paths["junit.xml"])


def test_large_cluster_heatmap(tmp_path: Path) -> None:
    inv = h.inventory_for(tmp_path, 16, 2)
    nccl, ib = h.suite_outputs(inv, ib_gbps=lambda a, b, r: 396.0 if r != "rail3" else 300.0)
    doc = evaluate(inv, started=STARTED, finished=FINISHED, nccl_outputs=nccl, ib_outputs=ib)
    paths = write_reports(doc, tmp_path / "r")
    assert len(doc["ib_write_bw"]) == 120 * 4
    assert paths["ib_write_bw_heatmap.png"].read_bytes().startswith(PNG_MAGIC)


# Elements and attributes of the JUnit schema pytest validates its own output against
# (pytest's testing/example_scripts/junit-10.xsd); required attributes first.
_JUNIT = {
    "testsuites": (set(), {"name", "time", "tests", "failures", "errors"}),
    "testsuite": (
        {"name", "tests", "failures", "errors"},
        {
            "group",
            "time",
            "skipped",
            "timestamp",
            "hostname",
            "id",
            "package",
            "file",
            "log",
            "url",
            "version",
        },
    ),
    "testcase": ({"name"}, {"time", "classname", "group"}),
    "failure": (set(), {"type", "message"}),
    "system-out": (set(), set()),
}
_SUREFIRE_TIME = r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]{0,3})?"


def test_junit_fits_the_schema_pytest_emits(failing: dict[str, Any]) -> None:
    import re

    root = ET.fromstring(render_junit(failing))
    children = {
        "testsuites": {"testsuite"},
        "testsuite": {"testcase", "system-out"},
        "testcase": {"failure"},
    }
    for element in root.iter():
        required, optional = _JUNIT[element.tag]
        assert required <= set(element.attrib) <= required | optional, element.tag
        assert {c.tag for c in element} <= children.get(element.tag, set()), element.tag
        if element.tag in ("testsuite", "testsuites") and "time" in element.attrib:
            assert re.fullmatch(_SUREFIRE_TIME, element.get("time"))
