"""The node-local health program on the mock cluster (issue 14's Done-when).

The module deploys the cluster's inventory with the program wired into Slurm at a short interval
(`INTERVAL_S`), injects one fault at a time on gpu02 with `lab/fault`, and watches Slurm: gpu02
drained with a `trainbed:` reason naming the fault within one interval, gpu01 untouched, back to
idle within one interval of `fault clear` without anyone resuming it. At the end it deploys the
cluster's own inventory again (the program unwired).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

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
    cluster: dict[str, Any], deploy: Deploy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    def wire(doc: dict[str, Any]) -> None:
        doc["health"] = {**doc.get("health", {}), **HEALTH}

    path = variant(cluster, tmp_path_factory.mktemp("health"), wire)
    result = deploy(inventory=path)
    assert result.returncode == 0, result.output[-4000:]
    yield
    restored = deploy()
    assert restored.returncode == 0, restored.output[-4000:]


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
        state, reason = slurm(ssh, node)
        if state.startswith("drain") and not reason.startswith("trainbed:"):
            ssh("cp1", f"scontrol update NodeName={node} State=RESUME")


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
    ssh("cp1", "scontrol update NodeName=gpu01 State=RESUME")


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
    runs = [
        json.loads(line)
        for line in ssh(
            "gpu02", "journalctl -q -t trainbed-health -o cat --since -2min"
        ).stdout.splitlines()
        if line.startswith("{")
    ]
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


def test_benchmark_passive_level(ssh: Ssh, wired: None) -> None:
    """The passive level's run time on a mock node, median of 10 (goal ≤ 2 s): wall clock of
    the whole program on the node (python3 start, catalog, every command, the record) and the
    run's own `seconds`."""
    wall, own = [], []
    for _ in range(10):
        out = ssh(
            "gpu02",
            "s=$(date +%s%N); /usr/local/sbin/trainbed-health --no-slurm --json > /tmp/tb-run.json;"
            " e=$(date +%s%N); echo $(( (e - s) / 1000000 )); cat /tmp/tb-run.json",
            check=False,
        ).stdout
        millis, _, doc = out.partition("\n")
        wall.append(int(millis) / 1000)
        own.append(json.loads(doc)["seconds"])
    print(
        f"passive level on gpu02, median of 10: {statistics.median(wall):.3f} s wall"
        f" (min {min(wall):.3f}, max {max(wall):.3f}); {statistics.median(own):.3f} s in the run"
    )
    assert statistics.median(wall) <= 2
