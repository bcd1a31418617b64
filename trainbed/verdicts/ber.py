"""Is an InfiniBand link's bit error rate within NDR bounds? (`mlxlink` effective, i.e. post-FEC,
physical BER, parsed by `trainbed.parse.mlxlink`.)

The bounds are UFM telemetry's for NDR: 1e-12 is normal, from 5e-12 the link warns, from 1e-11
it fails. No real `mlxlink` output is in the fixture set (its parser says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from trainbed.parse.mlxlink import MlxlinkInfo
from trainbed.verdicts import Findings, mismatch


@dataclass(frozen=True, slots=True)
class Bounds:
    warn: float = 5e-12
    error: float = 1e-11


def problems(node: str, device: str, info: MlxlinkInfo, bounds: Bounds = Bounds()) -> Findings:
    """`gpu01 mlx5_3 effective BER: expected < 1e-11, got 2e-11` (a failure), or the same against
    the warning bound; a reading without an effective BER is a failure (the link is not up or the
    output is not mlxlink's)."""
    what = f"{node} {device} effective BER"
    ber = info.effective_ber
    if ber is None:
        return Findings((mismatch(what, "a reading", "none in mlxlink's output"),))
    if ber >= bounds.error:
        return Findings((mismatch(what, f"< {bounds.error:g}", f"{ber:g}"),))
    if ber >= bounds.warn:
        return Findings(warnings=(mismatch(what, f"< {bounds.warn:g}", f"{ber:g}"),))
    return Findings()
