"""The node-local health program on the mock cluster (issue 14's Done-when).

The module deploys the cluster's inventory with the program wired into Slurm at a short interval
(`INTERVAL_S`), injects one fault at a time on gpu02 with `lab/fault`, and watches Slurm: gpu02
drained with a `trainbed:` reason naming the fault within one interval, gpu01 untouched, back to
idle within one interval of `fault clear` without anyone resuming it. At the end it deploys the
cluster's own inventory again (the program unwired).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import health_passive
from tests.mock_cluster.conftest import REPO, Deploy, Ssh, fault, variant

pytestmark = pytest.mark.mock

INTERVAL_S = 15
#: Slack beyond one interval: the run itself, slurmctld applying the update, our polling.
SLACK_S = 10
DRAIN_AFTER = 3
HEALTH = {
    "interval_s": INTERVAL_S,
    "prolog": True,
    "epilog": True,
    "prolog_dcgm_timeout_s": 5,
    "could_not_run_drain_after": DRAIN_AFTER,
}


@pytest.fixture(scope="module")
def wired(
    cluster: dict[str, Any], deploy: Deploy, ssh: Ssh, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    def wire(doc: dict[str, Any]) -> None:
        doc["health"] = {**doc.get("health", {}), **HEALTH}

    path = variant(cluster, tmp_path_factory.mktemp("health"), wire)
    result = deploy(inventory=path)
    assert result.returncode == 0, result.output[-4000:]
    yield
    restored = deploy()
    assert restored.returncode == 0, restored.output[-4000:]
    # Unwired again (interval 0): the control-plane node's timer is switched off.
    timer = ssh("cp1", "systemctl is-active trainbed-health.timer", check=False).stdout.strip()
    assert timer == "inactive", timer


def slurm(ssh: Ssh, node: str) -> tuple[str, str]:
    """(state, reason) as sinfo prints them (`idle`, `drained`, …; `none`)."""
    out = ssh("cp1", f"sinfo -h -N -n {node} -o '%T|%E'").stdout.strip()
    state, _, reason = out.partition("|")
    return state, reason


def wait_for(ssh: Ssh, node: str, want: str, within: float) -> tuple[float, str]:
    """Seconds until `node`'s sinfo state is `want` (drained/draining count as one), and its
    reason; fails with the last state after `within`."""
    start = time.monotonic()
    while True:
        state, reason = slurm(ssh, node)
        if state.rstrip("*") == want or (want == "drained" and state.startswith("drain")):
            return time.monotonic() - start, reason
        if time.monotonic() - start > within:
            pytest.fail(f"{node}: expected {want} within {within:g} s, got {state} ({reason})")
        time.sleep(1)


@pytest.fixture
def idle_cluster(ssh: Ssh, cluster: dict[str, Any], wired: None) -> Iterator[None]:
    for node in ("gpu01", "gpu02"):
        wait_for(ssh, node, "idle", 2 * INTERVAL_S + SLACK_S)
    yield
    fault(cluster, "gpu02", "clear")
    ssh("cp1", "scancel --user=root --full; true", check=False)
    for node in ("gpu01", "gpu02"):
        # Drained by hand, by the epilog level (waits for an administrator) or left by a test
        # that failed half-way: the next test starts from idle.
        # The program may resume it meanwhile ("Invalid node state specified"): no check.
        if slurm(ssh, node)[0].startswith("drain"):
            ssh("cp1", f"scontrol update NodeName={node} State=RESUME", check=False)


@pytest.mark.parametrize(
    ("words", "named"),
    [
        (("gpu", "3", "remove"), "GPU count: expected 8, got 7"),
        (("gpu", "3", "xid", "79"), "XID 79"),
        (("hca", "mlx5_0", "down"), "mlx5_0 port 1 state"),
        (("fabricmanager", "stop"), "nvidia-fabricmanager: expected active"),
    ],
    ids=["gpu-removed", "xid-79", "hca-down", "fabricmanager-stopped"],
)
def test_a_fault_drains_the_node_and_clearing_it_resumes_it(
    ssh: Ssh, cluster: dict[str, Any], idle_cluster: None, words: tuple[str, ...], named: str
) -> None:
    fault(cluster, "gpu02", *words)
    took, reason = wait_for(ssh, "gpu02", "drained", INTERVAL_S + SLACK_S)
    assert reason.startswith("trainbed: ") and named in reason, reason
    assert slurm(ssh, "gpu01")[0] == "idle"
    last = json.loads(ssh("gpu02", "cat /var/lib/trainbed/health/last.json").stdout)
    assert last["result"] == "fail" and last["action"]["kind"] in ("drain", "none")
    fault(cluster, "gpu02", "clear")
    back, _ = wait_for(ssh, "gpu02", "idle", INTERVAL_S + SLACK_S)
    print(f"{'-'.join(words)}: drained in {took:.1f} s, idle again {back:.1f} s after clear")


def test_a_node_drained_by_hand_stays_drained(
    ssh: Ssh, cluster: dict[str, Any], idle_cluster: None
) -> None:
    ssh("cp1", "scontrol update NodeName=gpu01 State=DRAIN Reason='cabling by hand'")
    fault(cluster, "gpu01", "hca", "mlx5_0", "down")
    time.sleep(INTERVAL_S + SLACK_S)
    fault(cluster, "gpu01", "clear")
    time.sleep(INTERVAL_S + SLACK_S)
    state, reason = slurm(ssh, "gpu01")
    assert state.startswith("drain") and reason == "cabling by hand", (state, reason)
    shown = subprocess.run(
        [sys.executable, "-m", "trainbed", "health", cluster["inventory"], "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = {r["node"]: r for r in json.loads(shown.stdout)}
    assert rows["gpu01"]["slurm_reason"].startswith("cabling by hand")
    assert not rows["gpu01"]["drained_by_trainbed"] and rows["gpu01"]["age_s"] < 2 * INTERVAL_S
    assert rows["gpu02"]["result"] == "pass" and rows["gpu02"]["slurm_state"] == "IDLE"
    # The control-plane node runs the passive level from its timer, judged only.
    assert rows["cp1"]["slurm_state"] == "-" and rows["cp1"]["age_s"] < 2 * INTERVAL_S + SLACK_S
    assert rows["cp1"]["result"] == "pass", rows["cp1"]
    last = json.loads(ssh("cp1", "cat /var/lib/trainbed/health/last.json").stdout)
    assert last["action"]["kind"] == "none" and last["level"] == "passive"
    assert {"services", "hca ports"} <= {v["check"] for v in last["verdicts"]}
    ssh("cp1", "scontrol update NodeName=gpu01 State=RESUME")


def _runs(ssh: Ssh, node: str, since: str = "-3min") -> list[dict[str, Any]]:
    """The program's run documents in `node`'s journal."""
    out = ssh(node, f"journalctl -q -t trainbed-health -o cat --since {since}").stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _last_time(ssh: Ssh, node: str) -> str:
    out = ssh(node, "cat /var/lib/trainbed/health/last.json 2>/dev/null", check=False).stdout
    return json.loads(out)["time"] if out.strip() else ""


def test_a_prolog_failure_keeps_the_job_off_the_node_and_drains_it(
    ssh: Ssh, cluster: dict[str, Any], idle_cluster: None
) -> None:
    # Right after a periodic run, so that the job's prolog is the first run to see the fault.
    before = _last_time(ssh, "gpu02")
    deadline = time.monotonic() + INTERVAL_S + SLACK_S
    while _last_time(ssh, "gpu02") == before and time.monotonic() < deadline:
        time.sleep(0.5)
    fault(cluster, "gpu02", "hca", "mlx5_0", "down")
    job = ssh("cp1", "sbatch --parsable -w gpu02 --wrap 'hostname'").stdout.strip()
    took, reason = wait_for(ssh, "gpu02", "drained", INTERVAL_S)
    assert reason.startswith("trainbed: mlx5_0 port 1 state"), reason
    # The job's epilog runs after the failed prolog too: the journal holds every run.
    runs = _runs(ssh, "gpu02", "-2min")
    drains = [r for r in runs if r["action"]["kind"] == "drain"]
    assert [r["asked"] for r in drains] == ["prolog"], [(r["asked"], r["action"]) for r in runs]
    time.sleep(3)
    shown = ssh("cp1", f"scontrol show job {job}").stdout
    assert "JobState=PENDING" in shown, shown
    assert (
        "BatchHost=gpu02" not in shown
        or "Reason=launch_failed_requeued_held" in shown
        or "Requeue" in shown
    )
    sacct = ssh("cp1", f"sacct -n -X -j {job} -o State,NodeList -P", check=False).stdout
    assert "COMPLETED" not in sacct, sacct
    print(f"prolog: gpu02 drained {took:.1f} s after submit; job {job}: {sacct.strip()}")


def _job_done(ssh: Ssh, job: str, within: float) -> str:
    """The finished job's sacct state (fails when it is not finished within `within`)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        state = ssh("cp1", f"sacct -n -X -j {job} -o State -P", check=False).stdout.strip()
        if state and state not in ("PENDING", "RUNNING", "COMPLETING"):
            return state
        time.sleep(1)
    pytest.fail(f"job {job} not finished within {within:g} s")


