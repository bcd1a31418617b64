"""`trainbed probe plan` and `trainbed report`, through click's CliRunner."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import click
from click.testing import CliRunner

from tests.unit import probe_helpers as h
from trainbed.cli import main
from trainbed.cli.probe_commands import RUN_COMMAND, ProbeGroup
from trainbed.probes.evaluate import evaluate
from trainbed.probes.schedule import build_schedule


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_plan_json_with_pairs_is_the_schedule() -> None:
    result = invoke("probe", "plan", str(h.PROD_YAML), "--json", "--pairs")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    inv = h.load_prod()
    assert plan == build_schedule([n.hostname for n in inv.compute], [r.name for r in inv.rails])
    assert set(plan) == {"ib_write_bw", "nccl"}
    assert set(plan["ib_write_bw"]) == {"rails", "rounds"}
    assert len(plan["ib_write_bw"]["rounds"]) == 5  # 6 nodes: N − 1 rounds
    assert all({"name", "nodes"} <= set(run) for run in plan["nccl"])


def test_plan_table(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    from trainbed.inventory.generate import dump_inventory, generate_inventory

    path.write_text(dump_inventory(generate_inventory(3, 2)))
    result = invoke("probe", "plan", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ib_write_bw: 3 pairs × 4 rails") and "in 3 rounds" in lines[0]
    assert sum(line.strip().startswith("round") for line in lines) == 3
    assert any("NCCL_ALGO=Ring" in line and line.strip().startswith("all") for line in lines)


def test_plan_invalid_inventory(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: {name: 3}\n")
    result = invoke("probe", "plan", str(bad))
    assert result.exit_code == 2
    assert f"{bad}: invalid" in result.output


def test_probe_inventory_runs_and_refuses_an_unverifiable_host() -> None:
    # prod.yaml verifies host keys ("yes") against a known_hosts file this checkout lacks:
    # the run refuses before any connection is attempted.
    result = invoke("probe", str(h.PROD_YAML))
    assert result.exit_code == 2
    assert "connecting to cp1" in result.output
    assert "no such known_hosts file; strict host key checking is on" in result.output


def test_probe_rejects_an_unknown_suite() -> None:
    result = invoke("probe", str(h.PROD_YAML), "--suite", "nccl,bogus")
    assert result.exit_code == 2
    assert "bogus: choose from nccl, ib" in result.output


def test_probe_group_routes_an_inventory_to_the_run_command() -> None:
    @click.group(cls=ProbeGroup)
    def group() -> None:
        pass

    @group.command("plan")
    def plan() -> None:
        click.echo("plan")

    @group.command(RUN_COMMAND)
    @click.argument("inventory")
    @click.option("--suite", default="nccl,ib")
    def run(inventory: str, suite: str) -> None:
        click.echo(f"run {inventory} {suite}")

    runner = CliRunner()
    assert runner.invoke(group, ["inv.yaml", "--suite", "nccl"]).output == "run inv.yaml nccl\n"
    assert runner.invoke(group, ["plan"]).output == "plan\n"
    assert runner.invoke(group, ["--help"]).exit_code == 0


def _results_dir(tmp_path: Path, degraded: bool) -> Path:
    inv = h.load_prod()
    gbps = (
        (lambda a, b, r: 100.0 if "gpu02" in (a, b) and r == "rail0" else 396.0)
        if degraded
        else (lambda a, b, r: 396.0)
    )
    nccl, ib = h.suite_outputs(inv, ib_gbps=gbps)
    doc = evaluate(
        inv, started="2024-05-01T10:00:00Z", finished=None, nccl_outputs=nccl, ib_outputs=ib
    )
    out = tmp_path / "probe-out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(doc))
    return out


def test_report_renders_again_from_results_json(tmp_path: Path) -> None:
    out = _results_dir(tmp_path, degraded=True)
    result = invoke("report", str(out))
    assert result.exit_code == 1  # the results failed
    assert "FAILED, 1 finding(s)" in result.output
    for name in ("report.md", "junit.xml", "ib_write_bw_heatmap.png"):
        assert (out / name).is_file() and str(out / name) in result.output
    assert "- **HCA** gpu02 mlx5_0 on rail0:" in (out / "report.md").read_text()
    ET.parse(out / "junit.xml")


def test_report_exit_0_when_passed(tmp_path: Path) -> None:
    out = _results_dir(tmp_path, degraded=False)
    result = invoke("report", str(out))
    assert result.exit_code == 0 and "PASSED" in result.output


def test_report_missing_or_invalid_results(tmp_path: Path) -> None:
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path}/results.json: no such file" in result.output
    (tmp_path / "results.json").write_text("[]")
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path}/results.json: not a valid probe results document" in result.output
    assert "Traceback" not in result.output
