"""SIGINT and SIGTERM during a run: the run's jobs cancelled by id, partial results, 130/143."""

from __future__ import annotations

import signal

import pytest

from tests.unit.fake_slurm import FakeSubmitHost
from tests.unit.probe_helpers import inventory_for
from trainbed.probes.interrupt import Interrupted, SignalGuard
from trainbed.probes.results import validate_results
from trainbed.probes.run import run_suite


def _run(inv, host, out):
    with SignalGuard() as guard:
        outcome = run_suite(
            inv,
            host,
            out,
            progress=lambda _: None,
            clock=host.clock,
            sleep=host.sleep,
            guard=guard,
        )
    validate_results(outcome.results)
    return outcome


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_cancels_exactly_the_runs_unfinished_jobs(tmp_path, signum, status):
    inv = inventory_for(tmp_path, 3, 1)
    # At t = 4 s the jobs that do not hang have completed (the fake runs them at once).
    host = FakeSubmitHost({"round1": "hang", "round2": "hang"}, signal_at=(4.0, signum))
    outcome = _run(inv, host, tmp_path / "out")
    assert outcome.interrupted == signum and outcome.exit_status == status
    results = outcome.results
    assert results["incomplete"] is True and not results["passed"]
    assert results["interrupted"] == signal.Signals(signum).name
    unfinished = {j.job_id for j in outcome.jobs if j.state == "CANCELLED"}
    assert unfinished and sorted(host.cancelled) == sorted(unfinished)
    assert all(host.jobs[i].state == "CANCELLED" for i in unfinished)
    assert not [j for j in host.jobs.values() if j.state in ("PENDING", "RUNNING")]
    # What finished was fetched and judged; what did not is "not measured", blaming no one.
    assert {v["name"] for v in results["nccl"]} >= {"single-gpu01", "single-gpu02"}
    assert all(v["passed"] for v in results["nccl"])
    assert results["findings"] == []
    assert results["not_measured"] and all(
        "interrupted" in n["why"] for n in results["not_measured"]
    )
    assert (tmp_path / "out" / "report.md").read_text().count("INCOMPLETE") == 1


def test_a_signal_during_sbatch_waits_for_its_job_id(tmp_path):
    inv = inventory_for(tmp_path, 3, 1)
    host = FakeSubmitHost(signal_in_sbatch=(2, signal.SIGINT))
    outcome = _run(inv, host, tmp_path / "out")
    assert outcome.exit_status == 130
    # The second job was accepted while the signal waited: it is known and cancelled.
    assert sorted(host.cancelled) == sorted(host.jobs) and len(host.jobs) == 2
    not_submitted = [j for j in outcome.jobs if j.job_id is None]
    assert len(not_submitted) == len(outcome.jobs) - 2
    assert all(j.state == "NOT_SUBMITTED" for j in not_submitted)


def test_the_guard_raises_once_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with SignalGuard() as guard:
        with pytest.raises(Interrupted) as caught:
            signal.raise_signal(signal.SIGTERM)
        assert caught.value.exit_status == 143
        signal.raise_signal(signal.SIGINT)  # a second signal during the clean-up: noted only
        assert guard.received == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
