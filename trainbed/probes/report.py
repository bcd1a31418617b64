"""Reports rendered from a results document alone: Markdown, JUnit XML and ib_write_bw heatmaps
(a node × rail matrix; in full mode also a node × node matrix per rail, legible at 128 nodes).

Every function takes the JSON data (``results.build_results`` output, or ``results.json`` read
back), so ``trainbed report DIR`` and the run produce the same files.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

HEATMAP = "ib_write_bw_heatmap.png"
#: Always written; full mode adds one ``ib_write_bw_heatmap_<rail>.png`` per rail.
REPORT_FILES = ("results.json", "report.md", "junit.xml", HEATMAP)


def pair_label(node_a: str, node_b: str) -> str:
    return f"{node_a}–{node_b}"


def _num(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.2f} {unit}"


def _cell(text: Any) -> str:
    """A Markdown table cell: no pipes or line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table followed by a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


_KIND_LABEL = {
    "controller": "Controller",
    "subnet_manager": "Subnet manager",
    "cabling": "Cabling",
    "node": "Node",
    "hca": "HCA",
    "link": "Link",
    "ambiguous": "Ambiguous",
    "not_measured": "Not measured",
}


def _finding_line(f: Mapping[str, Any]) -> str:
    """``- **HCA** gpu03 mlx5_4 on rail2: evidence``."""
    rail = f" on {f['rail']}" if f.get("rail") else ""
    if f["kind"] == "controller":
        what = f"{f['node']}"
    elif f["kind"] == "subnet_manager":
        what = f"{f['rail']}"
    elif f["kind"] in ("node", "not_measured"):
        what = f"{f['node']}"
    elif f["kind"] in ("hca", "cabling"):
        what = f"{f['node']} {f['hca']}{rail}"
    elif f["kind"] == "link":
        ends = [" ".join(x for x in (f["node"], f["hca"]) if x)]
        ends.append(" ".join(x for x in (f["peer"], f.get("peer_hca")) if x))
        what = f"{ends[0]} ↔ {ends[1]}{rail}"  # a leaf–spine cable has no HCA
    elif f.get("node"):
        what = f"{f['node']} or {f['peer']}{rail}"
    else:
        what = ", ".join(f.get("nodes", ()))
    return f"- **{_KIND_LABEL[f['kind']]}** {what}: {f['evidence']}"


def _baseline_lines(results: Mapping[str, Any]) -> list[str]:
    """The fleet-baseline section: outliers the absolute thresholds passed, localised."""
    block = results.get("baseline")
    if not block:
        return []
    out = ["## Against the fleet baseline", ""]
    out.append(
        f"Baseline `{block['file']}`: {len(block['outliers'])} figure(s) below robust z "
        f"{block['suspect_z']:g} (severe below {block['severe_z']:g})."
    )
    out += ["", *(_finding_line(f) for f in block["findings"]), ""]
    return out


def _headline(results: Mapping[str, Any]) -> str:
    s = results.get("summary", {})
    verdict = "PASSED" if results["passed"] else "FAILED"
    if results.get("incomplete"):
        verdict = f"INCOMPLETE ({results.get('interrupted') or 'interrupted'}), FAILED"
    parts = []
    if "nccl" in results["suites"]:
        failed = sum(not v["passed"] for v in results["nccl"])
        parts.append(f"{failed} of {len(results['nccl'])} NCCL runs failed")
    if "ib_write_bw" in results["suites"]:
        failed = sum(not v["passed"] for v in results["ib_write_bw"])
        parts.append(f"{failed} of {len(results['ib_write_bw'])} ib_write_bw measurements failed")
    if results["missing"]:
        parts.append(f"{len(results['missing'])} scheduled measurements missing")
    if results.get("excluded"):
        parts.append(f"{len(results['excluded'])} node(s) excluded, not measured")
    parts.append(f"{len(results['findings'])} finding(s)")
    if s.get("jobs_not_completed"):
        parts.append(f"{s['jobs_not_completed']} job(s) did not complete")
    return f"**{verdict}**: " + "; ".join(parts) + "."


