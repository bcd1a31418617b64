"""Is a GPU slowed down by its hardware? Active HW slowdown, thermal or power-brake clock-event
reasons warn, naming the GPU (facts from `nvidia-smi -q`'s Clocks Event Reasons).

They are warnings, not failures: a GPU under load may be throttled for a moment, but a node idle
at acceptance with HW Slowdown or Power Brake active has a power-supply, cooling or baseboard
problem that slows every job on it. Idle, application-clock, SW power cap and sync-boost
reasons are normal operation.
"""

from __future__ import annotations

from trainbed.parse.nvidia_smi import GpuInfo
from trainbed.verdicts import Findings, gpu_name, mismatch

#: The reasons that mean the hardware (not the software policy) cut the clocks.
SLOWDOWN_REASONS = (
    "HW Slowdown",
    "HW Thermal Slowdown",
    "HW Power Brake Slowdown",
    "SW Thermal Slowdown",
)


def problems(node: str, gpu: GpuInfo) -> Findings:
    """A warning when any slowdown reason is active:
    `gpu01 GPU 0 (00000000:19:00.0) clock event reasons: expected no HW slowdown, thermal or
    power brake active, got HW Slowdown, HW Power Brake Slowdown`."""
    active = [r for r in gpu.active_clock_event_reasons if r in SLOWDOWN_REASONS]
    if not active:
        return Findings()
    what = f"{node} {gpu_name(gpu.index, gpu.bus_id)} clock event reasons"
    return Findings(
        warnings=(
            mismatch(what, "no HW slowdown, thermal or power brake active", ", ".join(active)),
        )
    )
