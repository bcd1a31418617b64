"""Validate + model build of a 1,024-node inventory against a bare libyaml load of the same file.

Run: `python benchmarks/inventory_load.py [--nodes 1024] [--runs 7]` (trainbed installed). Prints medians and the ratio
(goal ≤ 3×). Both sides run alternately in one process so machine noise hits them alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from trainbed.inventory import load_inventory
from trainbed.inventory.generate import dump_inventory, generate_inventory
from trainbed.inventory.schema import _fast_validator, validator


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text(dump_inventory(generate_inventory(args.nodes, 1)))
        bare, full = [], []
        for _ in range(args.runs):
            bare.append(_time(lambda: yaml.load(path.read_text(), Loader=yaml.CSafeLoader)))
            validator.cache_clear()  # a CLI run compiles the schema too
            _fast_validator.cache_clear()
            full.append(_time(lambda: load_inventory(path)))
        size_kib = path.stat().st_size / 1024
    bare_med, full_med = statistics.median(bare), statistics.median(full)
    print(
        f"inventory: {args.nodes} compute nodes, network configuration 1, {size_kib:.0f} KiB, {args.runs} runs"
    )
    print(f"yaml.load CSafeLoader         median {bare_med * 1000:8.1f} ms")
    print(f"load_inventory (validate+model) median {full_med * 1000:8.1f} ms")
    print(f"ratio                          {full_med / bare_med:8.2f}x  (goal <= 3x)")


if __name__ == "__main__":
    main()
