"""Pending reasons and node states, classified against Slurm's own list and real Slurm output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.fake_slurm import FakeSubmitHost
from tests.unit.probe_helpers import inventory_for
from trainbed.parse.slurm import parse_scontrol_show_node, parse_squeue
from trainbed.probes.nodes import node_health, unusable
from trainbed.probes.pending import ENDED, STUCK, UNKNOWN, WAITING, classify
from trainbed.probes.run import run_suite
from trainbed.probes.watch import STUCK_PENDING_S

FIXTURES = Path(__file__).parents[1] / "fixtures"
SLURM = FIXTURES / "slurm"


def slurm_reasons() -> list[str]:
    """Slurm's job_state_reason names (22.05 to 25.05, from its sources)."""
    lines = (SLURM / "job_state_reasons.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_list_is_slurms_whole_table():
    names = slurm_reasons()
    assert len(names) == len(set(names)) > 200
    assert {"Priority", "Resources", "ReqNodeNotAvail", "PartitionDown", "MpiPortsBusy"} <= set(
        names
    )


@pytest.mark.parametrize("name", slurm_reasons())
def test_every_reason_slurm_can_give_is_classified(name):
    reason = classify(name)
    assert reason.kind in (WAITING, STUCK, ENDED), reason
    assert reason.name == name and reason.meaning


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ReqNodeNotAvail", STUCK),
        ("NodeDown", STUCK),
        ("PartitionDown", STUCK),
        ("PartitionInactive", STUCK),
        ("BadConstraints", STUCK),
        ("JobHeldAdmin", STUCK),
        ("DependencyNeverSatisfied", STUCK),
        ("QOSMaxWallDurationPerJobLimit", STUCK),  # this job's own request: never clears
        ("AssocMaxNodePerJobLimit", STUCK),
        ("QOSMinGRES", STUCK),
        ("Priority", WAITING),
        ("Resources", WAITING),
        ("BeginTime", WAITING),  # a requeued job waits a little
        ("Dependency", WAITING),
        ("QOSGrpGRES", WAITING),  # the group's other jobs end
        ("QOSMaxJobsPerUserLimit", WAITING),
        ("MaxCpuRunMinsPerUser", WAITING),
        ("NonZeroExitCode", ENDED),
        ("RaisedSignal:9(Killed)", ENDED),
        # slurmctld's descriptions, which squeue prints instead of the name:
        ("ReqNodeNotAvail, UnavailableNodes:gpu02", STUCK),
        ("ReqNodeNotAvail,_UnavailableNodes:gpu02", STUCK),  # scontrol's spelling
        ("ReqNodeNotAvail, May be reserved for other job", STUCK),
        ("ReqNodeNotAvail, Reserved for maintenance", STUCK),
        (
            "Nodes required for job are DOWN, DRAINED, REBOOTING or reserved for jobs in "
            "higher priority partitions",
            STUCK,
        ),
        ("Reservation maint was deleted", STUCK),
        ("Job is at or exceeds QOS normal's group max TRES(cpu) minutes of 10 with 12", WAITING),
        ("launch failed requeued held", STUCK),
    ],
)
def test_the_table(text, kind):
    assert classify(text).kind == kind, classify(text)


def test_an_unknown_reason_is_said_so_and_waits():
    reason = classify("SomethingNew")
    assert reason.kind == UNKNOWN and not reason.stuck


def test_reasons_squeue_printed_on_the_mock_cluster_with_gpu02_down():
    """Real squeue output (Slurm 22.05.8) while gpu02's slurmd was stopped."""
    timeline = (SLURM / "timeline_slurmd_stopped_gpu02.txt").read_text()
    seen: dict[str, str] = {}
    for line in timeline.splitlines():
        fields = line.split("|")
        if len(fields) == 6 and fields[0].isdigit() and fields[2] == "PENDING":
            seen[fields[3]] = classify(fields[3]).kind
    assert seen["ReqNodeNotAvail, UnavailableNodes:gpu02"] == STUCK
    desc = "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions"
    assert seen[desc] == STUCK
    assert seen["Priority"] == WAITING and seen["Resources"] == WAITING
    queue = parse_squeue((SLURM / "squeue_pending_behind_down_node.txt").read_text())
    assert classify(queue["8"].reason).stuck


def test_node_states_from_real_scontrol_output():
    text = (SLURM / "scontrol_show_node_gpu02_slurmd_stopped_down.txt").read_text()
    states = node_health(parse_scontrol_show_node(text), ["gpu01", "gpu02", "gpu03", "gpu09"])
    bad = unusable(states)
    assert set(bad) == {"gpu02", "gpu09"}
    assert bad["gpu02"].state == "DOWN+NOT_RESPONDING"
    assert bad["gpu02"].reason.startswith("Not responding")
    assert bad["gpu09"].state == "MISSING"
    drained = FIXTURES / "real" / "slurm_scontrol_show_node_idle_drain_gres_count_lower.txt"
    (node,) = node_health(
        parse_scontrol_show_node(drained.read_text()), ["yigou-dev-102-68"]
    ).values()
    assert not node.usable and node.state == "IDLE+DRAIN" and "gres/gpu count" in node.reason


@pytest.mark.parametrize(
    "state",
    ["IDLE+COMPLETING+NOT_RESPONDING+PLANNED", "DOWN+NOT_RESPONDING", "MIXED+DRAIN", "IDLE+MAINT"],
)
def test_unusable_states(state):
    text = f"NodeName=gpu02 Arch=x86_64\n   State={state} ThreadsPerCore=1\n"
    assert not node_health(parse_scontrol_show_node(text), ["gpu02"])["gpu02"].usable


@pytest.mark.parametrize("state", ["IDLE", "ALLOCATED", "MIXED", "IDLE+COMPLETING+PLANNED"])
def test_usable_states(state):
    text = f"NodeName=gpu02 Arch=x86_64\n   State={state} ThreadsPerCore=1\n"
    assert node_health(parse_scontrol_show_node(text), ["gpu02"])["gpu02"].usable


def test_a_job_pending_on_a_description_that_never_clears_is_not_waited_for(tmp_path):
    """The issue's case: ``Nodes required for job are DOWN, DRAINED…`` was not counted as stuck."""
    host = FakeSubmitHost({"pair-1": "stuck"})
    host.stuck_reason = (
        "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority "
        "partitions"
    )
    inv = inventory_for(tmp_path, 3, 1)
    outcome = run_suite(
        inv, host, tmp_path / "out", clock=host.clock, sleep=host.sleep, progress=lambda _: None
    )
    job = next(j for j in outcome.jobs if j.name == "pair-1")
    assert job.state == "CANCELLED" and "will never run" in job.reason
    assert host.now < STUCK_PENDING_S + 20
    assert "nccl pair-1" in [n["measurement"] for n in outcome.results["not_measured"]]
    assert not any(f["kind"] != "not_measured" for f in outcome.results["findings"])
