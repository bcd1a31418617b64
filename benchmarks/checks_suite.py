"""Acceptance-suite wall time: ``python benchmarks/checks_suite.py [--runs 3] [--workers 1,4]``.

Runs ``trainbed check`` on a mock cluster of 1 control + 4 compute + 1 storage nodes with each
worker count, alternating so that drift affects all alike, and prints the median wall time of each
and the speed-up of the largest count over ``-n 1``.

With ``--state-dir DIR`` it uses a cluster that is up and deployed there (for example one brought
up with ``lab/up --compute 4 --state-dir DIR``); without, it brings up its own (name
``tb-checks-bench``, subnet 172.31.248.0/24, state dir ``.mock-checks-bench``), deploys it, and
takes it down afterwards (cached images are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN_STATE = ROOT / ".mock-checks-bench"
UP_ARGS = ["--name", "tb-checks-bench", "--subnet", "172.31.248.0/24", "--compute", "4"]


def _run(cmd: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> float:
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800)
    elapsed = time.monotonic() - start
    if proc.returncode not in ok:
        sys.exit(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}"
        )
    return elapsed


def _bring_up(state: Path) -> str:
    _run([str(ROOT / "lab/up"), *UP_ARGS, "--state-dir", str(state)])
    inventory = json.loads((state / "cluster.json").read_text())["inventory"]
    env = {**os.environ, "TRAINBED_INVENTORY": inventory}
    deploy = [sys.executable, "-m", "pyinfra", "inventory/mock.py", "deploy/cluster.py", "-y"]
    # The first deploy may stop on a step a container cannot take; the second converges.
    _run(deploy, env, ok=(0, 1))
    _run(deploy, env)
    return inventory


def _take_down(state: Path) -> None:
    subprocess.run(
        [str(ROOT / "lab/down"), "--state-dir", str(state)],
        capture_output=True,
        cwd=ROOT,
        timeout=600,
    )


def open_cluster(state_dir: Path | None) -> tuple[Path, str, list[str]]:
    """(state dir, inventory, node kinds) of the deployed cluster in `state_dir`; without one, of
    this benchmark's own, brought up now (the caller takes it down with `_take_down`)."""
    state = OWN_STATE if state_dir is None else state_dir.resolve()
    if state_dir is None:
        _take_down(state)
        inventory = _bring_up(state)
    else:
        inventory = json.loads((state / "cluster.json").read_text())["inventory"]
    nodes = json.loads((state / "cluster.json").read_text())["nodes"]
    return state, inventory, [n["kind"] for n in nodes]


def _suite(inventory: str, workers: int) -> float:
    """Seconds for one full `trainbed check` (it must pass: a failing cluster is no benchmark)."""
    return _run([sys.executable, "-m", "trainbed", "check", inventory, "-n", str(workers)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per worker count (median)")
    parser.add_argument("--workers", default="1,4", help="comma-separated xdist worker counts")
    parser.add_argument("--state-dir", type=Path, help="a deployed 1+4+1 mock cluster to use")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    state, inventory, kinds = open_cluster(args.state_dir)
    own = args.state_dir is None
    try:
        _suite(inventory, counts[-1])  # warm-up: SSH masters, page cache
        times: dict[int, list[float]] = {n: [] for n in counts}
        for _ in range(args.runs):
            for n in counts:
                times[n].append(_suite(inventory, n))
    finally:
        if own:
            _take_down(state)
    print(
        f"cluster: {kinds.count('control')} control + {kinds.count('compute')} compute + "
        f"{kinds.count('storage')} storage nodes; {args.runs} runs each, medians"
    )
    medians = {n: statistics.median(t) for n, t in times.items()}
    for n in counts:
        spread = ", ".join(f"{t:.1f}" for t in times[n])
        print(f"trainbed check -n {n}: {medians[n]:6.1f} s  (runs: {spread})")
    top = counts[-1]
    print(f"speed-up -n {top} over -n {counts[0]}: {medians[counts[0]] / medians[top]:.2f}x")


if __name__ == "__main__":
    main()
