"""Do a node's GPUs copy at their bars? (`nvbandwidth`, parsed by `trainbed.parse.nvbandwidth`.)

Host to device (copy engine, over each GPU's PCIe link) at least `h2d_gbps` per GPU, device to
device (over NVLink) at least `d2d_gbps` per GPU pair: Azure's H100 bars are 48 and 335 GB/s. A
testcase that did not run (missing) or stopped with an error fails; a waived one (the node
cannot run it) warns.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainbed.parse.nvbandwidth import NvbandwidthRun, Testcase
from trainbed.verdicts import Findings, mismatch

HOST_TO_DEVICE = "host_to_device_memcpy_ce"
#: Device-to-device copies, the peer read and the peer write.
DEVICE_TO_DEVICE = ("device_to_device_memcpy_read_ce", "device_to_device_memcpy_write_ce")
#: The testcases judged, as `nvbandwidth -t` names them.
TESTCASES = (HOST_TO_DEVICE, *DEVICE_TO_DEVICE)


@dataclass(frozen=True, slots=True)
class Bars:
    h2d_gbps: float = 48
    d2d_gbps: float = 335


#: Below this many slow cells each is named; above, how many and the slowest.
NAMED_CELLS = 4


def _low_cells(case: Testcase, bar: float) -> str | None:
    """The cells under `bar`: each named (`GPU 0→3 180.2`), or, when many are, how many of
    how many and the slowest one (a whole node below the bar)."""
    low: list[tuple[float, str]] = []
    for i, row in enumerate(case.values):
        for j, value in enumerate(row):
            if value is None or (case.device_to_device and i == j) or value >= bar:
                continue
            column = case.columns[j] if j < len(case.columns) else str(j)
            if case.device_to_device:
                source = case.rows[i] if i < len(case.rows) else str(i)
                low.append((value, f"GPU {source}→{column} {value:g}"))
            else:
                low.append((value, f"GPU {column} {value:g}"))
    if len(low) <= NAMED_CELLS:
        return ", ".join(text for _, text in low) or None
    slowest = min(low)[1]
    return f"{len(low)} of {len(case.measured)} below, slowest {slowest}"


def problems(node: str, run: NvbandwidthRun, bars: Bars = Bars()) -> Findings:
    """`gpu01 nvbandwidth host_to_device_memcpy_ce: expected >= 48 GB/s per GPU, got GPU 3
    24.1`; `gpu01 nvbandwidth device_to_device_memcpy_read_ce: expected >= 335 GB/s per GPU
    pair, got GPU 0→3 180.2, GPU 3→0 179.9`."""
    failures: list[str] = []
    warnings: list[str] = []
    judged = [(HOST_TO_DEVICE, bars.h2d_gbps, "GPU")]
    judged += [(name, bars.d2d_gbps, "GPU pair") for name in DEVICE_TO_DEVICE]
    for name, bar, per in judged:
        what = f"{node} nvbandwidth {name}"
        case = run.testcase(name)
        if case is None:
            failures.append(mismatch(what, "a result", "not in nvbandwidth's output"))
            continue
        if case.status == "waived":
            warnings.append(mismatch(what, "a result", f"waived ({case.message or 'no reason'})"))
            continue
        if case.status != "ok" or not case.measured:
            failures.append(
                mismatch(what, "a result", f"{case.status} ({case.message or 'no values'})")
            )
            continue
        low = _low_cells(case, bar)
        if low:
            failures.append(mismatch(what, f">= {bar:g} GB/s per {per}", low))
    return Findings(tuple(failures), tuple(warnings))
