"""Parser for ``ibnetdiscover -p`` (ports report: one line per switch or CA port).

Never raises: lines that are not a port line are ignored. Only the ``-p`` form is read; the
default topology-file form (``Switch 36 "S-..."`` blocks) has no real sample in the fixture
set. The real sample is a selection of lines, not a whole fabric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_END = r"(?P<{p}type>CA|SW|RT)\s+(?P<{p}lid>\d{{1,9}})\s+(?P<{p}port>\d{{1,4}})\s+(?P<{p}guid>0x[0-9a-fA-F]{{1,16}})"
_LINE = re.compile(
    "^"
    + _END.format(p="")
    + r"\s+(?P<width>\d{1,2}x|\?\?\?)\s+(?P<speed>\S+)"
    + r"(?:\s+-\s+"
    + _END.format(p="peer_")
    + r"\s+\(\s*'(?P<desc>[^']*)'\s+-\s+'(?P<peer_desc>[^']*)'\s*\)"
    + r"|\s+'(?P<lone_desc>[^']*)')?\s*$"
)


@dataclass(frozen=True)
class IbPortLine:
    """One port. ``width``/``speed`` as printed (``4x``, ``EDR``; ``???`` when unknown).
    An unconnected port has no peer (``peer_type`` etc. ``None``)."""

    node_type: str
    lid: int
    port: int
    guid: str
    width: str
    speed: str
    description: str | None = None
    peer_type: str | None = None
    peer_lid: int | None = None
    peer_port: int | None = None
    peer_guid: str | None = None
    peer_description: str | None = None

    @property
    def connected(self) -> bool:
        """Whether the line names a port at the other end of the cable."""
        return self.peer_guid is not None


def parse_ibnetdiscover_ports(text: str) -> list[IbPortLine]:
    """Port lines in output order."""
    out: list[IbPortLine] = []
    for raw in text.splitlines():
        m = _LINE.match(raw.strip())
        if not m:
            continue
        peer = m["peer_guid"] is not None
        out.append(
            IbPortLine(
                node_type=m["type"],
                lid=int(m["lid"]),
                port=int(m["port"]),
                guid=m["guid"],
                width=m["width"],
                speed=m["speed"],
                description=m["desc"] if peer else m["lone_desc"],
                peer_type=m["peer_type"],
                peer_lid=int(m["peer_lid"]) if peer else None,
                peer_port=int(m["peer_port"]) if peer else None,
                peer_guid=m["peer_guid"],
                peer_description=m["peer_desc"],
            )
        )
    return out
