"""Is a GPU's memory healthy: no uncorrectable ECC error, no row remap pending or failed, no
retired page pending? (Facts from `nvidia-smi -q`, parsed by `trainbed.parse.nvidia_smi`.)

Volatile counters cover the time since the driver loaded, aggregate ones the GPU's life: an
uncorrectable error in either fails (NVIDIA's field guidance: a GPU with uncorrectable errors is
drained and reset, and replaced when they recur). A pending remap needs a GPU reset to take
effect; a remapping failure means the bank has no spare rows left (RMA).
"""

from __future__ import annotations

from trainbed.parse.nvidia_smi import GpuInfo
from trainbed.verdicts import Findings, gpu_name, mismatch

#: (label, EccCounts field) of the uncorrectable counters, in the order they are reported.
UNCORRECTABLE = (
    ("volatile DRAM", "volatile_dram_uncorrectable"),
    ("volatile SRAM", "volatile_sram_uncorrectable"),
    ("aggregate DRAM", "aggregate_dram_uncorrectable"),
    ("aggregate SRAM", "aggregate_sram_uncorrectable"),
)


def problems(node: str, gpu: GpuInfo) -> Findings:
    """Failures of one GPU, one line per fact: uncorrectable ECC errors (every non-zero counter
    on one line), remap pending, remap failure, retired page pending.

    `gpu01 GPU 3 (00000000:9B:00.0) uncorrectable ECC errors: expected 0, got volatile DRAM 1,
    aggregate DRAM 1`. Counters nvidia-smi prints as N/A are not judged.
    """
    what = f"{node} {gpu_name(gpu.index, gpu.bus_id)}"
    counts = gpu.ecc
    found: list[str] = []
    if counts is not None:
        nonzero = [
            f"{label} {value}"
            for label, name in UNCORRECTABLE
            if (value := getattr(counts, name)) is not None and value > 0
        ]
        if nonzero:
            found.append(mismatch(f"{what} uncorrectable ECC errors", 0, ", ".join(nonzero)))
    if gpu.remapped_rows_pending:
        found.append(
            mismatch(f"{what} row remapping", "none pending (reset applies it)", "pending")
        )
    if gpu.remapped_rows_failure:
        found.append(mismatch(f"{what} row remapping", "no failure", "failure occurred"))
    if gpu.retired_pages_pending:
        found.append(mismatch(f"{what} page retirement", "none pending", "pending"))
    return Findings(tuple(found))
