"""ib_write_bw rounds and Slurm jobs, quick against full mode, and quick mode's admin-side time.

    PYTHONPATH=. python3 benchmarks/fabric_rounds.py [--sizes 8 32 128 1024] [--full-scripts-max 128]

For each size a generated inventory (``trainbed init``'s layout, network configuration 1: 8 rails)
gives the plans. Rounds and jobs: quick mode's rounds for one bad HCA, the topology rounds that
follow them (leaf–spine cables; none with one switch a rail), and full mode's plan (N−1 or N
rounds). Quick jobs count the single- and two-node NCCL runs and every ib_write_bw round. Admin-side time of quick mode, no cluster: render every job script of the
rounds a one-bad-HCA run takes, and judge and localise that simulated run (fake verdicts from the
schedule, :func:`trainbed.probes.matching.localise_quick`). Full mode's scripts are rendered up to
``--full-scripts-max`` nodes only (at 1,024 nodes they are ~1 GB). The exponent is the slope of a
least-squares fit of log(time) on log(N).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from trainbed.inventory import load_inventory
from trainbed.inventory.generate import dump_inventory, generate_inventory
from trainbed.probes.evaluate import schedule_for
from trainbed.probes.judge import IbVerdict
from trainbed.probes.matching import localise_quick, run_rounds
from trainbed.probes.quick import leaves, quick_schedule
from trainbed.probes.scripts import suite_jobs
from trainbed.probes.topology import cable_findings, topology_rounds, trees

SUITES = ("nccl", "ib_write_bw")


def exponent(sizes: list[int], times: list[float]) -> float:
    xs, ys = [math.log(n) for n in sizes], [math.log(max(t, 1e-9)) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def quick_admin(inv, bad: str, rail: str) -> tuple[int, int, float]:
    """Quick rounds, Slurm jobs (topology rounds included) and seconds for a simulated quick run
    with ``bad``'s HCA slow on ``rail``: scripts rendered, verdicts localised."""
    nodes = [n.hostname for n in inv.compute]
    rails = [r.name for r in inv.rails]
    first = quick_schedule(inv)
    jobs = 0
    start = time.perf_counter()

    def measure(number: int, pairs: list[tuple[str, str]]) -> list[IbVerdict]:
        nonlocal jobs
        plan = {"ib_write_bw": {"rails": rails, "rounds": [[list(p) for p in pairs]]}, "nccl": []}
        if number == 1:
            plan["nccl"] = first["nccl"]
        jobs += len(suite_jobs(inv, plan, SUITES, "/work/run", None, number))
        return [
            IbVerdict(number, a, b, r, "mlx5_0", "mlx5_0", g, 360.0, g >= 360.0)
            for a, b in pairs
            for r in rails
            for g in [300.0 if bad in (a, b) and r == rail else 392.0]
        ]

    verdicts = run_rounds(nodes, rails, measure, leaves(inv))
    rounds = max(v.round for v in verdicts)
    fabric = trees(inv)
    for number, pairs in enumerate(topology_rounds(fabric[0]) if fabric else [], start=rounds + 1):
        verdicts += measure(number, pairs)
    findings = localise_quick([v for v in verdicts if v.round <= rounds])
    findings += cable_findings(inv, verdicts, rounds + 1)
    elapsed = time.perf_counter() - start
    assert [(f.kind, f.node, f.rail) for f in findings] == [("hca", bad, rail)], findings
    return rounds, jobs, elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128, 1024])
    p.add_argument("--full-scripts-max", type=int, default=128)
    args = p.parse_args()
    rows, quick_times, full_times, full_sizes = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"inv{n}.yaml"
            path.write_text(dump_inventory(generate_inventory(n, 1)))
            inv = load_inventory(path).inventory
            bad = inv.compute[n // 2].hostname  # in round 1: re-paired once (2 rounds)
            if not rows:
                quick_admin(inv, bad, inv.rails[3].name)  # warm up: templates load once
            rounds_q, jobs_q, t_q = quick_admin(inv, bad, inv.rails[3].name)
            full = schedule_for(inv)
            rounds_f = len(full["ib_write_bw"]["rounds"])
            jobs_f = len(full["nccl"]) + rounds_f
            t_f = None
            if n <= args.full_scripts_max:
                start = time.perf_counter()
                suite_jobs(inv, full, SUITES, "/work/run")
                t_f = time.perf_counter() - start
                full_times.append(t_f)
                full_sizes.append(n)
            quick_times.append(t_q)
            fabric = trees(inv)
            topo = len(topology_rounds(fabric[0])) if fabric else 0
            rows.append((n, rounds_q, topo, jobs_q, t_q, rounds_f, jobs_f, t_f))
    print(
        f"{'N':>5}  {'quick rounds':>12}  {'+ topology':>10}  {'quick jobs':>10}  "
        f"{'quick admin s':>13}  {'full rounds':>11}  {'full jobs':>9}  {'full scripts s':>14}"
    )
    for n, rq, topo, jq, tq, rf, jf, tf in rows:
        shown = f"{tf:.2f}" if tf is not None else "not run"
        print(
            f"{n:>5}  {rq:>12}  {topo:>10}  {jq:>10}  {tq:>13.2f}  {rf:>11}  {jf:>9}  {shown:>14}"
        )
    if len(rows) > 1:
        print(f"quick admin-side time ~ N^{exponent(args.sizes, quick_times):.2f}")
    if len(full_sizes) > 1:
        print(
            f"full scripts time ~ N^{exponent(full_sizes, full_times):.2f} "
            f"(N = {', '.join(map(str, full_sizes))})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
