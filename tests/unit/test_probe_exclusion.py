"""A node Slurm cannot run jobs on: excluded, "not measured" with its state, partners re-paired."""

from __future__ import annotations

import pytest

from tests.unit.fake_slurm import FakeSubmitHost
from tests.unit.probe_helpers import inventory_for
from trainbed.probes import replan
from trainbed.probes.bound import JOB_MARGIN_S, RUN_MARGIN_S, run_bound
from trainbed.probes.controller import WAIT_BUDGET_S
from trainbed.probes.results import validate_results
from trainbed.probes.run import run_suite
from trainbed.probes.schedule import build_schedule, pair_rounds
from trainbed.probes.slurm import time_limit_seconds

DOWN = "DOWN+NOT_RESPONDING"
RAILS = ["rail0", "rail1"]


def _run(inv, host, out, **kw):
    said: list[str] = []
    outcome = run_suite(
        inv, host, out, progress=said.append, clock=host.clock, sleep=host.sleep, **kw
    )
    validate_results(outcome.results)
    return outcome, said


# --------------------------------------------------------------------------- the bound


def test_the_bound_is_every_jobs_limit_plus_a_margin():
    bound = run_bound([600, 600, 3600])
    assert bound.seconds == 4800 + 3 * JOB_MARGIN_S + RUN_MARGIN_S
    assert bound.jobs == 3 and bound.job_limits_s == 4800
    assert "4 " not in bound.describe() and str(bound.seconds) in bound.describe()


def test_the_run_prints_its_bound_first_and_records_it(tmp_path):
    inv = inventory_for(tmp_path, 3, 1)
    host = FakeSubmitHost()
    outcome, said = _run(inv, host, tmp_path / "out")
    bound = outcome.results["bound"]
    jobs = len(outcome.jobs)
    limit = time_limit_seconds(inv.probes.job_time_limit)
    assert bound["seconds"] == jobs * (limit + JOB_MARGIN_S) + RUN_MARGIN_S + WAIT_BUDGET_S
    assert bound["controller_wait_s"] == WAIT_BUDGET_S
    assert bound["jobs"] == jobs and 0 <= bound["elapsed_s"] <= bound["seconds"]
    first_submit = next(i for i, line in enumerate(said) if "submitted as job" in line)
    assert any(line.startswith("bound: ") for line in said[:first_submit])


@pytest.mark.parametrize("fate", ["hang", "stuck"])
def test_whatever_every_job_does_the_run_ends_within_its_bound(tmp_path, fate):
    inv = inventory_for(tmp_path, 3, 1)
    names = ["single-gpu01", "single-gpu02", "single-gpu03", "round1", "round2", "round3"]
    host = FakeSubmitHost(dict.fromkeys([*names, "pair-1", "all"], fate))
    outcome, _ = _run(inv, host, tmp_path / "out")
    assert host.now <= outcome.results["bound"]["seconds"]
    assert all(j.state in ("CANCELLED", "TIMEOUT") for j in outcome.jobs)


def test_the_bound_holds_when_the_controller_hangs_mid_run(tmp_path):
    """Every Slurm command from t = 10 s hangs to its timeout: the run still ends in its bound,
    the hung jobs are not measured (controller) and no node is blamed for them."""
    inv = inventory_for(tmp_path, 3, 1)
    host = FakeSubmitHost({"round1": "hang", "all": "hang"}, hang_from=10.0)
    outcome, _ = _run(inv, host, tmp_path / "out")
    assert host.now <= outcome.results["bound"]["seconds"]
    lost = {j.name for j in outcome.jobs if j.state == "NOT_MEASURED"}
    assert lost == {"round1", "all"}
    assert all(j.reason.startswith("controller: ") for j in outcome.jobs if j.name in lost)
    kinds = {f["kind"] for f in outcome.results["findings"]}
    assert kinds == {"controller"}, outcome.results["findings"]


# --------------------------------------------------------------------------- pure re-planning


def test_pack_rounds_keeps_pairs_disjoint():
    pairs = [("a", "b"), ("a", "c"), ("b", "c"), ("c", "d"), ("a", "d")]
    rounds = replan.pack_rounds(pairs)
    assert sorted(p for r in rounds for p in r) == sorted(pairs)
    for rnd in rounds:
        nodes = [n for p in rnd for n in p]
        assert len(nodes) == len(set(nodes))


