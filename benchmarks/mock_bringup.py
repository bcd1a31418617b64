"""Cold and warm bring-up times of the mock cluster: ``python benchmarks/mock_bringup.py``.

Cold: cached images removed first (``down --images``), one run by default (it re-downloads the
base system from the host's mirror). Warm: images cached, the median of ``--warm`` runs.
Leaves the cluster down and the images cached.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UP, DOWN = str(ROOT / "lab/up"), str(ROOT / "lab/down")


def timed_up(extra: list[str]) -> tuple[float, dict]:
    start = time.monotonic()
    proc = subprocess.run([UP, *extra], capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"bring-up failed:\n{proc.stderr[-3000:]}")
    return elapsed, json.loads((ROOT / ".mock/cluster.json").read_text())["timings"]


def down(images: bool = False) -> None:
    subprocess.run(
        [DOWN, *(["--images"] if images else [])], check=True, capture_output=True, timeout=600
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cold", type=int, default=1, help="cold runs (default 1)")
    p.add_argument("--warm", type=int, default=3, help="warm runs (default 3)")
    p.add_argument("up_args", nargs="*", help="extra arguments for lab/up")
    args = p.parse_args()
    down()
    cold, warm = [], []
    for _ in range(args.cold):
        down(images=True)
        elapsed, steps = timed_up(args.up_args)
        cold.append(elapsed)
        print(f"cold run: {elapsed:6.1f} s  {steps}", flush=True)
        down()
    for _ in range(args.warm):
        elapsed, steps = timed_up(args.up_args)
        warm.append(elapsed)
        print(f"warm run: {elapsed:6.1f} s  {steps}", flush=True)
        down()
    if cold:
        note = " (1 run)" if len(cold) == 1 else f" (median of {len(cold)})"
        print(f"cold bring-up: {statistics.median(cold):.1f} s{note}")
    if warm:
        print(f"warm bring-up: {statistics.median(warm):.1f} s (median of {len(warm)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