def latency_lines(results: Mapping[str, Any]) -> list[str]:
    """The ib_write_lat section: per pair and rail, typical / p99 / p99.9 in µs (✗ over the bar);
    nothing when the run measured no latency."""
    if not any(v.get("lat_passed") is not None for v in results["ib_write_bw"]):
        return []

    def cell(v: Mapping[str, Any]) -> str:
        if v.get("lat_passed") is None:
            return ""
        figures = [v.get(k) for k in ("lat_typical_us", "lat_p99_us", "lat_p999_us")]
        text = " / ".join("—" if f is None else f"{f:.2f}" for f in figures)
        return text + ("" if v["lat_passed"] else " ✗")

    rails, rows = _matrix_rows(results, cell)
    bar = results["thresholds"].get("ib_write_lat_p99_max_us")
    return [
        "## ib_write_lat (µs: typical / p99 / p99.9)",
        "",
        f"2-byte RDMA writes after each pair's bandwidth run; pass at p99 ≤ {bar:g} µs; ✗ failed.",
        "",
        *_table(["Pair", *rails], rows),
    ]


def _matrix_rows(
    results: Mapping[str, Any], cell: Callable[[Mapping[str, Any]], str]
) -> tuple[list[str], list[list[Any]]]:
    """Rails, and one row per pair: its label, then ``cell`` of its verdict on each rail ("" where
    it has none)."""
    pairs, rails, cells = _ib_matrix(results)
    rows: list[list[Any]] = []
    for label in pairs:
        row: list[Any] = [label]
        for rail in rails:
            v = cells.get((label, rail))
            row.append("" if v is None else cell(v))
        rows.append(row)
    return rails, rows


def _ib_matrix(
    results: Mapping[str, Any],
) -> tuple[list[str], list[str], dict[tuple[str, str], Any]]:
    """Pair labels (in node order), rails, and (pair label, rail) → verdict."""
    rails = list(results["schedule"]["ib_write_bw"]["rails"])
    order: dict[str, int] = {}
    for run in results["schedule"]["nccl"]:
        for node in run["nodes"]:
            order.setdefault(node, len(order))
    pairs: dict[str, tuple[int, int, str]] = {}
    cells: dict[tuple[str, str], Any] = {}
    for v in results["ib_write_bw"]:
        label = pair_label(v["node_a"], v["node_b"])
        a, b = (order.get(n, len(order)) for n in (v["node_a"], v["node_b"]))
        pairs[label] = (min(a, b), max(a, b), label)
        if v["rail"] not in rails:
            rails.append(v["rail"])
        cells[(label, v["rail"])] = v
    return sorted(pairs, key=pairs.__getitem__), rails, cells


def _training_row(v: Mapping[str, Any]) -> list[str]:
    """Model, nodes, expected and actual minutes per 500 steps, median step with its spread."""
    step = (
        f"{v['median_step_s']:.2f} s ({v['p10_step_s']:.2f}–{v['p90_step_s']:.2f})"
        if v["median_step_s"] is not None
        else "—"
    )
    return [
        v["model"],
        str(v["nodes"]),
        "≤ " + _num(v["limit_minutes"], "min"),
        _num(v["minutes_per_500_steps"], "min"),
        step,
    ]


