"""The per-node summary of `trainbed check`, read from the JUnit XML pytest writes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.junit_schema import schema_problems
from trainbed.checks.junit import (
    CaseResult,
    format_table,
    node_of,
    one_line,
    read_junit,
    read_warnings,
    summarise,
    warning_lines,
)
from trainbed.checks.run import pytest_args

FIXTURES = Path(__file__).parents[1] / "fixtures" / "checks"
HOSTS = ["cp1", "gpu01", "gpu02", "gpu03", "gpu04"]


@pytest.mark.parametrize(
    ("params", "hosts", "node"),
    [
        ("gpu02", HOSTS, "gpu02"),
        ("gpu02-mlx5_4", HOSTS, "gpu02"),
        ("gpu02-/mnt/datasets", HOSTS, "gpu02"),
        ("rack-a-gpu1-mlx5_0", ["rack-a-gpu1", "rack-a-gpu10"], "rack-a-gpu1"),
        ("rack-a-gpu10-mlx5_0", ["rack-a-gpu1", "rack-a-gpu10"], "rack-a-gpu10"),
        ("NOTSET", HOSTS, None),
        ("gpu02-munge", [], "gpu02"),
        ("", HOSTS, None),
    ],
)
def test_node_of(params: str, hosts: list[str], node: str | None) -> None:
    assert node_of(params, hosts) == node


def test_one_line_drops_the_exception_class_and_the_explanation() -> None:
    message = "AssertionError: gpu02 mlx5_4 rate: expected 400 Gb/s, got 200\nassert False"
    assert one_line(message) == "gpu02 mlx5_4 rate: expected 400 Gb/s, got 200"
    assert one_line("trainbed.remote.Unreachable: gpu02: SSH failed") == "gpu02: SSH failed"
    assert one_line("") == ""


def test_summary_of_a_real_run_with_a_fault() -> None:
    """A JUnit file `trainbed check` wrote on the mock cluster with gpu02's mlx5_4 at 200 Gb/s."""
    results = read_junit(FIXTURES / "junit_hca_rate_200.xml", HOSTS)
    failed = [r for r in results if r.outcome == "failed"]
    assert {r.node for r in failed} == {"gpu02"}
    assert any(
        r.check == "test_hca_port"
        and r.params == "gpu02-mlx5_4"
        and "expected 400 Gb/s, got 200" in r.message
        for r in failed
    )
    summaries = {s.node: s for s in summarise(results, {h: "" for h in HOSTS})}
    assert summaries["gpu02"].failed >= 1
    assert summaries["gpu02"].first_failure.startswith(
        "test_hca_port[gpu02-mlx5_4]: gpu02 mlx5_4 rate"
    )
    assert all(summaries[h].failed == 0 and summaries[h].passed for h in HOSTS if h != "gpu02")


def test_the_real_file_fits_the_schema_pytest_emits() -> None:
    root = ET.parse(FIXTURES / "junit_hca_rate_200.xml").getroot()
    assert schema_problems(root) == []


def _junit(tmp_path: Path, cases: str) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        '<testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="1.0">'
        f"{cases}</testsuite></testsuites>"
    )
    return path


