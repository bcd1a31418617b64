"""Wall time of the whole probe suite on deployed mock clusters, and the Slurm jobs it used.

    python benchmarks/probe_suite.py --state-dir .mock --state-dir .mock4 [--runs 3]
    python benchmarks/probe_suite.py --state-dir .mock4 --mode quick --mode full

Each ``--state-dir`` names a mock cluster that is up and deployed (``lab/up --compute N``,
then the deploy). For each, ``trainbed probe INVENTORY --mode MODE`` (the real CLI: SSH, sbatch,
squeue, SFTP, judging, reports) runs ``--runs`` times per ``--mode`` (default full), the modes
taking turns so that they meet the same load; the median wall time is printed with the
compute-node count, the number of Slurm jobs and ib_write_bw rounds, and whether the suite passed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(inventory: str, out: Path, mode: str) -> tuple[float, dict]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "trainbed", "probe", inventory, "--out", str(out), "--mode", mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    elapsed = time.monotonic() - start
    results = out / "results.json"
    if not results.exists():
        sys.exit(f"trainbed probe failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, json.loads(results.read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state-dir", action="append", required=True, help="a deployed mock cluster")
    p.add_argument("--runs", type=int, default=1, help="runs per cluster (median; default 1)")
    p.add_argument(
        "--mode", action="append", choices=("quick", "full"), help="probe mode (repeatable)"
    )
    args = p.parse_args()
    modes = args.mode or ["full"]
    rows = []
    for state in args.state_dir:
        cluster = json.loads((Path(state) / "cluster.json").read_text())
        nodes = sum(n["kind"] == "compute" for n in cluster["nodes"])
        times: dict[str, list[float]] = {m: [] for m in modes}
        results: dict[str, dict] = {}
        for _ in range(args.runs):
            for mode in modes:
                with tempfile.TemporaryDirectory() as tmp:
                    elapsed, results[mode] = one_run(cluster["inventory"], Path(tmp) / "out", mode)
                times[mode].append(elapsed)
        for mode in modes:
            doc = results[mode]
            rows.append(
                (
                    nodes,
                    mode,
                    statistics.median(times[mode]),
                    min(times[mode]),
                    max(times[mode]),
                    doc["summary"]["jobs"],
                    len([r for r in doc["schedule"]["ib_write_bw"]["rounds"] if r]),
                    len(doc["schedule"]["nccl"]),
                    doc["passed"],
                )
            )
    print(
        f"{'compute nodes':>13}  {'mode':>5}  {'wall s (median)':>15}  {'min':>6}  {'max':>6}  "
        f"{'slurm jobs':>10}  {'ib rounds':>9}  {'nccl runs':>9}  passed"
    )
    for nodes, mode, med, lo, hi, jobs, rounds, nccl, passed in rows:
        print(
            f"{nodes:>13}  {mode:>5}  {med:>15.1f}  {lo:>6.1f}  {hi:>6.1f}  {jobs:>10}  "
            f"{rounds:>9}  {nccl:>9}  {passed}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
