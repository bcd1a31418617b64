"""The acceptance document and its Markdown, from check summaries and a probe results document
(no cluster)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.probe_helpers import REPO, evaluate_suite, suite_outputs
from trainbed.accept import acceptance, render_markdown, write_acceptance
from trainbed.checks.junit import CaseResult, NodeSummary
from trainbed.inventory import load_inventory

MOCK = REPO / "inventory" / "mock.yaml"


def _summaries(fail: bool = False, not_run: bool = False) -> list[NodeSummary]:
    gpu02 = NodeSummary("gpu02", "compute", passed=30)
    if fail:
        message = "gpu02 mlx5_4 port 1 rate: expected 400 Gb/s, got 200 Gb/s"
        gpu02.failed = 1
        gpu02.failures = [
            CaseResult(
                "gpu02",
                "test_hca_port",
                "checks.test_infiniband",
                "failed",
                message,
                "gpu02-mlx5_4",
            )
        ]
    if not_run:
        gpu02.not_run = 1
    return [NodeSummary("cp1", "control", passed=20), gpu02]


def _doc(summaries: list[NodeSummary], probe: dict | None, returncode: int = 0) -> dict:
    return acceptance(
        inventory_path=MOCK,
        cluster="trainbed-mock",
        summaries=summaries,
        checks_returncode=returncode,
        probe=probe,
        started="2026-12-01T10:00:00+00:00",
        finished="2026-12-01T10:20:00+00:00",
    )


def _probe(ib_gbps: float = 396.0) -> dict:
    inv = load_inventory(MOCK).inventory
    nccl, ib = suite_outputs(inv, ib_gbps=lambda a, b, rail: ib_gbps if rail == "rail2" else 396.0)
    return evaluate_suite(inv, nccl, ib)


def test_accepted_when_everything_passed(tmp_path: Path) -> None:
    doc = _doc(_summaries(), _probe())
    assert doc["accepted"] and doc["reasons"] == [] and doc["checks"]["passed"]
    assert len(doc["inventory_sha256"]) == 64
    paths = write_acceptance(doc, tmp_path)
    assert "**ACCEPTED**" in paths["acceptance.md"].read_text()


def test_failed_check_and_probe_name_the_hca() -> None:
    doc = _doc(_summaries(fail=True), _probe(ib_gbps=200.0), returncode=1)
    assert not doc["accepted"]
    assert (
        doc["reasons"][0]
        == "check gpu02: gpu02 mlx5_4 port 1 rate: expected 400 Gb/s, got 200 Gb/s"
    )
    # two nodes and no port facts: the probe cannot tell the HCAs apart, but names them
    assert any(r.startswith("probe ") and "mlx5_4" in r for r in doc["reasons"]), doc["reasons"]
    markdown = render_markdown(doc)
    assert "**NOT ACCEPTED**" in markdown and "### gpu02" in markdown
    assert "- test_hca_port[gpu02-mlx5_4]: gpu02 mlx5_4 port 1 rate" in markdown


def test_a_check_that_could_not_run_is_no_pass() -> None:
    doc = _doc(_summaries(not_run=True), _probe(), returncode=0)
    assert not doc["accepted"] and not doc["checks"]["passed"]


def test_no_probe_is_no_pass() -> None:
    doc = _doc(_summaries(), None)
    assert not doc["accepted"] and "probe: not run" in doc["reasons"]


def test_a_broken_check_run_is_said() -> None:
    doc = _doc([], _probe(), returncode=4)
    assert not doc["accepted"]
    assert "checks: the check run itself failed (pytest exit 4)" in doc["reasons"]
