"""Is an HCA port up as the inventory says: Active/LinkUp, at the line rate and link layer, with
its port GUID? (Facts from `ibstat`, parsed by `trainbed.parse.ibstat`.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trainbed.parse.ibstat import CaInfo, IbPort
from trainbed.parse.ibv_devinfo import normalize_guid
from trainbed.verdicts import mismatch

#: ``State/Physical state`` of a port that carries traffic.
UP = "Active/LinkUp"


@dataclass(frozen=True, slots=True)
class Expected:
    """One port as the inventory gives it; None leaves that property unjudged."""

    device: str
    port: int = 1
    rate_gbps: int | None = None
    link_layer: str | None = None
    port_guid: str | None = None


def by_name(cas: Iterable[CaInfo]) -> dict[str, CaInfo]:
    """name → CA, as `ibstat` listed them."""
    return {ca.name: ca for ca in cas}


def find_port(cas: Mapping[str, CaInfo], device: str, number: int) -> IbPort | None:
    """The port `number` of CA `device`, or None when ibstat lists no such CA or port."""
    ca = cas.get(device)
    return next((p for p in ca.ports if p.number == number), None) if ca else None


def problems(node: str, want: Expected, cas: Mapping[str, CaInfo]) -> list[str]:
    """Every way the port differs from `want` (empty when healthy), one line each.

    `gpu01 mlx5_0 port 1 state: expected Active/LinkUp, got Down/Polling`; a port that is not
    listed is one problem (`... port 1: expected present, got absent from ibstat`).
    """
    what = f"{node} {want.device} port {want.port}"
    port = find_port(cas, want.device, want.port)
    if port is None:
        return [mismatch(what, "present", "absent from ibstat")]
    found: list[str] = []
    state = f"{port.state}/{port.physical_state}"
    if state != UP:
        found.append(mismatch(f"{what} state", UP, state))
    if want.rate_gbps and port.rate != want.rate_gbps:
        found.append(mismatch(f"{what} rate", f"{want.rate_gbps} Gb/s", f"{port.rate} Gb/s"))
    if want.link_layer and port.link_layer != want.link_layer:
        found.append(mismatch(f"{what} link layer", want.link_layer, port.link_layer))
    guid = normalize_guid(port.port_guid) if port.port_guid else None
    if want.port_guid and guid != normalize_guid(want.port_guid):
        found.append(mismatch(f"{what} port GUID", want.port_guid, guid))
    return found
