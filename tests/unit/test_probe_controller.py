"""Controller faults during the probe run (fake Slurm): the controller is named, no compute node.

cp1 is the primary slurmctld, cp2 the backup (``tests/unit/fake_slurm.py``). The clock is the
fake's: a blocked Slurm command costs its whole time-out there, as on a real submit host.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.unit.fake_slurm import FakeSubmitHost
from tests.unit.probe_helpers import inventory_for
from trainbed.inventory import Inventory
from trainbed.probes.results import validate_results
from trainbed.probes.run import RunOutcome, run_suite

#: SlurmctldTimeout (120 s) + 90 s: the most the run waits for a takeover.
TAKEOVER_BOUND_S = 210


@pytest.fixture
def inv2(tmp_path: Path) -> Inventory:
    return inventory_for(tmp_path, 2, 1)


def _run(inv: Inventory, host: FakeSubmitHost, out: Path) -> tuple[RunOutcome, list[str]]:
    said: list[str] = []
    outcome = run_suite(inv, host, out, progress=said.append, clock=host.clock, sleep=host.sleep)
    validate_results(outcome.results)
    return outcome, said


def _blames_compute(results: dict, inv: Inventory) -> list[dict]:
    compute = {n.hostname for n in inv.compute}
    return [
        f
        for f in results["findings"]
        if f["node"] in compute or f.get("peer") in compute or set(f.get("nodes", ())) & compute
    ]


def test_primary_down_and_no_takeover_names_the_controller_and_measures_nothing(inv2, tmp_path):
    host = FakeSubmitHost(primary_down_at=0.0, takeover_after=None)
    outcome, said = _run(inv2, host, tmp_path / "out")
    results = outcome.results
    assert not _blames_compute(results, inv2), results["findings"]
    assert outcome.could_not_run and not results["passed"]
    (finding,) = results["findings"]
    assert finding["kind"] == "controller" and finding["node"] == "cp1"
    assert "controller cp1: slurmctld not answering (scontrol ping: DOWN)" in finding["evidence"]
    assert "no controller answered: nothing measured" in finding["evidence"]
    # The controller was asked before any sbatch: none was tried, none blamed a node.
    assert host.sbatch_calls == 0
    assert all(
        j.state == "NOT_MEASURED" and j.reason.startswith("controller") for j in outcome.jobs
    )
    assert results["nccl"] == [] and results["ib_write_bw"] == []
    assert results["missing"] and all(
        m.endswith(": not measured (controller)") for m in results["missing"]
    )
    assert results["controller"]["down"] == ["cp1"] and results["controller"]["lost"]
    assert host.now <= TAKEOVER_BOUND_S + 30
    assert any("waiting up to" in line for line in said)


def test_every_controller_down_gives_up_without_waiting_for_a_takeover(inv2, tmp_path):
    host = FakeSubmitHost(primary_down_at=0.0, backup_up=False)
    outcome, _ = _run(inv2, host, tmp_path / "out")
    assert not _blames_compute(outcome.results, inv2), outcome.results["findings"]
    (finding,) = outcome.results["findings"]
    assert finding["kind"] == "controller"
    assert "every slurmctld DOWN for" in finding["evidence"]
    assert outcome.could_not_run
    assert outcome.results["controller"]["down"] == ["cp1", "cp2"]
    # 30 s for a backup between standby and control, then no more
    assert host.now < 60 and host.sbatch_calls == 0


def test_backup_silent_while_it_takes_over_is_not_blamed(inv2, tmp_path):
    """As measured on the mock cluster: the backup answered no ping at the moment it took over."""
    host = FakeSubmitHost(primary_down_at=0.0, takeover_after=142.0, takeover_blip_s=8.0)
    outcome, _ = _run(inv2, host, tmp_path / "out")
    assert all(j.state == "COMPLETED" for j in outcome.jobs)
    (finding,) = outcome.results["findings"]
    assert "controller cp2" not in finding["evidence"]
    assert "backup cp2 took over after 142 s" in finding["evidence"]
    assert outcome.results["controller"]["down"] == ["cp1"]


def test_backup_takeover_is_recorded_with_its_delay_and_the_suite_runs(inv2, tmp_path):
    host = FakeSubmitHost(primary_down_at=0.0, takeover_after=62.0)
    outcome, said = _run(inv2, host, tmp_path / "out")
    results = outcome.results
    assert not outcome.could_not_run
    assert all(j.state == "COMPLETED" for j in outcome.jobs)
    assert all(v["passed"] for v in [*results["nccl"], *results["ib_write_bw"]])
    (finding,) = results["findings"]
    assert finding["kind"] == "controller"
    assert finding["evidence"] == (
        "controller cp1: slurmctld not answering (scontrol ping: DOWN); "
        "backup cp2 took over after 62 s"
    )
    takeover = results["controller"]["takeover"]
    assert takeover["backup"] == "cp2" and 61 <= takeover["delay_s"] <= 63
    # A primary down is a fault of the cluster even though the backup carried the suite.
    assert not results["passed"]
    assert host.sbatch_calls == len(outcome.jobs)
    assert any("took over after 62 s" in line for line in said)


def test_controller_dying_at_the_first_sbatch_is_noticed_at_once(inv2, tmp_path):
    """The issue's 334 s run: three 60 s sbatch time-outs before anyone asked the controller."""
    host = FakeSubmitHost(primary_down_at=0.05, takeover_after=None)
    outcome, _ = _run(inv2, host, tmp_path / "out")
    results = outcome.results
    assert not _blames_compute(results, inv2), results["findings"]
    assert host.sbatch_calls == 1
    assert outcome.could_not_run
    assert all(j.state == "NOT_MEASURED" for j in outcome.jobs)
    assert [f["kind"] for f in results["findings"]] == ["controller"]
    # one sbatch time-out, then at most the takeover bound
    assert host.now <= 60 + TAKEOVER_BOUND_S + 30


