"""Reports from a results document: Markdown, JUnit XML, the PNG heatmap."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.unit import probe_helpers as h
from trainbed.probes.evaluate import IbOutput, NcclOutput, evaluate
from trainbed.probes.report import (
    LABEL_PT,
    heatmap_figures,
    node_rail_cells,
    render_junit,
    render_markdown,
    write_reports,
)
from trainbed.probes.results import validate_results

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


def test_write_reports_produces_the_reports_and_a_heatmap_per_rail(
    tmp_path: Path, failing: dict[str, Any]
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ib_write_bw_heatmap_rail99.png").write_bytes(b"an earlier run's")
    paths = write_reports(failing, tmp_path / "out")
    rails = failing["schedule"]["ib_write_bw"]["rails"]
    assert failing["mode"] == "full" and len(rails) == 8
    assert sorted(p.name for p in paths.values()) == sorted(
        ["results.json", "report.md", "junit.xml", "ib_write_bw_heatmap.png"]
        + [f"ib_write_bw_heatmap_{rail}.png" for rail in rails]
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in paths.values()
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


def _synthetic(nodes: int, rails: list[str], mode: str) -> dict[str, Any]:
    """The fields the heatmaps read, of a run over ``nodes`` nodes: gpu0005's first rail at
    200 Gb/s; full mode all pairs, quick mode a matching and gpu0005 re-paired once."""
    names = [f"gpu{i:04d}" for i in range(1, nodes + 1)]
    if mode == "full":
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    else:
        pairs = [*zip(names[::2], names[1::2], strict=True), ("gpu0005", names[-1])]
    ib = [
        {"node_a": a, "node_b": b, "rail": r, "gbps": g, "passed": g >= 360.0}
        for a, b in pairs
        for r in rails
        for g in [200.0 if "gpu0005" in (a, b) and r == rails[0] else 392.0]
    ]
    return {
        "cluster": "c",
        "mode": mode,
        "thresholds": {"ib_write_bw_min_gbps": 360.0},
        "schedule": {"ib_write_bw": {"rails": rails, "rounds": []}, "nccl": []},
        "ib_write_bw": ib,
    }


def _legible(fig: Any, axis: str, labels: int) -> tuple[int, int]:
    """Every one of ``labels`` nodes labelled on ``axis`` of the heatmap, at ≥ 6 pt, no two
    labels overlapping once drawn; the figure's size in pixels."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    assert [t.get_text() for t in ticks] == [f"gpu{i:04d}" for i in range(1, labels + 1)]
    assert min(t.get_fontsize() for t in ticks) >= LABEL_PT
    boxes = sorted(
        (t.get_window_extent(renderer) for t in ticks), key=lambda b: b.y0 if axis == "y" else b.x0
    )
    for one, two in itertools.pairwise(boxes):
        assert (one.y1 <= two.y0) if axis == "y" else (one.x1 <= two.x0), (one, two)
    width, height = fig.canvas.get_width_height()
    return width, height


def test_quick_mode_heatmap_is_node_by_rail_and_legible_at_128_nodes() -> None:
    rails = [f"rail{i}" for i in range(8)]
    doc = _synthetic(128, rails, "quick")
    figures = heatmap_figures(doc)
    assert list(figures) == ["ib_write_bw_heatmap.png"]
    width, height = _legible(figures["ib_write_bw_heatmap.png"], "y", 128)
    assert width <= 1200 and 128 * 11 <= height <= 3000
    nodes, shown, best, counts = node_rail_cells(doc)
    bad, partner = nodes.index("gpu0005"), nodes.index("gpu0006")
    assert shown == rails and best[bad][0] == 200.0 and counts[bad][0] == [0, 2]
    assert counts[partner][0] == [0, 1] and counts[nodes.index("gpu0128")][0] == [1, 2]
    assert best[bad][1] == 392.0 and counts[bad][1] == [2, 2]


