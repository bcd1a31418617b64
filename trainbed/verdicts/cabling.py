"""Cabling: is each HCA's port on the fabric of the rail the inventory gives it?

Every rail is its own InfiniBand subnet with its own master subnet manager. The master a port
sees (``sminfo -C DEV -P PORT``: ``sm lid L sm guid G, ... SMINFO_MASTER``) names the fabric it
is cabled to: when G is the port GUID the inventory gives a subnet manager host's HCA on rail4,
the port is on rail4's fabric, whatever rail the inventory says. A miscabled HCA passes every
port check (Active, full rate) and fails only with partners of its inventory rail, so it must be
reported as cabling, not as a slow or dead HCA: one verdict for the acceptance check and the
probe's localisation.

The inventory must give the port GUIDs of the subnet manager hosts' HCAs; without them (an SM on
a switch, GUIDs not recorded) the rail of a master cannot be told and nothing is judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trainbed.inventory.model import Hca, Rail

_MASTER = re.compile(r"\bsm guid (0x[0-9a-fA-F]+),.*\bSMINFO_MASTER\b")


def master_guid(sminfo_stdout: str) -> str | None:
    """The master subnet manager's port GUID (``0x`` and 16 hex digits) from ``sminfo``'s
    answer, None when it names no master."""
    match = _MASTER.search(sminfo_stdout or "")
    return normalise(match.group(1)) if match else None


def normalise(guid: str) -> str:
    """``0x2c903000d81f9`` → ``0x0002c903000d81f9`` (sminfo drops leading zeros)."""
    return f"0x{int(guid, 16):016x}"


def sm_rails(rails: Iterable[Rail], hcas: Mapping[str, Iterable[Hca]]) -> dict[str, str]:
    """Master candidates: port GUID of each subnet manager host's HCA on a rail → that rail,
    for the HCAs whose port GUID is given (`hcas`: host → its HCAs, as the inventory has them)."""
    out: dict[str, str] = {}
    for rail in rails:
        for sm in rail.subnet_managers:
            for hca in hcas.get(sm.host, ()):
                if hca.rail == rail.name and hca.port_guid:
                    out[normalise(hca.port_guid)] = rail.name
    return out


@dataclass(frozen=True, slots=True)
class Seen:
    """What one HCA's port saw: its inventory rail and the master SM answering through it."""

    host: str
    device: str
    rail: str
    master: str | None


def fabric_rail(seen: Seen, candidates: Mapping[str, str]) -> str | None:
    """The rail whose fabric the port is on, None when its master is unknown or absent."""
    return candidates.get(seen.master) if seen.master else None


def problems(seen: Seen, candidates: Mapping[str, str]) -> list[str]:
    """``gpu02 mlx5_3 is on rail4's fabric (master SM 0x...), the inventory says rail3``; empty
    when the port is on its own rail's fabric or nothing can be judged (no master answering:
    the subnet manager check says so; no known GUID for the rail's masters)."""
    if seen.master is None:
        return []
    own = {g for g, r in candidates.items() if r == seen.rail}
    on = fabric_rail(seen, candidates)
    if on == seen.rail:
        return []
    where = f"{seen.host} {seen.device}"
    if on is not None:
        return [
            f"{where} is on {on}'s fabric (master SM {seen.master}), the inventory says {seen.rail}"
        ]
    if not own:
        return []
    return [
        f"{where} sees master SM {seen.master}, none of {seen.rail}'s "
        f"({', '.join(sorted(own))}): not on {seen.rail}'s fabric"
    ]
