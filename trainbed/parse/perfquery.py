"""Parser for ``perfquery -x`` (extended port counters, infiniband-diags), and counter deltas.

Never raises: a port block starts at a ``# Port extended counters: Lid L port P ...`` line
(``# Port counters:`` without ``-x``); ``Name:.....value`` lines under it are its counters.
Lines that do not fit are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_HEADER = re.compile(
    r"^#\s*Port (?:extended )?counters:\s*Lid\s+(?P<lid>\d{1,9})\s+port\s+(?P<port>\d{1,9}|ALL)"
    r"(?:\s+\(CapMask:\s*(?P<capmask>0x[0-9A-Fa-f]+))?",
    re.IGNORECASE,
)
_COUNTER = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9]*):\.*(?P<value>\S+)\s*$")

# The counters whose growth means a bad link, cable or port (IBTA error counters).
ERROR_COUNTERS = (
    "SymbolErrorCounter",
    "LinkErrorRecoveryCounter",
    "LinkDownedCounter",
    "PortRcvErrors",
    "PortRcvRemotePhysicalErrors",
    "PortRcvSwitchRelayErrors",
    "PortXmitDiscards",
    "PortXmitConstraintErrors",
    "PortRcvConstraintErrors",
    "LocalLinkIntegrityErrors",
    "ExcessiveBufferOverrunErrors",
    "VL15Dropped",
)


@dataclass(frozen=True)
class PortCounters:
    """One port's counters by perfquery's names (``SymbolErrorCounter``, ``PortXmitData``,
    ...). Selector fields (``PortSelect``, ``CounterSelect`` ...) are left out; hex values
    are kept as ints."""

    lid: int
    port: int | None  # None for "port ALL"
    capability_mask: str | None = None
    counters: Mapping[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> dict[str, int]:
        """The error counters present in this reading."""
        return {n: self.counters[n] for n in ERROR_COUNTERS if n in self.counters}


def _value(token: str) -> int | None:
    try:
        return int(token, 16) if token.lower().startswith("0x") else int(token)
    except ValueError:
        return None


def parse_perfquery(text: str) -> list[PortCounters]:
    """Port blocks in output order."""
    ports: list[PortCounters] = []
    header: re.Match[str] | None = None
    counters: dict[str, int] = {}

    def close() -> None:
        if header is not None:
            port = header["port"]
            ports.append(
                PortCounters(
                    lid=int(header["lid"]),
                    port=int(port) if port.isdigit() else None,
                    capability_mask=header["capmask"],
                    counters=dict(counters),
                )
            )

    for raw in text.splitlines():
        line = raw.strip()
        m = _HEADER.match(line)
        if m:
            close()
            header, counters = m, {}
            continue
        c = _COUNTER.match(line)
        if header is None or c is None or "Select" in c["name"]:
            continue
        value = _value(c["value"])
        if value is not None:
            counters[c["name"]] = value
    close()
    return ports


def counter_delta(before: PortCounters, after: PortCounters) -> dict[str, int | None]:
    """Growth of every counter present in both readings of one port.

    A counter that went down was cleared or wrapped between the readings (the 32-bit and
    16-bit error counters saturate rather than wrap, the 64-bit data counters are cleared by
    ``perfquery -R``); its growth cannot be told and is ``None``.
    """
    out: dict[str, int | None] = {}
    for name, value in after.counters.items():
        if name in before.counters:
            grew = value - before.counters[name]
            out[name] = grew if grew >= 0 else None
    return out
