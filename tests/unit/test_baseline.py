"""Fleet baselines (trainbed.probes.baseline, `trainbed baseline`, `trainbed report --baseline`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.probe_helpers import evaluate_suite, inventory_for, suite_outputs
from trainbed.cli import main
from trainbed.probes.baseline import (
    SIGMA_FLOOR,
    BaselineError,
    Reference,
    build_baseline,
    judge_against,
)
from trainbed.probes.report import write_reports
from trainbed.probes.results import validate_results


def _jitter(*parts: str) -> float:
    """A fixed ±0.4 Gb/s spread per measurement (a healthy fleet is not identical)."""
    return (sum(map(ord, "".join(parts))) % 9 - 4) / 10


def _run(inv, slow_node=None, slow_rail=None, factor=0.95, slow_single=None):
    def ib(a, b, rail):
        gbps = 396.0 + _jitter(a, b, rail)
        return gbps * factor if slow_node in (a, b) and rail == slow_rail else gbps

    def single(host):
        return 478.0 * (factor if host == slow_single else 1.0) + _jitter(host)

    nccl, out = suite_outputs(inv, ib_gbps=ib, single_busbw=single)
    return evaluate_suite(inv, nccl, out)


@pytest.fixture
def inv(tmp_path: Path):
    return inventory_for(tmp_path, 4, 1)


def test_reference_sigma_has_the_floor():
    assert Reference("ib_write_bw", 2, 400.0, 0.0, 10).sigma == pytest.approx(400 * SIGMA_FLOOR)
    assert Reference("ib_write_bw", 2, 400.0, 10.0, 10).sigma == pytest.approx(14.826)


def test_five_percent_slow_hca_passes_absolutely_and_is_named_against_the_baseline(inv):
    baseline = build_baseline([_run(inv), _run(inv)])
    rail = inv.rails[2].name
    slow = _run(inv, slow_node="gpu03", slow_rail=rail)
    assert slow["passed"]  # 376 Gb/s clears the absolute bar
    block = judge_against(slow, baseline, "fleet.json")
    assert [(f["kind"], f["node"], f["rail"]) for f in block["findings"]] == [
        ("hca", "gpu03", rail)
    ]
    assert block["findings"][0]["evidence"].startswith("baseline severe (robust z -")
    assert {o["level"] for o in block["outliers"]} == {"severe"}
    assert all("gpu03" in o["nodes"] and o["rail"] == rail for o in block["outliers"])
    validate_results({**slow, "baseline": block})


def test_slow_single_node_nccl_run_names_the_node(inv):
    baseline = build_baseline([_run(inv), _run(inv)])
    block = judge_against(_run(inv, slow_single="gpu02"), baseline, "fleet.json")
    assert [(f["kind"], f["node"]) for f in block["findings"]] == [("node", "gpu02")]


def test_a_healthy_run_has_no_outlier(inv):
    baseline = build_baseline([_run(inv), _run(inv)])
    assert judge_against(_run(inv), baseline, "fleet.json")["outliers"] == []


def test_only_passing_runs_of_one_cluster_make_a_baseline(inv):
    failing = _run(inv, slow_node="gpu01", slow_rail=inv.rails[0].name, factor=0.5)
    assert not failing["passed"]
    with pytest.raises(BaselineError, match="no passing"):
        build_baseline([failing])
    run = _run(inv)
    with pytest.raises(BaselineError, match="several clusters"):
        build_baseline([run, {**run, "cluster": "elsewhere"}])


def test_cli_builds_and_judges(inv, tmp_path):
    good, slow = tmp_path / "good", tmp_path / "slow"
    write_reports(_run(inv), good)
    write_reports(_run(inv, slow_node="gpu04", slow_rail=inv.rails[5].name), slow)
    fleet = tmp_path / "fleet.json"
    built = CliRunner().invoke(main, ["baseline", str(good), "--out", str(fleet)])
    assert built.exit_code == 0, built.output
    assert json.loads(fleet.read_text())["cluster"] == inv.cluster.name
    judged = CliRunner().invoke(main, ["report", str(slow), "--baseline", str(fleet)])
    assert judged.exit_code == 1, judged.output  # passed absolutely, severe against the fleet
    assert "hca: gpu04" in judged.output
    assert "## Against the fleet baseline" in (slow / "report.md").read_text()
    bad = CliRunner().invoke(main, ["report", str(slow), "--baseline", str(good / "report.md")])
    assert bad.exit_code == 2 and "cannot read the baseline" in bad.output