def test_takeover_after_a_failed_sbatch_resubmits_that_job(inv2, tmp_path):
    host = FakeSubmitHost(primary_down_at=0.05, takeover_after=90.0)
    outcome, _ = _run(inv2, host, tmp_path / "out")
    assert all(j.state == "COMPLETED" for j in outcome.jobs), outcome.jobs
    assert host.sbatch_calls == len(outcome.jobs) + 1
    assert outcome.results["controller"]["takeover"]["backup"] == "cp2"
    assert [f["kind"] for f in outcome.results["findings"]] == ["controller"]


def test_controller_lost_while_jobs_run_leaves_them_not_measured(inv2, tmp_path):
    host = FakeSubmitHost(primary_down_at=1.0, takeover_after=None)
    outcome, _ = _run(inv2, host, tmp_path / "out")
    results = outcome.results
    assert host.sbatch_calls == len(outcome.jobs)  # submitted before the controller died
    lost = [j for j in outcome.jobs if j.state == "NOT_MEASURED"]
    assert lost and all(j.job_id and "may still run later" in j.reason for j in lost)
    assert not _blames_compute(results, inv2), results["findings"]
    assert [f["kind"] for f in results["findings"]] == ["controller"]
    assert outcome.could_not_run


def test_jobs_the_backup_does_not_know_after_a_takeover_blame_no_node(inv2, tmp_path):
    """As on the mock cluster, whose controllers keep their state apart: after the takeover
    squeue no longer lists the jobs, accounting still shows them pending or running, and the run
    gives up on them. Not their nodes' doing."""
    host = FakeSubmitHost(primary_down_at=1.0, takeover_after=100.0, takeover_loses_jobs=True)
    outcome, _ = _run(inv2, host, tmp_path / "out")
    results = outcome.results
    assert not _blames_compute(results, inv2), results["findings"]
    lost = [j for j in outcome.jobs if j.state == "NOT_MEASURED"]
    assert lost and all("did not end after cp2 took over" in j.reason for j in lost)
    assert all(j.state in ("COMPLETED", "NOT_MEASURED") for j in outcome.jobs)
    (finding,) = results["findings"]
    assert "backup cp2 took over after" in finding["evidence"]


def test_backup_in_control_before_the_run_is_not_given_a_delay(inv2, tmp_path):
    host = FakeSubmitHost(primary_down_at=-600.0, takeover_after=140.0)
    outcome, _ = _run(inv2, host, tmp_path / "out")
    assert all(j.state == "COMPLETED" for j in outcome.jobs)
    (finding,) = outcome.results["findings"]
    assert finding["evidence"] == (
        "controller cp1: slurmctld not answering (scontrol ping: DOWN); "
        "backup cp2 in control (took over before the run)"
    )
    assert outcome.results["controller"]["takeover"] == {"backup": "cp2", "delay_s": None}


def test_cli_exits_2_when_no_controller_let_anything_be_measured(inv2, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from trainbed.cli import main

    host = FakeSubmitHost(primary_down_at=0.0, backup_up=False)
    monkeypatch.setattr("trainbed.probes.run.connect", lambda inventory: host)
    # The CLI runs on the real clock: the fake's stands in for it during this test.
    monkeypatch.setattr(time, "monotonic", host.clock)
    monkeypatch.setattr(time, "sleep", host.sleep)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["probe", str(inv2.source), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "controller: cp1: controller cp1: slurmctld not answering" in result.output
    assert "COULD NOT RUN" in result.output
