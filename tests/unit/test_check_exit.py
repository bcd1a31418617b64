"""`trainbed check`'s exit status from the run's per-node summaries (pytest itself faked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from trainbed.checks.junit import NodeSummary
from trainbed.checks.run import CheckRun
from trainbed.cli import check_commands

INVENTORY = Path(__file__).resolve().parents[2] / "inventory" / "prod.yaml"


@pytest.mark.parametrize(
    ("summary", "status", "says"),
    [
        (NodeSummary("gpu01", passed=40), 0, "passed: 40 checks on 1 node(s)"),
        (NodeSummary("gpu01", passed=39, not_run=1), 2, "1 check(s) could not run"),
        (NodeSummary("gpu01", passed=38, failed=1, not_run=1), 1, "1 check(s) failed on gpu01"),
    ],
    ids=["passed", "could-not-run-is-no-pass", "failure-wins"],
)
def test_exit_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, summary: NodeSummary, status: int, says: str
) -> None:
    def fake_run(*args: object, **kwargs: object) -> CheckRun:
        return CheckRun(1 if summary.failed else 0, tmp_path / "junit.xml", [summary])

    monkeypatch.setattr(check_commands, "run_checks", fake_run)
    result = CliRunner().invoke(check_commands.check, [str(INVENTORY), "-n", "0"])
    assert result.exit_code == status, result.output
    assert says in result.output
