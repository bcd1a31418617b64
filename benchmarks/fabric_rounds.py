"""ib_write_bw rounds and Slurm jobs, quick against full mode, and the admin side of a simulated run.

    PYTHONPATH=. python3 benchmarks/fabric_rounds.py [--sizes 8 32 128 1024] [--full-max 128]

For each size a generated inventory (``trainbed init``'s layout, network configuration 1: 8 rails)
gives the plans. Rounds and jobs: quick mode's rounds for one bad HCA, the topology rounds that
follow them (leaf–spine cables; none with one switch a rail), and full mode's plan (N−1 or N
rounds). Jobs count the NCCL runs (quick: single- and two-node) and every ib_write_bw round.

Admin-side time of a simulated run, no cluster, one HCA 25 % slow: every job script rendered
(``scripts``: the NCCL and ib_write_bw jobs); each ib_write_bw job's archive, packed beforehand
as its batch script would from a real ib_write_bw client output (tests/fixtures/real) with its
figure rewritten, fetched from an in-memory submit host and unpacked by the run's own ``fetch``
(``fetch``); parsed, judged and localised by ``evaluate`` (``judge``; the NCCL suite is not
judged: it has no fake output here); the reports written (``report``: results.json, report.md,
junit.xml, every heatmap, report.html). Quick mode's rounds are those a run takes (re-pairing
from the verdicts, then the topology rounds); full mode runs up to ``--full-max`` nodes (at 1,024
nodes it is 4.2 M measurements). Each simulated run must name exactly the bad HCA. The exponent
is the slope of a least-squares fit of log(time) on log(N).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainbed.html_report import write_html
from trainbed.inventory import load_inventory
from trainbed.inventory.generate import dump_inventory, generate_inventory
from trainbed.inventory.model import Inventory
from trainbed.probes.evaluate import evaluate, hca_on_rail, schedule_for
from trainbed.probes.jobs import Job
from trainbed.probes.judge import IbVerdict
from trainbed.probes.matching import run_rounds
from trainbed.probes.quick import leaves, quick_schedule
from trainbed.probes.report import write_reports
from trainbed.probes.run import fetch
from trainbed.probes.scripts import JobSpec, suite_jobs
from trainbed.probes.topology import topology_rounds, trees
from trainbed.remote import Completed

ROOT = Path(__file__).resolve().parents[1]
SUITES = ("nccl", "ib_write_bw")
RUNDIR = "/work/run"
#: A real ib_write_bw client output (tests/fixtures/real/SOURCES.md); its figure is rewritten.
CLIENT = ROOT / "tests/fixtures/real/perftest_ib_write_bw_client_gbits_roce100g_cpufreq_warning.txt"
STEPS = ("scripts", "fetch", "judge", "report")
SLOW, GOOD = 300.0, 392.0


def exponent(sizes: Sequence[int], times: Sequence[float]) -> float:
    xs, ys = [math.log(n) for n in sizes], [math.log(max(t, 1e-9)) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def client_output(gbps: float, device: str | None) -> str:
    text = CLIENT.read_text(encoding="utf-8")
    text = text.replace("Device         : mlx5_0", f"Device         : {device}")
    text = text.replace("Link type       : Ethernet", "Link type       : IB")
    return text.replace("92.42              92.40", f"{gbps + 0.3:.2f}              {gbps:.2f}")


class Store:
    """A submit host holding the jobs' archives in memory: all the run's ``fetch`` reads."""

    host = "simulated"

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def run(self, command: str, *args: object, timeout: float = 60.0) -> Completed:
        return Completed(command, 127, "", "not a shell")

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        self.blobs[path] = text.encode()

    def read_text(self, path: str) -> str | None:
        data = self.blobs.get(path)
        return None if data is None else data.decode()

    def read_bytes(self, path: str) -> bytes | None:
        return self.blobs.get(path)

    def close(self) -> None:
        pass


def pack(members: Mapping[str, str]) -> bytes:
    """What a job's exit trap leaves: its outputs as one gzip tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def quick_plan(inv: Inventory, bad: str, rail: str) -> tuple[dict[str, Any], int, int]:
    """The schedule a quick run with ``bad``'s HCA slow on ``rail`` takes, its quick rounds and
    the number of its first topology round."""
    nodes = [n.hostname for n in inv.compute]
    rails = [r.name for r in inv.rails]
    rounds: list[list[list[str]]] = []

    def measure(number: int, pairs: list[tuple[str, str]]) -> list[IbVerdict]:
        rounds.append([list(p) for p in pairs])
        return [
            IbVerdict(number, a, b, r, "mlx5_0", "mlx5_0", g, 360.0, g >= 360.0)
            for a, b in pairs
            for r in rails
            for g in [SLOW if bad in (a, b) and r == rail else GOOD]
        ]

    run_rounds(nodes, rails, measure, leaves(inv))
    quick = len(rounds)
    fabric = trees(inv)
    rounds += [[list(p) for p in rnd] for rnd in (topology_rounds(fabric[0]) if fabric else [])]
    plan = {"ib_write_bw": {"rails": rails, "rounds": rounds}, "nccl": quick_schedule(inv)["nccl"]}
    return plan, quick, quick + 1