def test_the_epilog_runs_dcgm_only_after_a_failed_job_and_drains_on_it(
    ssh: Ssh, cluster: dict[str, Any], idle_cluster: None
) -> None:
    # A fault only `dcgmi diag -r 2` sees: the passive and prolog levels pass with it.
    fault(cluster, "gpu02", "gpu", "2", "dcgm", "memory-fail")
    since = ssh("gpu02", "date +@%s").stdout.strip()
    ok = ssh("cp1", "sbatch --parsable -w gpu02 --wrap true").stdout.strip()
    assert _job_done(ssh, ok, 60) == "COMPLETED"
    time.sleep(2)  # the epilog's record lands just after the job's end
    epilogs = [r for r in _runs(ssh, "gpu02", since) if r["asked"] == "epilog"]
    assert epilogs and "dcgm" not in epilogs[-1]["timings"], epilogs
    assert epilogs[-1]["result"] == "pass" and slurm(ssh, "gpu02")[0] == "idle"

    failed = ssh("cp1", "sbatch --parsable -w gpu02 --wrap 'exit 3'").stdout.strip()
    assert _job_done(ssh, failed, 60) == "FAILED"
    took, reason = wait_for(ssh, "gpu02", "drained", 30)
    assert reason.startswith("trainbed: GPU 2 dcgmi diag -r 2 GPU Memory: expected Pass"), reason
    epilogs = [r for r in _runs(ssh, "gpu02", since) if r["asked"] == "epilog"]
    assert "dcgm" in epilogs[-1]["timings"] and epilogs[-1]["action"]["kind"] == "drain"
    assert slurm(ssh, "gpu01")[0] == "idle"

    # The periodic passive level cannot rerun the standard diag (Slurm's 60 s bound): an
    # epilog drain waits for an administrator even after the fault is gone.
    fault(cluster, "gpu02", "clear")
    time.sleep(INTERVAL_S + SLACK_S)
    state, still = slurm(ssh, "gpu02")
    assert state.startswith("drain") and still == reason, (state, still)
    last = json.loads(ssh("gpu02", "cat /var/lib/trainbed/health/last.json").stdout)
    assert last["action"]["note"] == "healthy; drained by the epilog level", last["action"]
    ssh("cp1", "scontrol update NodeName=gpu02 State=RESUME")
    print(f"epilog: gpu02 drained {took:.1f} s after job {failed} failed")