def test_read_outcomes(tmp_path: Path) -> None:
    path = _junit(
        tmp_path,
        '<properties><property name="warning" value="gpu01 GPU 0 XID: expected no XID in 24 h, '
        'got XID 31 at t (MMU Fault)"/><property name="other" value="x"/></properties>'
        '<testcase classname="checks.test_nvidia" name="test_gpu_count[gpu01]" time="0.1"/>'
        '<testcase classname="checks.test_nvidia" name="test_gpu_count[gpu02]" time="0.1">'
        '<failure message="AssertionError: gpu02 GPU count: expected 8, got 7&#10;assert 7 == 8">'
        "trace</failure></testcase>"
        '<testcase classname="checks.test_slurm" name="test_munge_key_identical[gpu02]">'
        '<error message="failed on setup with &quot;RuntimeError: boom&quot;">x</error></testcase>'
        '<testcase classname="checks.test_nvidia" name="test_peermem_loaded[gpu01]">'
        '<skipped type="pytest.skip" message="gpu01 cannot load kernel modules">s</skipped>'
        "</testcase>",
    )
    results = read_junit(path, HOSTS)
    assert [(r.node, r.outcome) for r in results] == [
        ("gpu01", "passed"),
        ("gpu02", "failed"),
        ("gpu02", "error"),
        ("gpu01", "skipped"),
    ]
    warnings = read_warnings(path)
    assert warnings == ["gpu01 GPU 0 XID: expected no XID in 24 h, got XID 31 at t (MMU Fault)"]
    suite_only = _junit(tmp_path, '<properties><property name="warning" value="w"/></properties>')
    assert schema_problems(ET.parse(suite_only).getroot()) == []  # xunit2: on the suite only
    assert results[1].message == "gpu02 GPU count: expected 8, got 7"
    assert results[1].module == "checks.test_nvidia"
    summaries = summarise(
        results,
        {"cp1": "slurmctld_primary", "gpu01": "compute", "gpu02": "compute"},
        [*warnings, "elsewhere: no node"],
    )
    assert [(s.node, s.warnings) for s in summaries if s.warnings] == [
        ("gpu01", warnings),
        ("(cluster)", ["elsewhere: no node"]),
    ]
    summaries = summaries[:3]
    assert [(s.node, s.passed, s.failed, s.skipped) for s in summaries] == [
        ("cp1", 0, 0, 0),
        ("gpu01", 1, 0, 1),
        ("gpu02", 0, 2, 0),
    ]
    assert summaries[2].first_failure == "test_gpu_count[gpu02]: gpu02 GPU count: expected 8, got 7"


def test_results_without_a_node_go_to_a_cluster_row() -> None:
    summaries = summarise([CaseResult(None, "test_x", "m", "failed", "boom")])
    assert summaries[0].node == "(cluster)" and summaries[0].failed == 1


def test_table() -> None:
    summaries = summarise(
        [
            CaseResult(
                "gpu02",
                "test_hca_port",
                "m",
                "failed",
                "gpu02 mlx5_4 rate: expected 400 Gb/s, got 200",
                "gpu02-mlx5_4",
            ),
            CaseResult("gpu01", "test_hca_port", "m", "passed", "", "gpu01-mlx5_4"),
            CaseResult(
                "gpu01", "test_peermem_loaded", "m", "skipped", "no CAP_SYS_MODULE", "gpu01"
            ),
            CaseResult("gpu02", "test_gpu_count", "m", "skipped", "could not run: gpu02: SSH…"),
        ],
        {"gpu01": "compute", "gpu02": "compute"},
        ["gpu01 GPU 0 clock event reasons: expected …, got HW Slowdown"],
    )
    lines = format_table(summaries).splitlines()
    header = ["node", "role", "passed", "failed", "skipped", "not", "run", "warnings"]
    assert lines[0].split() == [*header, "first", "failure"]
    assert lines[1].split()[:7] == ["gpu01", "compute", "1", "0", "1", "0", "1"]
    assert lines[2].split()[:7] == ["gpu02", "compute", "0", "1", "0", "1", "0"]
    assert warning_lines(summaries) == [
        "gpu01 GPU 0 clock event reasons: expected …, got HW Slowdown"
    ]
    assert lines[2].endswith(
        "test_hca_port[gpu02-mlx5_4]: gpu02 mlx5_4 rate: expected 400 Gb/s, got 200"
    )
    assert format_table(summaries, width=20).splitlines()[2].endswith("…")


def test_pytest_command_line() -> None:
    args = pytest_args("inv.yaml", "out.xml", limit="gpu0*", workers=4)
    suite = Path(__file__).parents[2] / "trainbed" / "checks"
    assert args[1:8] == [
        "-m",
        "pytest",
        str(suite),
        "--rootdir",
        str(suite.parent),
        "-p",
        "trainbed.checks.plugin",
    ]
    joined = " ".join(args)
    assert "--inventory inv.yaml" in joined and "--junitxml out.xml" in joined
    assert "--limit gpu0*" in joined and "-n 4" in joined
    assert "-n" not in pytest_args("inv.yaml", "out.xml", workers=0)
    assert "--level" not in args
    assert "--level standard" in " ".join(pytest_args("inv.yaml", "out.xml", level="standard"))
