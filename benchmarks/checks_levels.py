"""Acceptance-suite wall time per level: ``python benchmarks/checks_levels.py [--runs 3]``.

Times ``trainbed check --level quick|standard|burn-in`` on a deployed mock cluster, and, as the
baseline, the same suite without the hardware health checks (today's suite before them: the
checks of `HEALTH_CHECKS` deselected with ``-k``), alternating so that drift affects all alike.
Prints the median of each and the quick level's ratio to the baseline (the bar: within 2x).

With ``--state-dir DIR`` it uses a cluster that is up and deployed there; without, it brings up
and later takes down its own, as ``benchmarks/checks_suite.py`` does (whose helpers it uses).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.checks_suite import ROOT, _run, _take_down, open_cluster
from trainbed.checks.run import pytest_args
from trainbed.inventory.model import LEVELS

#: The checks the hardware health issue added (deselected for the baseline).
HEALTH_CHECKS = (
    "test_gpu_xids",
    "test_gpu_memory_errors",
    "test_gpu_clocks",
    "test_nvlink",
    "test_dcgm_diag",
    "test_nvbandwidth",
    "test_pcie_links",
    "test_pcie_acs",
    "test_gpu_hca_topology",
    "test_ib_link_errors",
    "test_ib_ber",
)
BASELINE = "baseline"


def _level(inventory: str, level: str, workers: int) -> float:
    """Seconds for one `trainbed check --level LEVEL` (it must pass)."""
    command = [sys.executable, "-m", "trainbed", "check", inventory, "-n", str(workers)]
    return _run([*command, "--level", level])


def _baseline(inventory: str, workers: int) -> float:
    """Seconds for the suite without the health checks, as `trainbed check` runs it."""
    with tempfile.TemporaryDirectory() as tmp:
        deselect = "not (" + " or ".join(HEALTH_CHECKS) + ")"
        args = pytest_args(
            inventory, Path(tmp) / "junit.xml", workers=workers, extra=("-k", deselect)
        )
        return _run(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per level (median)")
    parser.add_argument("--workers", type=int, default=4, help="pytest-xdist workers")
    parser.add_argument("--state-dir", type=Path, help="a deployed mock cluster to use")
    args = parser.parse_args()
    state, inventory, kinds = open_cluster(args.state_dir)
    own = args.state_dir is None
    subprocess.run(
        [sys.executable, "-m", "trainbed", "check", inventory], capture_output=True, cwd=ROOT
    )  # warm-up: SSH masters, page cache
    times: dict[str, list[float]] = {name: [] for name in (BASELINE, *LEVELS)}
    try:
        for _ in range(args.runs):
            times[BASELINE].append(_baseline(inventory, args.workers))
            for level in LEVELS:
                times[level].append(_level(inventory, level, args.workers))
    finally:
        if own:
            _take_down(state)
    print(
        f"cluster: {kinds.count('control')} control + {kinds.count('compute')} compute + "
        f"{kinds.count('storage')} storage nodes; -n {args.workers}; {args.runs} runs each, medians"
    )
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, runs in times.items():
        label = "without health checks" if name == BASELINE else f"--level {name}"
        spread = ", ".join(f"{t:.1f}" for t in runs)
        print(f"trainbed check {label:<22}: {medians[name]:6.1f} s  (runs: {spread})")
    ratio = medians["quick"] / medians[BASELINE]
    print(f"quick / without health checks: {ratio:.2f}x ({'within' if ratio <= 2 else 'over'} 2x)")


if __name__ == "__main__":
    main()
