"""Did a GPU report an XID in the window? Critical XIDs fail, the others warn.

Facts: XID events from the node's kernel log (`trainbed.parse.dmesg`, the journal's kernel
messages already limited to the window by the reader) and the node's GPUs (bus ID → index, from
`nvidia-smi`). The critical list follows the XIDs NVIDIA's XID catalogue and the public health
suites (Azure HPC, DeepOps NHC, GCM) treat as "reset or replace": DBE/row-remap/contained and
uncontained memory errors, fallen off the bus, NVLink, GSP and PMU failures.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from trainbed.parse.dmesg import XidEvent
from trainbed.verdicts import Findings, gpu_name, mismatch

#: XIDs that take a GPU (and the job on it) down: a node showing one fails its check.
CRITICAL_XIDS: tuple[int, ...] = (
    48, 56, 57, 58, 62, 63, 64, 65, 68, 69, 73, 74, 79, 80, 81, 92, 94, 95, 119, 120,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Seen:
    count: int
    first: XidEvent
    last: XidEvent


def _group(events: Iterable[XidEvent]) -> dict[tuple[str, int], _Seen]:
    seen: dict[tuple[str, int], _Seen] = {}
    for event in events:
        if event.kind != "xid":
            continue
        key = (event.bus_id, event.code)
        before = seen.get(key)
        seen[key] = (
            _Seen(before.count + 1, before.first, event) if before else _Seen(1, event, event)
        )
    return seen


def problems(
    node: str,
    events: Iterable[XidEvent],
    gpus: Mapping[str, int],
    critical: Collection[int] = CRITICAL_XIDS,
    window_hours: float = 24,
) -> Findings:
    """One line per GPU and XID code seen in the window: a failure when the code is critical,
    else a warning.

    `gpus` maps nvidia-smi bus IDs to GPU indices; an event on a bus ID no GPU has (it fell off
    the bus, the driver renumbered) names the bus ID alone. Repeats of one code on one GPU are
    one line with their count and the last time; the message is the first one's (the driver
    continues a message on lines of its own).
    `gpu01 GPU 3 (00000000:9B:00.0) XID: expected no critical XID in 24 h, got XID 79 at
    2026-12-01T10:02:03+00:00 (GPU has fallen off the bus.)`.
    """
    failures: list[str] = []
    warnings: list[str] = []
    hours = f"{window_hours:g} h"
    for (bus_id, code), seen in _group(events).items():
        index = gpus.get(bus_id)
        gpu = gpu_name(index, bus_id) if index is not None else f"GPU at {bus_id}"
        times = f" ×{seen.count}, last" if seen.count > 1 else ""
        when = seen.last.time or seen.last.stamp or "unknown time"
        got = f"XID {code}{times} at {when} ({seen.first.message})"
        if code in critical:
            failures.append(mismatch(f"{node} {gpu} XID", f"no critical XID in {hours}", got))
        else:
            warnings.append(mismatch(f"{node} {gpu} XID", f"no XID in {hours}", got))
    return Findings(tuple(failures), tuple(warnings))