def render_markdown(results: Mapping[str, Any]) -> str:
    """The summary: verdict first, then findings, failures (expected vs actual), then tables."""
    t = results["thresholds"]
    finished = f"finished {results['finished']}." if results["finished"] else "did not finish."
    out = [
        f"# Probe results: {results['cluster']}",
        "",
        _headline(results),
        "",
        f"Inventory `{results['inventory']}`, started {results['started']}, {finished}",
        "",
    ]
    if results.get("bound"):
        b = results["bound"]
        took = f"; took {b['elapsed_s']:g} s" if b.get("elapsed_s") is not None else ""
        out += [
            f"Bound: {b['seconds']} s ({b['jobs']} job(s): {b['job_limits_s']} s of time limits "
            f"+ {b['job_margin_s']} s each + {b['run_margin_s']} s){took}.",
            "",
        ]
    if results["findings"]:
        out += ["## Findings", "", *(_finding_line(f) for f in results["findings"]), ""]
    out += _baseline_lines(results)

    failed_nccl = [v for v in results["nccl"] if not v["passed"]]
    failed_ib = [v for v in results["ib_write_bw"] if not v["passed"]]
    if failed_nccl or failed_ib or results["missing"]:
        out += ["## Failures", ""]
    if failed_nccl:
        rows = [
            [
                v["name"],
                ", ".join(v["nodes"]),
                "≥ " + _num(v["threshold_gbs"], "GB/s") if v["threshold_gbs"] else "correct data",
                _num(v["busbw_gbs"], "GB/s"),
                "; ".join(v["reasons"]),
            ]
            for v in failed_nccl
        ]
        out += ["### NCCL all_reduce", ""]
        out += _table(["Run", "Nodes", "Expected", "Actual (median busbw)", "Why"], rows)
    if failed_ib:
        rows = [
            [
                pair_label(v["node_a"], v["node_b"]),
                v["rail"],
                f"{v['hca_a']} ↔ {v['hca_b']}",
                "≥ " + _num(v["threshold_gbps"], "Gb/s"),
                _num(v["gbps"], "Gb/s"),
                v["reason"],
            ]
            for v in failed_ib
        ]
        out += ["### ib_write_bw", ""]
        out += _table(["Pair", "Rail", "HCAs", "Expected", "Actual", "Why"], rows)
    failed_training = [v for v in results.get("training", []) if not v["passed"]]
    if failed_training:
        out += ["### Training (minutes per 500 steps)", ""]
        out += _table(
            ["Model", "Nodes", "Expected", "Actual", "Why"],
            [[*_training_row(v)[:4], "; ".join(v["reasons"])] for v in failed_training],
        )
    storage = results.get("storage")
    if storage and storage["failures"]:
        out += ["### Storage", "", *(f"- {line}" for line in storage["failures"]), ""]
    if results["missing"]:
        out += ["### Not measured", "", *(f"- {m}" for m in results["missing"]), ""]

    bad_jobs = [j for j in results["jobs"] if j["state"].split()[0].upper() != "COMPLETED"]
    if bad_jobs:
        rows = [
            [j["job_id"] or "—", j["name"], ", ".join(j["nodes"]), j["state"], j["reason"] or ""]
            for j in bad_jobs
        ]
        out += ["## Jobs that did not complete", ""]
        out += _table(["Job", "Name", "Nodes", "State", "Reason"], rows)

    if results.get("training"):
        out += ["## Training (white paper Table 4)", ""]
        out += _table(
            ["", "Model", "Nodes", "Expected", "Actual", "Median step (p10–p90)", "Basis"],
            [
                ["PASS" if v["passed"] else "FAIL", *_training_row(v), v["basis"] or ""]
                for v in results["training"]
            ],
        )

    if storage:
        out += storage_lines(storage)

    if results["nccl"]:
        rows = [
            [
                "PASS" if v["passed"] else "FAIL",
                v["name"],
                ", ".join(v["nodes"]),
                _num(v["busbw_gbs"], "GB/s"),
                _num(v["peak_busbw_gbs"], "GB/s"),
                _num(v["threshold_gbs"], "GB/s"),
                "; ".join(v["notes"]),
            ]
            for v in results["nccl"]
        ]
        out += [
            "## NCCL all_reduce",
            "",
            f"Median bus bandwidth over message sizes ≥ {t['large_message_bytes']} bytes.",
            "",
        ]
        out += _table(["", "Run", "Nodes", "Median", "Peak", "Threshold", "Notes"], rows)

    if results["ib_write_bw"]:
        rails, rows = _matrix_rows(
            results,
            lambda v: (
                ("—" if v["gbps"] is None else f"{v['gbps']:.1f}") + ("" if v["passed"] else " ✗")
            ),
        )
        out += [
            "## ib_write_bw (Gb/s)",
            "",
            f"Pass at ≥ {t['ib_write_bw_min_gbps']:g} Gb/s ({t['ib_write_bw_basis']}); ✗ failed.",
            "",
        ]
        out += _table(["Pair", *rails], rows)
    out += latency_lines(results)

    out += fabric_lines(results.get("fabric"))

    out += ["## Thresholds", ""]
    out += [
        f"- ib_write_bw: ≥ {t['ib_write_bw_min_gbps']:g} Gb/s ({t['ib_write_bw_basis']})",
        *(
            [
                f"- ib_write_lat: p99 ≤ {t['ib_write_lat_p99_max_us']:g} µs ({t['ib_write_lat_basis']})"
            ]
            if "ib_write_lat_p99_max_us" in t
            else []
        ),
        f"- NCCL multi-node: ≥ {t['multi_node_min_busbw_gbs']:g} GB/s ({t['multi_node_basis']})",
    ]
    gates = {
        (g["min_busbw_gbs"], g["basis"]): [h for h, o in t["single_node"].items() if o == g]
        for g in t["single_node"].values()
    }
    for (gate, basis), hosts in gates.items():
        value = f"≥ {gate:g} GB/s" if gate is not None else "correctness only"
        out.append(f"- NCCL single node ({', '.join(hosts)}): {value} ({basis})")
    out += [""]

    ver = results["versions"]
    out += ["## Versions", ""]
    out += [
        f"- {label}: {ver.get(key) or 'unknown'}"
        for key, label in (
            ("nccl", "NCCL"),
            ("nccl_tests", "nccl-tests"),
            ("perftest", "perftest"),
            ("driver", "NVIDIA driver"),
        )
    ]
    for host, info in sorted(ver.get("nodes", {}).items()):
        fw = info.get("hca_firmware") or {}
        firmware = ", ".join(f"{d} {v or '?'}" for d, v in sorted(fw.items())) or "unknown"
        out.append(f"- {host}: driver {info.get('driver') or 'unknown'}; HCA firmware {firmware}")
    return "\n".join(out) + "\n"


