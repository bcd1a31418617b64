"""`trainbed probe --suite storage` on the live mock cluster.

The deploy installs Debian's fio (software.probe_tools) at its locked version; the suite writes
one file per GPU at the checkpoint mount point and reads them back through Slurm. The mock's
kernel has no NFS client and its checkpoint export is not mounted (mount_now: false), so the
files go to each container's own filesystem under /mnt/checkpoints: the verdict must be "not
measured on NFS" with the filesystem named, the figures still reported, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mock_cluster.conftest import DeployRun, Ssh, hosts
from tests.mock_cluster.test_probe import probe_inventory, run_probe
from trainbed.inventory import load_inventory
from trainbed.render.packages import probe_packages

pytestmark = pytest.mark.mock


@pytest.fixture(scope="module")
def inventory(cluster: dict[str, Any], deployed: DeployRun) -> Iterator[Path]:
    path = probe_inventory(cluster, "storage")
    yield path
    path.unlink(missing_ok=True)


def test_fio_is_installed_and_held(deployed: DeployRun, ssh: Ssh, cluster: dict[str, Any]) -> None:
    inv = load_inventory(Path(cluster["inventory"])).inventory
    for host in hosts(cluster, "compute"):
        (fio,) = probe_packages(inv, inv.node(host))
        out = ssh(host, "dpkg-query -W -f '${Package}=${Version}\\n' fio; apt-mark showhold")
        assert fio.spec in out.stdout.splitlines() and "fio" in out.stdout.splitlines(), host


def test_storage_suite_reports_bandwidth_not_measured_on_nfs(
    inventory: Path, tmp_path: Path, cluster: dict[str, Any]
) -> None:
    code, output, results = run_probe(inventory, tmp_path / "out", "--suite", "storage")
    storage = results["storage"]
    compute = hosts(cluster, "compute")
    assert storage["status"] == "not_measured", output[-3000:]
    assert storage["passed"] is False and storage["failures"] == []
    for node in compute:
        mount = storage["mounts"][node]
        assert mount is not None and mount["fstype"] not in ("nfs", "nfs4"), mount
        line = (
            f"{node} storage: not measured on NFS: /mnt/checkpoints is {mount['fstype']} "
            f"on {mount['source']}"
        )
        assert any(m.startswith(line) for m in storage["not_measured"]), storage["not_measured"]
        figures = storage["nodes"][node]
        assert figures["files"] == 8, figures  # one per GPU
        assert figures["write_gbs"] and figures["read_gbs"], figures
    assert storage["aggregate"]["files"] == 8 * len(compute)
    assert "storage not measured: write " in output and "not measured on NFS" in output
    # the need is the plan's (inventory: probes.storage.model llama2-7b)
    assert storage["need"]["basis"].startswith("llama2-7b: 2 files")
    # not measured on NFS fails nothing and passes nothing: with the storage suite alone,
    # nothing was measured, so the run has not passed
    assert results["passed"] is False and results["findings"] == [] and code == 1, output[-3000:]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Checkpoint storage" in report and "**NOT MEASURED**" in report
    junit = (tmp_path / "out" / "junit.xml").read_text()
    assert '<testsuite name="storage"' in junit and "<skipped" in junit
    # the raw fio JSON came back, one per rank and direction
    raw = tmp_path / "out" / "raw" / "storage"
    assert len(list(raw.glob("*.write.json"))) == 8 * len(compute)
