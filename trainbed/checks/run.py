"""`trainbed check`: run the acceptance suite (pytest) against an inventory; summarise its JUnit per node."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from trainbed.checks.expected import node_role
from trainbed.checks.junit import NodeSummary, read_junit, read_warnings, summarise
from trainbed.inventory.model import Inventory

#: The acceptance suite: this package's `test_*.py` (wherever it is installed) and its conftest.
CHECKS_DIR = Path(__file__).resolve().parent
#: The options' plugin, also the `pytest11` entry point's name (see `trainbed.checks.plugin`).
PLUGIN = "trainbed.checks.plugin"


@dataclass(frozen=True, slots=True)
class CheckRun:
    returncode: int
    junit: Path
    summaries: list[NodeSummary]

    @property
    def failed(self) -> bool:
        return self.returncode != 0 or any(s.failed for s in self.summaries)


def pytest_args(
    inventory: str | Path,
    junit: str | Path,
    limit: str | None = None,
    workers: str | int | None = None,
    checks_dir: Path = CHECKS_DIR,
    extra: tuple[str, ...] = (),
    level: str | None = None,
) -> list[str]:
    """The pytest command line `trainbed check` runs (the same works typed by hand).

    ``--rootdir`` is the suite's parent, so node ids read ``checks/test_base.py::...`` and JUnit
    classnames ``checks.test_base`` wherever the package is installed. ``-p`` loads the options'
    plugin even where the installed metadata predates its entry point.
    """
    args = [
        sys.executable,
        "-m",
        "pytest",
        str(checks_dir),
        "--rootdir",
        str(checks_dir.parent),
        "-p",
        PLUGIN,
        "--inventory",
        str(inventory),
        "--junitxml",
        str(junit),
        "-o",
        "junit_family=xunit2",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    if limit:
        args += ["--limit", limit]
    if level:
        args += ["--level", level]
    if workers is not None and str(workers) != "0":
        args += ["-n", str(workers)]
    return [*args, *extra]


def run_checks(
    inventory: Inventory,
    inventory_path: str | Path,
    junit: str | Path | None = None,
    limit: str | None = None,
    workers: str | int | None = None,
    checks_dir: Path = CHECKS_DIR,
    extra: tuple[str, ...] = (),
    level: str | None = None,
) -> CheckRun:
    """Run the suite (pytest's output goes to this process's stdout) and read its JUnit file."""
    if junit is None:
        junit = Path(tempfile.mkstemp(prefix="trainbed-check-", suffix=".xml")[1])
    junit = Path(junit)
    args = pytest_args(inventory_path, junit, limit, workers, checks_dir, extra, level)
    returncode = subprocess.run(args, check=False).returncode
    roles = {node.hostname: node_role(node) for node in inventory.nodes}
    hostnames = list(roles)
    written = junit.exists() and junit.stat().st_size
    results = read_junit(junit, hostnames) if written else []
    warnings = read_warnings(junit) if written else []
    ran = {r.node for r in results}
    roles = {host: role for host, role in roles.items() if host in ran}
    return CheckRun(returncode, junit, summarise(results, roles, warnings))
