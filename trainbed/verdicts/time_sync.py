"""Is the node's clock kept? chronyd follows a time source, its leap status is Normal and the
system clock is within the inventory's bar of it (facts from `chronyc tracking`).

All failures: munge rejects credentials from a clock minutes off, and a node whose logs and
traces disagree with its peers' by seconds cannot be debugged with them.
"""

from __future__ import annotations

from trainbed.parse.chrony import Tracking
from trainbed.verdicts import Findings, findings, mismatch


def problems(node: str, tracking: Tracking, max_offset_s: float) -> Findings:
    """`gpu01 chrony leap status: expected Normal, got Not synchronised`,
    `gpu01 chrony reference: expected a time source, got none (00000000)`,
    `gpu01 chrony system clock offset: expected within 1 s, got +2.512 s`."""
    offset = tracking.offset_s
    return findings(
        [
            mismatch(f"{node} chrony leap status", "Normal", tracking.leap_status or "missing")
            if tracking.leap_status != "Normal"
            else None,
            mismatch(
                f"{node} chrony reference",
                "a time source",
                f"none ({tracking.reference_id or 'missing'})",
            )
            if not tracking.has_source
            else None,
            mismatch(
                f"{node} chrony system clock offset",
                f"within {max_offset_s:g} s",
                f"{offset:+.3f} s",
            )
            if offset is not None and abs(offset) > max_offset_s
            else None,
        ]
    )