def fabric_lines(fabric: Mapping[str, Any] | None) -> list[str]:
    """The per-leaf and per-spine tables of ib_write_bw streams, and the cables that failed."""
    if not fabric:
        return []
    out = [
        "## Fabric: ib_write_bw streams per switch",
        "",
        "Each stream counts at every leaf and spine its route crosses (D-mod-K).",
        "",
    ]
    for tier, rows in (("Leaf", fabric["leaves"]), ("Spine", fabric["spines"])):
        out += _table(
            ["Rail", tier, "Streams", "Failed"],
            [
                [r["rail"], r["switch"], r["streams"], f"{r['failed']} ✗" if r["failed"] else 0]
                for r in rows
            ],
        )
    if fabric["uplinks"]:
        shown = len(fabric["uplinks"])
        more = f", the {shown} with most failures" if shown < fabric["uplinks_failed"] else ""
        out += [f"Leaf–spine cables with a failed stream: {fabric['uplinks_failed']}{more}.", ""]
        out += _table(
            ["Rail", "Leaf", "Spine", "Cable", "Streams", "Failed"],
            [
                [u["rail"], u["leaf"], u["spine"], u["cable"], u["streams"], u["failed"]]
                for u in fabric["uplinks"]
            ],
        )
    return out


STORAGE_STATUS = {"passed": "PASS", "failed": "FAIL", "not_measured": "NOT MEASURED"}


def _gbs(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} GB/s"


def storage_lines(storage: Mapping[str, Any]) -> list[str]:
    """The Markdown section of the storage suite: verdict, figures against the need, where."""
    need = storage["need"]
    out = [
        "## Checkpoint storage",
        "",
        f"**{STORAGE_STATUS[storage['status']]}** at `{storage['directory']}`; need: "
        f"{need['basis']}; per node {_gbs(need['node_write_gbs'])} write, "
        f"{_gbs(need['node_read_gbs'])} read ({need['node_basis']}).",
        "",
        *(f"- {line}" for line in storage["not_measured"]),
    ]
    if storage["not_measured"]:
        out.append("")
    agg = storage["aggregate"]
    rows = [["all nodes", str(agg["files"]), _gbs(agg["write_gbs"]), _gbs(agg["read_gbs"]), ""]]
    for node, f in storage["nodes"].items():
        mount = storage["mounts"].get(node)
        where = f"{mount['fstype']} {mount['source']} at {mount['target']}" if mount else "—"
        rows.append([node, str(f["files"]), _gbs(f["write_gbs"]), _gbs(f["read_gbs"]), where])
    out += _table(["", "Files", "Write", "Read", "Filesystem"], rows)
    if storage["shortfalls"]:
        out += ["Below the need, but not measured on NFS (judges nothing):", ""]
        out += [*(f"- {line}" for line in storage["shortfalls"]), ""]
    return out


def _testcase(
    suite: ET.Element,
    classname: str,
    name: str,
    elapsed: float | None,
    failure: str | None,
    text: str,
) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=classname, name=name, time=f"{elapsed or 0.0:.3f}"
    )
    if failure is not None:
        ET.SubElement(case, "failure", message=failure).text = text


