"""The conformance tier: rendered files fed to the real programs in a throwaway container.

The container is built from the lab's node image (`lab.image.ensure`: Debian 12, Slurm 22.05
cached in it) and named `trainbed-conform-<pid>`; it is removed at the end of the session. The
Slurm 24.11 tests use a second one from the Debian 13 node image (`trainbed-conform-13-<pid>`),
with the lab inventory rendered for Slurm 24.11 (`SERIES_VARIANTS`). The tier runs only when
selected (`-m conformance`): it needs Docker and the Debian mirror.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROD_YAML, REPO
from trainbed.errors import TrainbedError
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Inventory
from trainbed.probes.evaluate import schedule_for
from trainbed.probes.scripts import facts_script, suite_jobs
from trainbed.probes.training import training_job
from trainbed.render import render_cluster

HERE = Path(__file__).parent
INVENTORIES = {
    "prod": PROD_YAML,
    "config2": REPO / "tests" / "fixtures" / "inventories" / "config2.yaml",
    "lab": REPO / "inventory" / "mock.yaml",  # the mock cluster's (id "mock" selects the mock tier)
}
#: Renders of an inventory above for another Slurm series: name -> (inventory, Slurm version).
#: Only the version differs (what Debian 13's lab/up variant changes beside package versions).
SERIES_VARIANTS = {"lab-24.11": ("lab", "24.11.5")}
#: In the image's apt cache (installed without a download).
CACHED = ("munge", "slurmctld", "slurmd", "slurm-client", "slurmdbd", "mariadb-server", "chrony")
#: From the Debian mirror.
DOWNLOADED = ("opensm", "shellcheck")
RUNDIR = "/home/trainbed/trainbed-probes/RUN"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = "conformance" in (config.option.markexpr or "")
    skip = pytest.mark.skip(reason="the conformance tier runs with -m conformance (needs Docker)")
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.conformance)
            if not selected:
                item.add_marker(skip)


@dataclass(frozen=True)
class Box:
    """A running container; `/render` holds the rendered tree (read-only)."""

    name: str

    def sh(self, script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "exec", self.name, "bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, script: str, timeout: float = 120) -> str:
        proc = self.sh(script, timeout)
        assert proc.returncode == 0, f"{script}\n{proc.stdout}{proc.stderr}"
        return proc.stdout

    def put(self, path: str, text: str) -> None:
        proc = subprocess.run(
            ["docker", "exec", "-i", self.name, "bash", "-c", f"cat > {shlex.quote(path)}"],
            input=text,
            text=True,
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr


def inventory_of(name: str) -> Inventory:
    """The inventory behind render `name` (INVENTORIES, or a SERIES_VARIANTS entry)."""
    if name in SERIES_VARIANTS:
        base, version = SERIES_VARIANTS[name]
        inv = load_inventory(INVENTORIES[base]).inventory
        slurm = dataclasses.replace(inv.software.slurm, version=version)
        return dataclasses.replace(inv, software=dataclasses.replace(inv.software, slurm=slurm))
    return load_inventory(INVENTORIES[name]).inventory


def _scripts(inv: Inventory) -> dict[str, str]:
    """Every batch and shell script the probe suite and the training job stage."""
    files = {"facts.sh": facts_script(inv, RUNDIR)}
    for job in suite_jobs(inv, schedule_for(inv), ("nccl", "ib_write_bw"), RUNDIR):
        files.update(job.files)
    for nodes in sorted({1, min(2, len(inv.compute))}):
        try:
            job = training_job(inv, "llama2-7b", nodes)
        except TrainbedError:
            continue
        files[f"training-{nodes}n.sbatch"] = job.script
    return files


def _write_tree(root: Path) -> None:
    for name in (*INVENTORIES, *SERIES_VARIANTS):
        inv = inventory_of(name)
        for host, files in render_cluster(inv).items():
            for target, f in files.items():
                out = root / name / host / target.lstrip("/")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(f.content)
        for script, text in _scripts(inv).items():
            out = root / name / "scripts" / script
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    _write_tree(root)
    return root


def _start_box(tree: Path, logs: Path, suite: str, name: str, packages: tuple[str, ...]) -> Box:
    """A container of the `suite` node image with `packages` (the image caches CACHED) installed."""
    from lab import engine, image

    engine.ensure_daemon(logs)
    node_image = image.ensure(logs, suite=suite, storage=False).node
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(
        [
            # --init: an init reaps the daemons' exited children (sleep as PID 1 would not).
            *("docker", "run", "-d", "--init", "--name", name, "--hostname", "cp1"),
            *("-v", f"{tree}:/render:ro", node_image, "sleep", "infinity"),
        ],
        check=True,
        capture_output=True,
    )
    box = Box(name)
    downloaded = [p for p in packages if p not in CACHED]
    box.ok(
        "export DEBIAN_FRONTEND=noninteractive; "
        f"apt-get install -y -q --no-download {' '.join(CACHED)} >/tmp/apt.log 2>&1 && "
        + (
            f"apt-get install -y -q --no-install-recommends {' '.join(downloaded)} "
            ">>/tmp/apt.log 2>&1"
            if downloaded
            else "true"
        )
        + " || { tail -20 /tmp/apt.log; exit 1; }",
        timeout=600,
    )
    return box


@pytest.fixture(scope="session")
def box(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    from lab.config import SUITE

    name = f"trainbed-conform-{os.getpid()}"
    try:
        yield _start_box(tree, tmp_path_factory.mktemp("lab-logs"), SUITE, name, DOWNLOADED)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


@pytest.fixture(scope="session")
def box13(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """Debian 13 (Slurm 24.11 in its node image), for the Slurm tests of the 24.11 renders."""
    name = f"trainbed-conform-13-{os.getpid()}"
    try:
        yield _start_box(tree, tmp_path_factory.mktemp("lab-logs-13"), "trixie", name, ())
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
