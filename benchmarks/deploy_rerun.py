"""Deploy timings on the mock cluster: ``python benchmarks/deploy_rerun.py [--runs 3]``.

Prints, measured side by side in one run (medians of ``--runs``):
- the no-op rerun against the cold first deploy (goal ≤ 0.10), on 1 control + 2 compute nodes;
- the no-op rerun with 4 compute nodes against 1 (goal ≤ 1.5).
Uses its own cluster (name ``tb-bench``, subnet 172.31.249.0/24, state dir ``.mock-bench``) and
takes it down afterwards; cached images are kept.
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
STATE = ROOT / ".mock-bench"
UP_ARGS = ["--name", "tb-bench", "--subnet", "172.31.249.0/24", "--state-dir", str(STATE)]


def _run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1200) -> float:
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed


def _up(compute: int) -> dict[str, str]:
    _run([str(ROOT / "lab/up"), *UP_ARGS, "--compute", str(compute)])
    inventory = json.loads((STATE / "cluster.json").read_text())["inventory"]
    return {**os.environ, "TRAINBED_INVENTORY": inventory}


def _down() -> None:
    subprocess.run(
        [str(ROOT / "lab/down"), "--state-dir", str(STATE)],
        capture_output=True,
        cwd=ROOT,
        timeout=600,
    )


def _deploy(env: dict[str, str]) -> float:
    return _run(
        [sys.executable, "-m", "pyinfra", "inventory/mock.py", "deploy/cluster.py", "-y"], env
    )


def _cold_and_noop(compute: int, runs: int) -> tuple[float, float]:
    """(cold deploy seconds, median no-op rerun seconds) on a fresh cluster of this size."""
    _down()
    env = _up(compute)
    try:
        cold = _deploy(env)
        noop = statistics.median(_deploy(env) for _ in range(runs))
    finally:
        _down()
    return cold, noop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="no-op reruns per size (median)")
    args = parser.parse_args()
    results = {n: _cold_and_noop(n, args.runs) for n in (1, 2, 4)}
    for n, (cold, noop) in results.items():
        print(
            f"1 control + {n} compute: cold deploy {cold:6.1f} s, no-op rerun median {noop:5.1f} s"
        )
    cold2, noop2 = results[2]
    print(f"no-op rerun / cold deploy (2 compute): {noop2 / cold2:.3f}  (goal <= 0.10)")
    print(
        f"no-op rerun 4 compute / 1 compute:     {results[4][1] / results[1][1]:.2f}  (goal <= 1.5)"
    )


if __name__ == "__main__":
    main()
