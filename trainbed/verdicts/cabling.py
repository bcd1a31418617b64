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

Switch neighbours (below): where the inventory gives an HCA's leaf port, the switch port its
cable ends at, from the rail's ``ibnetdiscover -p``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trainbed.inventory.model import Hca, Inventory, Rail
from trainbed.parse.ibnetdiscover import IbPortLine
from trainbed.verdicts import NotRun

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


# ----------------------------------------------------------------------- switch neighbours
#
# Where the inventory gives an HCA's leaf port, the port at the other end of its cable is read
# from the rail's fabric: ``ibnetdiscover -p`` from one port on the rail (a subnet manager host's:
# one sweep per rail, not one per node, which at 4,096 nodes would be 32,768 sweeps of the whole
# fabric). Each CA line names the switch port its cable ends at and that switch's node
# description, which must be the switch's inventory name.


@dataclass(frozen=True, slots=True)
class Neighbour:
    """The switch port at the other end of an HCA port's cable."""

    switch: str
    port: int


def neighbours(ports: Iterable[IbPortLine]) -> dict[str, Neighbour]:
    """CA port GUID (normalised) → the switch port its cable ends at, from ``ibnetdiscover -p``
    lines; CA ports cabled to something else (a CA back to back, a router) are left out."""
    out: dict[str, Neighbour] = {}
    for line in ports:
        if line.node_type == "CA" and line.peer_type == "SW" and line.peer_port is not None:
            out[normalise(line.guid)] = Neighbour(
                (line.peer_description or "").strip(), line.peer_port
            )
    return out


def sweepers(inventory: Inventory) -> dict[str, tuple[str, Hca]]:
    """rail → (host, HCA) its sweep runs from: the first subnet manager host with a port on it,
    for the rails where the inventory gives some HCA's switch port (else nothing is swept)."""
    wanted = {h.rail for n in inventory.nodes for h in n.hcas if h.switch_port is not None}
    out: dict[str, tuple[str, Hca]] = {}
    for rail in inventory.rails:
        if rail.name not in wanted:
            continue
        for sm in rail.subnet_managers:
            hca = next(
                (h for h in inventory.subnet_manager_hcas.get(sm.host, ()) if h.rail == rail.name),
                None,
            )
            if hca is not None:
                out[rail.name] = (sm.host, hca)
                break
    return out


def switch_problems(
    host: str, hca: Hca, leaf: str, seen: Mapping[str, Neighbour], sweep: str
) -> list[str] | NotRun:
    """``gpu02 mlx5_3 is cabled to rail0-leaf1 port 7, the inventory says rail0-leaf0 port 3``
    (`sweep`, where the rail's sweep was read from, closes it); empty when the HCA's cable ends
    at the inventory's leaf and port. `leaf` is the inventory's (the HCA's own or its rail's
    switch), `seen` the rail's sweep (:func:`neighbours`). Nothing is judged without both the
    HCA's ``switch_port`` and ``port_guid``. A port the sweep does not list could not be judged
    (not a pass): it is down or on another rail's fabric, which the port and master-SM verdicts
    name, once."""
    if hca.switch_port is None or not hca.port_guid:
        return []
    guid = normalise(hca.port_guid)
    found = seen.get(guid)
    if found is None:
        return NotRun(
            f"{host} {hca.device} switch neighbour",
            f"port GUID {guid} is not in {sweep} (the port is down or on another rail's fabric)",
        )
    if found == Neighbour(leaf, hca.switch_port):
        return []
    return [
        f"{host} {hca.device} is cabled to {found.switch} port {found.port}, the inventory says "
        f"{leaf} port {hca.switch_port} ({sweep})"
    ]
