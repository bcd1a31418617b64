"""Parser for `chronyc tracking` (chrony 4.x): the time source the daemon follows, and how far
the system clock is from it.

Never raises: a field that is missing or unreadable is None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REFERENCE = re.compile(r"^(?P<id>[0-9A-Fa-f]{8})\s*\((?P<name>[^)]*)\)")
# "0.000000833 seconds fast of NTP time" / "... slow of NTP time"
_SYSTEM_TIME = re.compile(r"^(?P<value>[-+]?\d+(?:\.\d+)?) seconds (?P<way>fast|slow) of NTP time")


@dataclass(frozen=True, slots=True)
class Tracking:
    """`reference_id` as printed (`7F000001`; `00000000` when there is no source),
    `offset_s` the system clock's offset (positive: fast of NTP time), `leap_status`
    (`Normal`, `Insert second`, `Delete second`, `Not synchronised`)."""

    reference_id: str | None = None
    reference_name: str | None = None
    stratum: int | None = None
    offset_s: float | None = None
    leap_status: str | None = None

    @property
    def has_source(self) -> bool:
        return self.reference_id is not None and int(self.reference_id, 16) != 0


def parse_tracking(text: str) -> Tracking:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    reference = _REFERENCE.match(fields.get("Reference ID", ""))
    system = _SYSTEM_TIME.match(fields.get("System time", ""))
    stratum = fields.get("Stratum", "")
    offset = None
    if system:
        offset = float(system["value"]) * (1 if system["way"] == "fast" else -1)
    return Tracking(
        reference_id=reference["id"].upper() if reference else None,
        reference_name=reference["name"] if reference else None,
        stratum=int(stratum) if stratum.isdigit() else None,
        offset_s=offset,
        leap_status=fields.get("Leap status") or None,
    )
