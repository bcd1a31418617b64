"""The probe run against a fake submit host: job states, rejections, timeouts, bounded waits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.fake_slurm import FakeSubmitHost
from tests.unit.probe_helpers import inventory_for
from trainbed.inventory import Inventory
from trainbed.probes.bound import FINISH_RESERVE_S
from trainbed.probes.results import validate_results
from trainbed.probes.run import RunOutcome, run_suite
from trainbed.probes.slurm import Slurm, time_limit_seconds
from trainbed.probes.watch import GRACE_S, STUCK_PENDING_S


@pytest.fixture
def inv3(tmp_path: Path) -> Inventory:
    return inventory_for(tmp_path, 3, 1)


@pytest.fixture
def inv2(tmp_path: Path) -> Inventory:
    return inventory_for(tmp_path, 2, 1)


def _run(inv: Inventory, host: FakeSubmitHost, out: Path, **kw) -> tuple[RunOutcome, list[str]]:
    said: list[str] = []
    outcome = run_suite(
        inv, host, out, progress=said.append, clock=host.clock, sleep=host.sleep, **kw
    )
    validate_results(outcome.results)
    return outcome, said


def _job(outcome: RunOutcome, name: str):
    return next(j for j in outcome.jobs if j.name == name)


def test_clean_run_passes_and_uses_one_job_per_run_and_round(inv3, tmp_path):
    host = FakeSubmitHost()
    outcome, said = _run(inv3, host, tmp_path / "out")
    assert outcome.results["passed"], outcome.results["findings"]
    # 3 nodes: 3 single-node runs + "all" (no power-of-two group below 3 but the pairs: pair-1)
    # + 3 ib_write_bw rounds.
    names = [j.name for j in outcome.jobs]
    assert names == [
        "single-gpu01",
        "single-gpu02",
        "single-gpu03",
        "round1",
        "round2",
        "round3",
        "pair-1",
        "all",
    ]
    assert outcome.submitted == len(host.jobs) == 8
    assert all(j.state == "COMPLETED" for j in outcome.jobs)
    assert (tmp_path / "out" / "report.md").exists()
    assert (tmp_path / "out" / "raw" / "nccl-all.out").exists()
    assert any("submitted as job" in line for line in said)


def test_rejected_job_is_recorded_with_reason_and_the_rest_runs(inv3, tmp_path):
    host = FakeSubmitHost({"round2": "reject"})
    outcome, said = _run(inv3, host, tmp_path / "out")
    job = _job(outcome, "round2")
    assert job.job_id is None and job.state == "REJECTED"
    assert "Requested node configuration is not available" in job.reason
    results = outcome.results
    assert not results["passed"]
    round2 = [v for v in results["ib_write_bw"] if v["round"] == 2]
    assert round2 and all(not v["passed"] for v in round2)
    assert all("REJECTED" in v["reason"] for v in round2)
    assert all(v["passed"] for v in results["ib_write_bw"] if v["round"] != 2)
    assert all(v["passed"] for v in results["nccl"])
    assert any("sbatch refused" in line for line in said)


def test_timed_out_job_is_reported_with_reason(inv3, tmp_path):
    host = FakeSubmitHost({"single-gpu02": "timeout"})
    outcome, _ = _run(inv3, host, tmp_path / "out")
    job = _job(outcome, "single-gpu02")
    assert job.state == "TIMEOUT"
    assert "exceeded its time limit" in job.reason
    verdict = next(v for v in outcome.results["nccl"] if v["name"] == "single-gpu02")
    assert not verdict["passed"] and "TIMEOUT" in " ".join(verdict["reasons"])
    finding = next(f for f in outcome.results["findings"] if f["node"] == "gpu02")
    assert finding["kind"] == "node"
    others = [v for v in outcome.results["nccl"] if v["name"] != "single-gpu02"]
    assert all(v["passed"] for v in others)


def test_job_slurm_never_ends_is_cancelled_after_its_limit(inv2, tmp_path):
    host = FakeSubmitHost({"all": "hang"})
    outcome, _ = _run(inv2, host, tmp_path / "out")
    job = _job(outcome, "all")
    assert job.state == "TIMEOUT" and "cancelled by trainbed" in job.reason
    assert host.cancelled == [job.job_id]
    limit = time_limit_seconds(inv2.probes.job_time_limit)
    assert limit + GRACE_S <= host.now <= limit + GRACE_S + 10


def test_a_job_stuck_completing_does_not_hold_the_run(inv2, tmp_path):
    """squeue keeps it COMPLETING (its node never confirms the end); sacct has its end."""
    host = FakeSubmitHost({"round1": "completing"})
    outcome, _ = _run(inv2, host, tmp_path / "out")
    assert _job(outcome, "round1").state == "COMPLETED"
    assert outcome.results["passed"] and host.now < 20
    assert not host.cancelled


def test_job_pending_on_a_down_node_is_cancelled_and_the_rest_runs(inv3, tmp_path):
    host = FakeSubmitHost({"pair-1": "stuck"})
    outcome, _ = _run(inv3, host, tmp_path / "out")
    job = _job(outcome, "pair-1")
    assert job.state == "CANCELLED" and "ReqNodeNotAvail" in job.reason
    assert host.now < STUCK_PENDING_S + 20
    assert _job(outcome, "all").state == "COMPLETED"


def test_failed_single_node_run_names_the_node(inv2, tmp_path):
    host = FakeSubmitHost({"single-gpu02": "fail"})
    outcome, _ = _run(inv2, host, tmp_path / "out")
    verdict = next(v for v in outcome.results["nccl"] if v["name"] == "single-gpu02")
    assert verdict["diagnosis"] == "gpu_missing"
    nodes = [f["node"] for f in outcome.results["findings"] if f["kind"] == "node"]
    assert nodes == ["gpu02"]


def test_watch_is_bounded_when_squeue_never_answers(inv2, tmp_path, monkeypatch):
    host = FakeSubmitHost()
    monkeypatch.setattr(Slurm, "queue", lambda self, ids: None)
    outcome, _ = _run(inv2, host, tmp_path / "out")
    assert all(j.state == "CANCELLED" for j in outcome.jobs)
    assert all("bound" in j.reason for j in outcome.jobs)
    bound = outcome.results["bound"]
    assert bound["seconds"] - FINISH_RESERVE_S <= host.now <= bound["seconds"]
    assert sorted(host.cancelled) == sorted(j.job_id for j in outcome.jobs)
    # Nothing was measured: that is "not measured", not a fault of the nodes.
    assert outcome.results["findings"] == [] and not outcome.results["passed"]
    assert len(outcome.results["not_measured"]) == len(outcome.jobs)


def test_suite_selection_submits_only_that_suite(inv3, tmp_path):
    host = FakeSubmitHost()
    outcome, _ = _run(inv3, host, tmp_path / "out", suites=("ib_write_bw",))
    assert [j.name for j in outcome.jobs] == ["round1", "round2", "round3"]
    assert outcome.results["suites"] == ["ib_write_bw"] and outcome.results["passed"]


# --------------------------------------------------------------------------- Slurm time limits


@pytest.mark.parametrize(
    ("limit", "seconds"),
    [("10", 600), ("10:30", 630), ("00:15:00", 900), ("1-02", 93600), ("0:30", 30)],
)
def test_time_limit_seconds(limit, seconds):
    assert time_limit_seconds(limit) == seconds


def test_host_key_policy_follows_strict_host_key_checking():
    import paramiko

    from trainbed.remote import host_key_policy

    assert isinstance(host_key_policy("yes"), paramiko.RejectPolicy)
    assert isinstance(host_key_policy("accept-new"), paramiko.AutoAddPolicy)
    assert isinstance(host_key_policy("no"), paramiko.WarningPolicy)


def test_training_suite_runs_the_nemo_job_and_judges_it(tmp_path):
    from tests.unit.probe_helpers import load_prod

    inv = load_prod()
    host = FakeSubmitHost()
    outcome, _said = _run(
        inv, host, tmp_path / "out", suites=("training",), training=("llama2-7b", 2)
    )
    (verdict,) = outcome.results["training"]
    assert verdict["passed"] and 60 < verdict["minutes_per_500_steps"] < 62
    assert [j.name for j in outcome.jobs] == ["trainbed-training-llama2-7b-2n"]
    assert outcome.results["passed"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Training (white paper Table 4)" in report and "llama2-7b" in report
    junit = (tmp_path / "out" / "junit.xml").read_text()
    assert 'classname="training.llama2-7b.2n"' in junit


def test_training_twenty_percent_slower_fails_with_the_reason(tmp_path):
    from tests.unit.probe_helpers import load_prod

    host = FakeSubmitHost(slowdown=1.2)
    outcome, _ = _run(
        load_prod(), host, tmp_path / "out", suites=("training",), training=("llama2-7b", 2)
    )
    (verdict,) = outcome.results["training"]
    assert not verdict["passed"] and not outcome.results["passed"]
    assert any("slower than expected" in r for r in verdict["reasons"])
    assert "<failure" in (tmp_path / "out" / "junit.xml").read_text()