def render_junit(results: Mapping[str, Any]) -> str:
    """JUnit XML: a testsuite per probe kind, one testcase per NCCL run and per pair × rail.

    ``classname`` names what was tested (``nccl.single.gpu01``, ``ib_write_bw.rail3.gpu01-gpu02``)
    so CI tools group failures by node and rail.
    """
    elapsed = {j["job_id"]: j["elapsed_s"] for j in results["jobs"] if j["job_id"]}
    root = ET.Element("testsuites", name=f"trainbed probe {results['cluster']}")
    findings = "\n".join(_finding_line(f) for f in results["findings"])

    nccl = ET.SubElement(root, "testsuite", name="nccl_all_reduce")
    for v in results["nccl"]:
        message = "; ".join(v["reasons"]) if not v["passed"] else None
        detail = (
            f"median busbw {_num(v['busbw_gbs'], 'GB/s')}, threshold "
            f"{_num(v['threshold_gbs'], 'GB/s')}, diagnosis {v['diagnosis']}"
        )
        _testcase(
            nccl,
            f"nccl.{v['kind']}.{'-'.join(v['nodes'])}",
            f"{v['name']} [{', '.join(v['nodes'])}]",
            elapsed.get(v["job_id"]),
            message,
            detail,
        )
    ib = ET.SubElement(root, "testsuite", name="ib_write_bw")
    for v in results["ib_write_bw"]:
        pair = f"{v['node_a']}-{v['node_b']}"
        detail = f"{_num(v['gbps'], 'Gb/s')} measured, threshold {v['threshold_gbps']:g} Gb/s"
        _testcase(
            ib,
            f"ib_write_bw.{v['rail']}.{pair}",
            f"{v['node_a']} {v['hca_a']} -> {v['node_b']} {v['hca_b']} on {v['rail']}",
            None,
            v["reason"] if not v["passed"] else None,
            detail,
        )
    if results.get("training"):
        train = ET.SubElement(root, "testsuite", name="training")
        for v in results["training"]:
            _testcase(
                train,
                f"training.{v['model']}.{v['nodes']}n",
                f"{v['model']} on {v['nodes']} node(s), network configuration {v['network_config']}",
                None,
                "; ".join(v["reasons"]) if not v["passed"] else None,
                v["text"],
            )
    storage = results.get("storage")
    if storage:
        suite = ET.SubElement(root, "testsuite", name="storage")
        agg = storage["aggregate"]
        detail = f"write {_gbs(agg['write_gbs'])}, read {_gbs(agg['read_gbs'])}"
        failure = "; ".join(storage["failures"]) if storage["status"] == "failed" else None
        _testcase(suite, "storage.checkpoint", storage["directory"], None, failure, detail)
        if storage["status"] == "not_measured":
            case = suite.findall("testcase")[-1]
            ET.SubElement(case, "skipped", message="; ".join(storage["not_measured"]))
    missing = ET.SubElement(root, "testsuite", name="coverage")
    for m in results["missing"]:
        _testcase(missing, "coverage", m, None, "scheduled but not measured", m)

    total = {"tests": 0, "failures": 0}
    for suite in root:
        cases = suite.findall("testcase")
        failures = sum(case.find("failure") is not None for case in cases)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(sum(case.find("skipped") is not None for case in cases)))
        suite.set("time", f"{sum(float(c.get('time', '0')) for c in cases):.3f}")
        suite.set("timestamp", results["started"])
        total["tests"] += len(cases)
        total["failures"] += failures
    root.set("tests", str(total["tests"]))
    root.set("failures", str(total["failures"]))
    root.set("errors", "0")
    if findings:
        ET.SubElement(ib, "system-out").text = findings
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


#: Per node of a heatmap axis: 0.11 in at 100 dpi, 11 px, room for a 6 pt label.
CELL_IN = 0.11
#: Tick labels are never smaller than this (points).
LABEL_PT = 6.0
#: Up to this many nodes every node is labelled; beyond it every k-th, and the figure stops growing.
LABELLED_MAX = 128
#: Cells carry their figure up to this many nodes: node × rail, node × node.
ANNOTATE_NODES = 64
ANNOTATE_PAIRS_NODES = 16
#: Node × rail rows are taller than node × node cells: they carry a figure each.
ROW_STRETCH = 1.5


def heatmap_names(results: Mapping[str, Any]) -> list[str]:
    """The heatmap files of a document: the node × rail matrix, and in full mode (the default
    of older documents) a node × node matrix per rail."""
    names = [HEATMAP]
    if results.get("mode", "full") == "full" and results["ib_write_bw"]:
        names += [f"ib_write_bw_heatmap_{rail}.png" for rail in _rails(results)]
    return names


