"""`trainbed accept` on the live mock cluster: the clean cluster is accepted; with one HCA
trained down to HDR it is not, and the banner names the HCA (the checks' port rate and the
probes' ib_write_bw finding)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mock_cluster.conftest import REPO, DeployRun, hosts
from tests.mock_cluster.test_probe import fault

pytestmark = pytest.mark.mock


@pytest.fixture(scope="module")
def inventory(cluster: dict[str, Any], deployed: DeployRun) -> Path:
    # The deployed inventory itself: the checks compare the nodes' files with what it renders
    # (a variant would render other "generated from" headers).
    return Path(cluster["inventory"])


def run_accept(inventory: Path, out: Path) -> tuple[int, str, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "trainbed", "accept", str(inventory), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=1500,
    )
    output = proc.stdout + proc.stderr
    path = out / "acceptance.json"
    assert path.exists(), output[-4000:]
    return proc.returncode, output, json.loads(path.read_text())


def test_clean_cluster_is_accepted(inventory: Path, tmp_path: Path) -> None:
    code, output, doc = run_accept(inventory, tmp_path / "out")
    assert code == 0 and doc["accepted"], (doc["reasons"], output[-4000:])
    probe = doc["probe"]
    assert probe["suites"] == ["nccl", "ib_write_bw", "storage", "training"]
    assert probe["passed"] and doc["checks"]["passed"]
    # the mock's checkpoint storage is the containers' own disk: said, neither pass nor fault
    assert probe["storage"]["status"] == "not_measured"
    assert doc["caveats"] and all("not measured on NFS" in c for c in doc["caveats"])
    for step in ("1/3 acceptance checks", "2/3 probe suites", "3/3 report", "ACCEPTED"):
        assert step in output, step
    assert (tmp_path / "out" / "acceptance.md").read_text().startswith("# Acceptance: ")
    assert (tmp_path / "out" / "probe" / "report.md").exists()
    html = (tmp_path / "out" / "report.html").read_text()
    assert '<section id="banner" class="pass">' in html and 'id="storage"' in html


def test_degraded_hca_is_not_accepted_and_named(
    inventory: Path, tmp_path: Path, cluster: dict[str, Any]
) -> None:
    node = hosts(cluster, "compute")[1]
    fault(cluster, node, "hca", "mlx5_4", "rate", "200")
    try:
        code, output, doc = run_accept(inventory, tmp_path / "out")
    finally:
        fault(cluster, node, "clear")
    assert code == 1 and not doc["accepted"], output[-4000:]
    named = [line for line in doc["reasons"] if node in line and "mlx5_4" in line]
    assert any(line.startswith(f"check {node}:") for line in named), doc["reasons"]
    assert any(line.startswith("probe hca:") for line in named), doc["reasons"]
    assert "NOT ACCEPTED" in (tmp_path / "out" / "acceptance.md").read_text()
    html = (tmp_path / "out" / "report.html").read_text()
    banner = html.split('<section id="banner" class="fail">', 1)[1].split("</section>", 1)[0]
    assert node in banner and "mlx5_4" in banner
    fabric = html.split('<section id="fabric">', 1)[1].split("</section>", 1)[0]
    assert node in fabric and "mlx5_4" in fabric