def test_replacement_pairs_the_remaining_nodes_among_themselves():
    nodes = ["g1", "g2", "g3", "g4", "g5"]
    full = build_schedule(nodes, RAILS)
    # g2 dies while round 1 pending: its round's pairs are lost, other rounds still run.
    lost_round = full["ib_write_bw"]["rounds"][0]
    lost = [replan.pair_unit(a, b) for a, b in lost_round]
    lost += [u for u in replan.units(full, ["nccl", "ib_write_bw"]) if "g2" in u.nodes]
    kept = replan.without(full, lost)
    remaining = [n for n in nodes if n != "g2"]
    covered = [u.key for u in replan.units(kept, ["nccl", "ib_write_bw"])]
    extra = replan.replacement(RAILS, remaining, covered, 1)
    again = {frozenset(p) for r in extra["ib_write_bw"]["rounds"] for p in r}
    assert again == {frozenset(p) for p in lost_round if "g2" not in p}
    # every remaining pair is measured exactly once between the kept schedule and the extra one
    after = replan.extend(kept, extra)
    measured = [frozenset(p) for r in after["ib_write_bw"]["rounds"] for p in r]
    assert sorted(map(sorted, measured)) == sorted(
        sorted(p) for r in pair_rounds(remaining) for p in r
    )
    names = [run["name"] for run in extra["nccl"]]
    assert names and all(n.endswith("-r1") for n in names)
    assert {frozenset(run["nodes"]) for run in extra["nccl"]} >= {frozenset(remaining)}
    assert not any("g2" in run["nodes"] for run in after["nccl"])


def test_generation_zero_is_the_plan_of_the_usable_nodes():
    assert replan.replacement(RAILS, ["g1", "g3"], (), 0) == build_schedule(["g1", "g3"], RAILS)


# --------------------------------------------------------------------------- through the run


def test_a_node_dying_mid_run_is_not_measured_with_its_slurm_state(tmp_path):
    inv = inventory_for(tmp_path, 3, 1)
    host = FakeSubmitHost(node_events=[(1.0, "gpu02", DOWN, "Not responding")])
    outcome, said = _run(inv, host, tmp_path / "out")
    results = outcome.results
    (excluded,) = results["excluded"]
    assert excluded["node"] == "gpu02" and excluded["state"] == DOWN
    assert excluded["reason"].startswith("Not responding") and excluded["at_s"] > 0
    # Reported as not measured, never as a fabric or node fault.
    assert [(f["kind"], f["node"]) for f in results["findings"]] == [("not_measured", "gpu02")]
    assert DOWN in results["findings"][0]["evidence"]
    assert not any("gpu02" in (v["node_a"], v["node_b"]) for v in results["ib_write_bw"])
    assert not any("gpu02" in v["nodes"] for v in results["nccl"])
    lost = {n["measurement"] for n in results["not_measured"]}
    assert "nccl single-gpu02" in lost and "ib_write_bw gpu01–gpu02" in lost
    assert all(DOWN in n["why"] for n in results["not_measured"])
    # The others go on: gpu01 and gpu03 are measured together, by NCCL and ib_write_bw.
    assert any(set(v["nodes"]) == {"gpu01", "gpu03"} and v["passed"] for v in results["nccl"])
    assert all(v["passed"] for v in results["ib_write_bw"])
    assert {(v["node_a"], v["node_b"]) for v in results["ib_write_bw"]} == {("gpu01", "gpu03")}
    assert not results["passed"] and host.now < 60
    # The jobs needing gpu02 were cancelled by id, and none is left queued.
    gpu02_jobs = {j.job_id for j in outcome.jobs if "gpu02" in j.nodes and not j.completed}
    assert gpu02_jobs and gpu02_jobs <= set(host.cancelled)
    assert any("excluded from the rest of the suite" in line for line in said)


def test_with_four_nodes_the_lost_partners_are_re_paired(tmp_path):
    inv = inventory_for(tmp_path, 4, 1)
    host = FakeSubmitHost(node_events=[(1.0, "gpu02", DOWN, "Not responding")])
    outcome, said = _run(inv, host, tmp_path / "out")
    results = outcome.results
    pairs = {frozenset((v["node_a"], v["node_b"])) for v in results["ib_write_bw"]}
    remaining = ["gpu01", "gpu03", "gpu04"]
    assert pairs == {frozenset(p) for r in pair_rounds(remaining) for p in r}
    assert all(v["passed"] for v in results["ib_write_bw"])
    assert any(j.name.startswith("round") and int(j.name[5:]) > 3 for j in outcome.jobs)
    assert any(line.startswith("re-planned without gpu02") for line in said)
    assert [f["kind"] for f in results["findings"]] == ["not_measured"]


def test_a_node_drained_before_the_run_gets_no_job(tmp_path):
    inv = inventory_for(tmp_path, 3, 1)
    host = FakeSubmitHost(node_events=[(0.0, "gpu03", "IDLE+DRAIN", "bad HCA [admin@now]")])
    outcome, _ = _run(inv, host, tmp_path / "out")
    assert not any("gpu03" in job.script for job in host.jobs.values())
    (excluded,) = outcome.results["excluded"]
    assert excluded == {
        "node": "gpu03",
        "state": "IDLE+DRAIN",
        "reason": "bad HCA [admin@now] [slurm@2026-12-01T09:49:03]",
        "at_s": 0.0,
    }
    assert {v["name"] for v in outcome.results["nccl"]} == {"single-gpu01", "single-gpu02", "all"}
    assert "before the run" in outcome.results["findings"][0]["evidence"]