def test_a_hung_dcgm_drains_only_after_the_configured_count(
    ssh: Ssh, cluster: dict[str, Any], idle_cluster: None
) -> None:
    fault(cluster, "gpu02", "dcgm", "hang")
    for run in range(1, DRAIN_AFTER + 1):
        result = ssh("gpu02", "/usr/local/sbin/trainbed-health --level prolog --json", check=False)
        doc = json.loads(result.stdout)
        assert doc["result"] == "could not run", doc["verdicts"]
        state, reason = slurm(ssh, "gpu02")
        if run < DRAIN_AFTER:
            assert (result.returncode, state) == (0, "idle"), (run, state, reason)
        else:
            assert result.returncode == 1 and state.startswith("drain"), (run, state, reason)
            assert reason.startswith("trainbed: health check could not run: dcgmi diag -r 1"), (
                reason
            )
    fault(cluster, "gpu02", "clear")
    wait_for(ssh, "gpu02", "idle", INTERVAL_S + SLACK_S)


def test_benchmark_passive_level(cluster: dict[str, Any], wired: None) -> None:
    """`benchmarks/health_passive.py` runs on the mock (its figures are printed, not asserted:
    performance is the benchmark's to show)."""
    ssh_config = Path(cluster["ssh_config"])
    for node in ("gpu02", "cp1"):
        runs = health_passive.measure(ssh_config, node, 10)
        assert len(runs.program) == len(runs.baseline) == 10
        print(health_passive.report(node, runs))