def _rails(results: Mapping[str, Any]) -> list[str]:
    rails = list(results["schedule"]["ib_write_bw"]["rails"])
    return rails + sorted({v["rail"] for v in results["ib_write_bw"]} - set(rails))


def _nodes(results: Mapping[str, Any]) -> list[str]:
    """Compute nodes in schedule order (the NCCL runs', then the measurements')."""
    order: dict[str, None] = {}
    for run in results["schedule"]["nccl"]:
        order.update(dict.fromkeys(run["nodes"]))
    for v in results["ib_write_bw"]:
        order.update(dict.fromkeys((v["node_a"], v["node_b"])))
    return list(order)


def node_rail_cells(
    results: Mapping[str, Any],
) -> tuple[list[str], list[str], list[list[float]], list[list[list[int]]]]:
    """Nodes, rails, each node's best figure on each rail (NaN: none) and [passed, measured]
    counts of its measurements there. A node's best figure is what it does with a good partner;
    none passing on a rail singles its port out, whatever its partners."""
    nodes, rails = _nodes(results), _rails(results)
    row, col = {n: i for i, n in enumerate(nodes)}, {r: j for j, r in enumerate(rails)}
    best = [[math.nan] * len(rails) for _ in nodes]
    counts = [[[0, 0] for _ in rails] for _ in nodes]
    for v in results["ib_write_bw"]:
        j = col[v["rail"]]
        for node in (v["node_a"], v["node_b"]):
            i = row[node]
            counts[i][j][0] += int(v["passed"])
            counts[i][j][1] += 1
            if v["gbps"] is not None and not (v["gbps"] <= best[i][j]):
                best[i][j] = v["gbps"]
    return nodes, rails, best, counts


def _axis_labels(ax: Any, axis: str, labels: Sequence[str]) -> None:
    """Every node's label up to :data:`LABELLED_MAX` nodes, then every k-th, at ≥ 6 pt."""
    step = max(1, math.ceil(len(labels) / LABELLED_MAX))
    ticks = list(range(0, len(labels), step))
    shown = [labels[i] for i in ticks]
    if axis == "x":
        ax.set_xticks(ticks, shown, rotation=90, fontsize=LABEL_PT)
    else:
        ax.set_yticks(ticks, shown, fontsize=LABEL_PT)


def _span(count: int, least: int = 1) -> float:
    """Inches a heatmap axis of ``count`` nodes takes (at least ``least`` cells' worth; it stops
    growing past LABELLED_MAX)."""
    return CELL_IN * min(max(count, least), LABELLED_MAX)


def _new_figure(width: float, height: float) -> Any:
    # matplotlib costs ~0.35 s to import: only the command that draws pays it, not every start.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _draw(ax: Any, fig: Any, data: Any, threshold: float, measured: Sequence[float]) -> None:
    from matplotlib import colormaps

    cmap = colormaps["RdYlGn"].with_extremes(bad="lightgrey")  # grey: no figure measured
    vmax = max([*measured, threshold / 0.9])
    image = ax.imshow(
        data, aspect="auto", cmap=cmap, vmin=threshold * 0.5, vmax=vmax, interpolation="nearest"
    )
    width = fig.get_size_inches()[0]
    fig.colorbar(image, ax=ax, label="ib_write_bw Gb/s", fraction=0.3 / width, pad=0.1 / width)


def _empty(fig: Any, text: str) -> Any:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return fig


