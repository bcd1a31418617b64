"""Helpers for the probe tests: inventories, and outputs synthesised in the real tools' formats.

The synthetic outputs copy the layout of real fixtures (`tests/fixtures/real/`): nccl-tests 2.17.9
text (as in `nccl_allreduce_single_node_8xH100_v2.17.9_peak369_no_nvls_together.txt`) and perftest
`--report_gbits` client output (as in `perftest_ib_write_bw_client_gbits_roce100g_cpufreq_warning.txt`).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lab.simhw.simload import sim_module
from trainbed.inventory import Inventory, load_inventory
from trainbed.inventory.generate import dump_inventory, generate_inventory
from trainbed.probes.evaluate import IbOutput, NcclOutput, evaluate, hca_on_rail, schedule_for
from trainbed.probes.jobs import Job
from trainbed.probes.judge import IbVerdict

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
REPO = Path(__file__).parents[2]
PROD_YAML = REPO / "inventory" / "prod.yaml"

NVLS_OFF = FIXTURES / "nccl_allreduce_single_node_8xH100_v2.17.9_peak369_no_nvls_together.txt"
NVLS_479 = (
    FIXTURES
    / "nccl_allreduce_srun_2tasks_nonmpi_interleaved_2x_single_node_8xH100_nvls479_together.txt"
)
WRONG_OOB = FIXTURES / "nccl_allreduce_v2.17.8_wrong_nonzero_oob_failed_gh200.txt"
OOB_ISSUE37 = FIXTURES / "nccl_allgather_old_format_error_column_oob_failed_issue37.txt"
DELL_469 = FIXTURES / "nccl_allreduce_2node_dell_xe9680_8xH100_8xCX7_ndr_mpi_noise.txt"
RING_392 = FIXTURES / "nccl_allreduce_2node_16xH100_ib400_ring_forced_issue309.txt"
GCP_338 = FIXTURES / "nccl_allreduce_2node_16xH100_gcp_a3mega.txt"
NO_FABRICMANAGER = (
    FIXTURES / "nccl_allreduce_cuda_system_not_initialized_no_fabricmanager_8xH100.txt"
)
CUDA_BUSY = FIXTURES / "nccl_allreduce_v2.17.8_cuda_busy_no_table_gh200.txt"
UNFINISHED = FIXTURES / "nccl_allreduce_2node_p5_H100_srun_prefixed.txt"
IB_ROCE_92 = FIXTURES / "perftest_ib_write_bw_client_gbits_roce100g_cpufreq_warning.txt"
IB_REFUSED = FIXTURES / "perftest_ib_write_bw_client_connect_refused_pr228.txt"
LAT_SPARK = FIXTURES / "perftest_ib_write_lat_client_rdma_cm_dgx_spark_cx7_2b_p99_1.57.txt"


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def inventory_for(tmp: Path, nodes: int, config: int) -> Inventory:
    """A valid generated inventory of ``nodes`` compute nodes in network configuration ``config``."""
    path = tmp / f"inv-{nodes}-{config}.yaml"
    path.write_text(dump_inventory(generate_inventory(nodes, config)))
    return load_inventory(path).inventory


def load_prod() -> Inventory:
    return load_inventory(PROD_YAML).inventory


def nccl_text(
    busbw: float, hosts: Sequence[str], gpus: int = 8, wrong: int = 0, finished: bool = True
) -> str:
    """all_reduce_perf output of ``len(hosts) × gpus`` ranks whose rows ≥ 1 GiB read ``busbw``."""
    lines = [
        "# nccl-tests version 2.17.9 nccl-headers=22602 nccl-library=22602",
        "# Collective test starting: all_reduce_perf",
        "# nThread 1 nGpus 1 minBytes 268435456 maxBytes 8589934592 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0",
        "#",
        "# Using devices",
    ]
    rank = 0
    for host in hosts:
        for device in range(gpus):
            lines.append(
                f"#  Rank {rank:2d} Group  0 Pid {1000 + rank:6d} on {host} device {device:2d} "
                "[0000:19:00] NVIDIA H100 80GB HBM3"
            )
            rank += 1
    lines += [
        "#",
        "#                                                              out-of-place                       in-place          ",
        "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong ",
        "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             (us)  (GB/s)  (GB/s)         ",
    ]
    for size, factor in (
        (1 << 28, 0.9),
        (1 << 30, 0.99),
        (1 << 31, 1.0),
        (1 << 32, 1.0),
        (1 << 33, 1.01),
    ):
        bus = busbw * factor
        alg = bus / 1.75
        time = size / (alg * 1e3)
        lines.append(
            f"{size:12d}  {size // 4:12d}     float     sum      -1  {time:7.1f}  {alg:6.2f}  {bus:6.2f}"
            f"  {wrong:6d}  {time:7.1f}  {alg:6.2f}  {bus:6.2f}  {0:6d}"
        )
    if finished:
        lines += [
            "# Out of bounds values : 0 OK",
            f"# Avg bus bandwidth    : {busbw * 0.8:.3f} ",
            "#",
            "# Collective test concluded: all_reduce_perf",
            "#",
        ]
    return "\n".join(lines) + "\n"


def ib_text(gbps: float, device: str = "mlx5_0") -> str:
    """ib_write_bw --report_gbits client output over InfiniBand averaging ``gbps``."""
    text = read(IB_ROCE_92)
    text = text.replace("Device         : mlx5_0", f"Device         : {device}")
    text = text.replace("Link type       : Ethernet", "Link type       : IB")
    return text.replace("92.42              92.40", f"{gbps + 0.3:.2f}              {gbps:.2f}")


def lat_text(p99_us: float, device: str = "mlx5_0") -> str:
    """ib_write_lat client output (the real DGX Spark one) whose 99th percentile is ``p99_us``."""
    text = read(LAT_SPARK).replace("Device         : rocep1s0f1", f"Device         : {device}")
    return text.replace("1.57                    1.93", f"{p99_us:.2f}                    1.93")


def ib_verdict(
    a: str, b: str, rail: str, gbps: float, threshold: float = 360.0, rnd: int = 1
) -> IbVerdict:
    passed = gbps >= threshold
    reason = None if passed else f"{gbps:.2f} Gb/s < {threshold:g} Gb/s"
    return IbVerdict(rnd, a, b, rail, f"hca-{rail}", f"hca-{rail}", gbps, threshold, passed, reason)


def suite_outputs(
    inventory: Inventory,
    *,
    ib_gbps: Callable[[str, str, str], float] = lambda a, b, rail: 396.0,
    single_busbw: Callable[[str], float] = lambda host: 478.0,
    multi_busbw: float = 391.0,
    lat_p99_us: Callable[[str, str, str], float] | None = None,
) -> tuple[list[NcclOutput], list[IbOutput]]:
    """Outputs for every run of ``inventory``'s schedule, each job a distinct id; ib_write_lat
    too when ``lat_p99_us`` gives its 99th percentile per pair and rail."""
    schedule = schedule_for(inventory)
    nccl = []
    for number, run in enumerate(schedule["nccl"], start=100):
        busbw = single_busbw(run["nodes"][0]) if run["kind"] == "single" else multi_busbw
        nccl.append(NcclOutput(run["name"], nccl_text(busbw, run["nodes"]), str(number)))
    ib = []
    for number, rnd in enumerate(schedule["ib_write_bw"]["rounds"], start=1):
        for a, b in rnd:
            for rail in schedule["ib_write_bw"]["rails"]:
                device = hca_on_rail(inventory, a, rail) or "mlx5_0"
                text = ib_text(ib_gbps(a, b, rail), device)
                lat = lat_text(lat_p99_us(a, b, rail), device) if lat_p99_us else None
                ib.append(IbOutput(a, b, rail, text, str(number), lat))
    return nccl, ib


def suite_jobs(nccl: Sequence[NcclOutput], ib: Sequence[IbOutput]) -> list[Job]:
    """A COMPLETED job per NCCL output and per ib_write_bw round."""
    jobs = [Job(o.job_id, o.name, "nccl", (), "COMPLETED", None, 42.0) for o in nccl]
    rounds = {o.job_id: {o.node_a, o.node_b} for o in ib}
    for o in ib:
        rounds[o.job_id] |= {o.node_a, o.node_b}
    jobs += [
        Job(jid, f"ib-round-{jid}", "ib_write_bw", tuple(sorted(hosts)), "COMPLETED", None, 30.0)
        for jid, hosts in rounds.items()
    ]
    return jobs


#: The run's start and end stamps in the evaluated documents of the tests.
STARTED, FINISHED = "2024-05-01T10:00:00+00:00", "2024-05-01T10:21:07+00:00"


def evaluate_suite(
    inv: Inventory, nccl: Sequence[NcclOutput], ib: Sequence[IbOutput], **extra: Any
) -> dict[str, Any]:
    """The results document of a finished run with these outputs (a COMPLETED job each);
    `extra` goes to `evaluate` (``ports=``, or other ``started``/``finished`` stamps)."""
    stamps = {"started": STARTED, "finished": FINISHED}
    return evaluate(
        inv, nccl_outputs=nccl, ib_outputs=ib, jobs=suite_jobs(nccl, ib), **(stamps | extra)
    )


def _nemo_sim():  # the simulated NeMo of the mock cluster's "container image"
    return sim_module("nemo_sim")


def sim_log(
    model: str = "llama2-7b",
    nodes: int = 2,
    *,
    hcas: int = 8,
    rate: int = 400,
    slowdown: float = 1.0,
    steps: int = 500,
) -> str:
    tp, pp = {"llama2-7b": (2, 1), "llama2-70b": (4, 4)}[model]
    lay = {
        "job": f"test-{model}-{nodes}-{hcas}-{slowdown}",
        "model": model,
        "nnodes": nodes,
        "world": nodes * 8,
        "tp": tp,
        "pp": pp,
        "global_batch": 144,
        "max_steps": steps,
    }
    state = {"hostname": "gpu01", "hcas": hcas, "rate_gbps": rate, "slowdown": slowdown}
    out = io.StringIO()
    nemo_sim = _nemo_sim()
    old = nemo_sim.STEP_WALL_S
    nemo_sim.STEP_WALL_S = 0.0
    try:
        with contextlib.redirect_stdout(out):
            nemo_sim.train(lay, [state] * nodes)
    finally:
        nemo_sim.STEP_WALL_S = old
    return out.getvalue()