def test_full_mode_heatmaps_are_node_by_node_per_rail_and_legible_at_128_nodes() -> None:
    doc = _synthetic(128, ["rail0", "rail1"], "full")
    figures = heatmap_figures(doc)
    assert list(figures) == [
        "ib_write_bw_heatmap.png",
        "ib_write_bw_heatmap_rail0.png",
        "ib_write_bw_heatmap_rail1.png",
    ]
    fig = figures["ib_write_bw_heatmap_rail0.png"]
    _legible(fig, "y", 128)
    width, height = _legible(fig, "x", 128)
    assert min(width, height) >= 128 * 11 and max(width, height) <= 2000
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (128, 128) and image[4, 9] == 200.0 and image[9, 4] == 200.0
    assert image.mask[0, 0] and image[1, 2] == 392.0  # the diagonal has no figure


def test_heatmaps_past_128_nodes_label_every_kth_node_and_stop_growing() -> None:
    doc = _synthetic(300, ["rail0"], "quick")
    fig = heatmap_figures(doc)["ib_write_bw_heatmap.png"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[:2] == ["gpu0001", "gpu0004"] and len(labels) == 100
    assert fig.canvas.get_width_height()[1] <= 3000


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


def test_a_bad_uplink_is_named_in_the_per_switch_tables(tmp_path: Path) -> None:
    """A matching within each leaf of rail0 (all pass), then the topology rounds over its four
    leaves with one leaf–spine cable bad: the results' fabric block, the Markdown and the HTML
    report count its streams on its leaf, spine and cable, and the finding names it."""
    from trainbed.html_report import render_html
    from trainbed.probes.topology import topology_rounds, trees

    inv = h.inventory_for(tmp_path, 128, 1)
    tree = trees(inv)[0]
    bad = tree.cables()[40]
    within = [
        (nodes[i], nodes[i + 1]) for nodes in tree.leaves.values() for i in range(0, len(nodes), 2)
    ]
    rounds = [within, *topology_rounds(tree)]
    outputs = [
        IbOutput(a, b, tree.rail, h.ib_text(300.0 if hit else 394.0), f"{k}")
        for k, rnd in enumerate(rounds, start=1)
        for a, b in rnd
        for hit in [any(c.physical == bad for c in tree.route(b, a))]
    ]
    schedule = {
        "ib_write_bw": {"rails": [tree.rail], "rounds": [[list(p) for p in r] for r in rounds]},
        "nccl": [],
    }
    doc = evaluate(
        inv,
        started=STARTED,
        finished=FINISHED,
        ib_outputs=outputs,
        suites=["ib_write_bw"],
        schedule=schedule,
        quick=True,
        topology_from=2,
    )
    validate_results(doc)
    assert doc["mode"] == "quick"
    leaf, spine, number = bad
    fabric = doc["fabric"]
    top = fabric["uplinks"][0]
    assert (top["rail"], top["leaf"], top["spine"], top["cable"], top["failed"]) == (
        tree.rail,
        leaf,
        spine,
        number,
        2,
    )
    failed_spines = [r for r in fabric["spines"] if r["failed"]]
    assert [(r["rail"], r["switch"], r["failed"]) for r in failed_spines] == [(tree.rail, spine, 2)]
    assert [(f["kind"], f["node"], f["peer"]) for f in doc["findings"]] == [("link", leaf, spine)]
    md = render_markdown(doc)
    assert "## Fabric: ib_write_bw streams per switch" in md
    assert f"| {tree.rail} | {spine} | " in md and "| 2 ✗ |" in md
    assert f"| {tree.rail} | {leaf} | {spine} | {number} | 2 | 2 |" in md
    paths = write_reports(doc, tmp_path / "out")
    assert list(paths)[-1] == "ib_write_bw_heatmap.png"  # quick mode: node × rail only
    html = render_html(doc, probe_dir=tmp_path / "out")
    assert html.count('<div class="heatmap">') == 1
    assert f"<td>{leaf}</td><td>{spine}</td><td>{number}</td>" in html