def simulate(
    inv: Inventory, schedule: dict[str, Any], bad: str, rail: str, topology_from: int | None
) -> tuple[dict[str, float], int, int]:
    """Seconds per admin-side step of one simulated run; its Slurm jobs and measurements."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    specs = suite_jobs(inv, schedule, SUITES, RUNDIR)
    seconds["scripts"] = time.perf_counter() - start
    store = Store()
    ib_specs: list[JobSpec] = [s for s in specs if s.suite == "ib_write_bw"]
    jobs = []
    for k, spec in enumerate(ib_specs):
        members = {spec.log.removeprefix(RUNDIR + "/"): ""}
        for f in spec.ib_files:
            g = SLOW if bad in (f.node_a, f.node_b) and f.rail == rail else GOOD
            text = client_output(g, hca_on_rail(inv, f.node_b, f.rail))
            members[f.client.removeprefix(RUNDIR + "/")] = text
        assert spec.archive is not None
        store.blobs[spec.archive] = pack(members)
        jobs.append(Job(str(1000 + k), spec.run_name, spec.suite, spec.nodes, "COMPLETED"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        fetched = fetch(store, inv, RUNDIR, ib_specs, jobs, out / "raw")
        seconds["fetch"] = time.perf_counter() - start
        start = time.perf_counter()
        results = evaluate(
            inv,
            started="2026-12-01T10:00:00+00:00",
            finished="2026-12-01T10:30:00+00:00",
            ib_outputs=fetched.ib,
            jobs=fetched.jobs,
            suites=("ib_write_bw",),
            schedule=schedule,
            quick=topology_from is not None,
            topology_from=topology_from,
        )
        seconds["judge"] = time.perf_counter() - start
        start = time.perf_counter()
        write_reports(results, out)
        write_html(out, results, None, out)
        seconds["report"] = time.perf_counter() - start
    named = [(f["kind"], f["node"], f["rail"]) for f in results["findings"]]
    assert named == [("hca", bad, rail)], named
    return seconds, len(specs), len(results["ib_write_bw"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128, 1024])
    p.add_argument("--full-max", type=int, default=128, help="largest N of the full-mode run")
    args = p.parse_args()
    plans, admin = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"inv{n}.yaml"
            path.write_text(dump_inventory(generate_inventory(n, 1)))
            inv = load_inventory(path).inventory
            bad, rail = inv.compute[n // 2].hostname, inv.rails[3].name
            quick, rounds_q, first_topology = quick_plan(inv, bad, rail)
            full = schedule_for(inv)
            rounds_f = len(full["ib_write_bw"]["rounds"])
            if not admin:  # warm up: templates, matplotlib, the schema load once
                simulate(inv, quick, bad, rail, first_topology)
            q_steps, q_jobs, q_measured = simulate(inv, quick, bad, rail, first_topology)
            admin.append(("quick", n, q_measured, q_steps))
            topo = len(quick["ib_write_bw"]["rounds"]) - rounds_q
            jobs_f = len(full["nccl"]) + rounds_f
            plans.append((n, rounds_q, topo, q_jobs, rounds_f, jobs_f))
            if n <= args.full_max:
                f_steps, f_jobs, f_measured = simulate(inv, full, bad, rail, None)
                assert f_jobs == jobs_f
                admin.append(("full", n, f_measured, f_steps))
    print(
        f"{'N':>5}  {'quick rounds':>12}  {'+ topology':>10}  {'quick jobs':>10}  "
        f"{'full rounds':>11}  {'full jobs':>9}"
    )
    for n, rq, topo, jq, rf, jf in plans:
        print(f"{n:>5}  {rq:>12}  {topo:>10}  {jq:>10}  {rf:>11}  {jf:>9}")
    print()
    print(
        f"{'mode':>5}  {'N':>5}  {'measurements':>12}  "
        + "  ".join(f"{s + ' s':>9}" for s in STEPS)
        + f"  {'total s':>8}  {'µs/meas.':>8}"
    )
    for mode, n, measured, steps in admin:
        total = sum(steps.values())
        print(
            f"{mode:>5}  {n:>5}  {measured:>12}  "
            + "  ".join(f"{steps[s]:>9.2f}" for s in STEPS)
            + f"  {total:>8.2f}  {1e6 * total / measured:>8.0f}"
        )
    for mode in ("quick", "full"):
        rows = [(n, sum(steps.values()), measured) for m, n, measured, steps in admin if m == mode]
        if len(rows) > 1:
            sizes = [r[0] for r in rows]
            fits = ", ".join(
                f"{s} N^{exponent(sizes, [st[s] for m, _, _, st in admin if m == mode]):.2f}"
                for s in STEPS
            )
            print(
                f"{mode} admin-side total ~ N^{exponent(sizes, [r[1] for r in rows]):.2f} "
                f"(N = {', '.join(map(str, sizes))}; {fits}); "
                f"per measurement ~ N^{exponent(sizes, [r[1] / r[2] for r in rows]):.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