def node_rail_figure(results: Mapping[str, Any]) -> Any:
    """Rows nodes, columns rails, colour each node's best Gb/s on the rail; a cross where none
    of its measurements there passed, a dot where some failed."""
    nodes, rails, best, counts = node_rail_cells(results)
    threshold = results["thresholds"]["ib_write_bw_min_gbps"]
    fig = _new_figure(0.6 * len(rails) + 3.2, _span(len(nodes), least=12) * ROW_STRETCH + 1.6)
    if not results["ib_write_bw"]:
        return _empty(fig, "no ib_write_bw measurements")
    ax = fig.add_subplot()
    _draw(ax, fig, best, threshold, [x for row in best for x in row if not math.isnan(x)])
    ax.set_xticks(range(len(rails)), rails, rotation=45, ha="right", fontsize=7)
    _axis_labels(ax, "y", nodes)
    ax.set_title(
        f"{results['cluster']}: best ib_write_bw per node and rail\n"
        f"(pass ≥ {threshold:g} Gb/s; × none passed, • some failed)",
        fontsize=8,
    )
    cells = [(i, j) for i in range(len(nodes)) for j in range(len(rails)) if counts[i][j][1]]
    none = [(j, i) for i, j in cells if counts[i][j][0] == 0]
    some = [(j, i) for i, j in cells if 0 < counts[i][j][0] < counts[i][j][1]]
    _marks(ax, none, "x", 40)
    _marks(ax, some, ".", 25)
    if len(nodes) <= ANNOTATE_NODES:
        for i, j in cells:
            if not math.isnan(best[i][j]):
                ax.text(j + 0.28, i, f"{best[i][j]:.0f}", ha="center", va="center", fontsize=5)
    fig.tight_layout()
    return fig


def _marks(ax: Any, points: Sequence[tuple[int, int]], marker: str, size: float) -> None:
    if points:
        xs, ys = zip(*points, strict=True)
        ax.scatter(xs, ys, marker=marker, s=size, c="black", linewidths=1.0)


def node_node_figure(results: Mapping[str, Any], rail: str) -> Any:
    """One rail's all-pairs matrix: rows and columns nodes, colour Gb/s, a cross where the
    pair failed (symmetric; the diagonal grey)."""
    nodes = _nodes(results)
    index = {n: i for i, n in enumerate(nodes)}
    threshold = results["thresholds"]["ib_write_bw_min_gbps"]
    side = _span(len(nodes), least=40)
    fig = _new_figure(side + 2.6, side + 1.6)
    data = [[math.nan] * len(nodes) for _ in nodes]
    failed: list[tuple[int, int]] = []
    for v in results["ib_write_bw"]:
        if v["rail"] != rail:
            continue
        a, b = index[v["node_a"]], index[v["node_b"]]
        if v["gbps"] is not None:
            data[a][b] = data[b][a] = v["gbps"]
        if not v["passed"]:
            failed += [(a, b), (b, a)]
    measured = [x for row in data for x in row if not math.isnan(x)]
    if not measured and not failed:
        return _empty(fig, f"no ib_write_bw measurements on {rail}")
    ax = fig.add_subplot()
    _draw(ax, fig, data, threshold, measured)
    _axis_labels(ax, "x", nodes)
    _axis_labels(ax, "y", nodes)
    ax.set_title(
        f"{results['cluster']}: ib_write_bw on {rail}, node × node "
        f"(pass ≥ {threshold:g} Gb/s; × failed)",
        fontsize=8,
    )
    _marks(ax, failed, "x", 30 if len(nodes) <= 32 else 8)
    if len(nodes) <= ANNOTATE_PAIRS_NODES:
        for a, row in enumerate(data):
            for b, x in enumerate(row):
                if not math.isnan(x):
                    ax.text(b, a, f"{x:.0f}", ha="center", va="center", fontsize=5)
    fig.tight_layout()
    return fig


def heatmap_figures(results: Mapping[str, Any]) -> dict[str, Any]:
    """File name → matplotlib figure, as :func:`heatmap_names` lists them."""
    figures = {HEATMAP: node_rail_figure(results)}
    for name in heatmap_names(results)[1:]:
        rail = name.removeprefix("ib_write_bw_heatmap_").removesuffix(".png")
        figures[name] = node_node_figure(results, rail)
    return figures


def render_heatmaps(results: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write every heatmap of :func:`heatmap_names` to ``out_dir`` (earlier runs' per-rail
    heatmaps there removed first); name → path."""
    for stale in out_dir.glob("ib_write_bw_heatmap_*.png"):
        stale.unlink()
    paths = {}
    for name, fig in heatmap_figures(results).items():
        paths[name] = out_dir / name
        fig.savefig(paths[name], format="png")
    return paths


def write_reports(results: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``report.md``, ``junit.xml`` and the heatmaps
    (:func:`heatmap_names`) to ``out_dir`` (created if needed); return name → path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in REPORT_FILES}
    paths["results.json"].write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    paths["report.md"].write_text(render_markdown(results), encoding="utf-8")
    paths["junit.xml"].write_text(render_junit(results), encoding="utf-8")
    paths.update(render_heatmaps(results, out))
    return paths
