"""Parser for ``ibstat`` output (infiniband-diags): one block per channel adapter (CA).

Never raises: lines that are not ``Key: value`` under a ``CA '<name>'`` block are ignored,
missing fields are ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CA = re.compile(r"^CA\s+'(?P<name>[^']*)'\s*$")
_PORT = re.compile(r"^\s*Port\s+(?P<num>\d+)\s*:\s*$")
_KEY_VALUE = re.compile(r"^\s*(?P<key>[^:]+?)\s*:\s*(?P<value>.*?)\s*$")


@dataclass(frozen=True)
class IbPort:
    """One port of a CA. ``rate`` is in Gb/s (``None`` if absent or not a whole number)."""

    number: int
    state: str | None = None
    physical_state: str | None = None
    rate: int | None = None
    base_lid: int | None = None
    lmc: int | None = None
    sm_lid: int | None = None
    capability_mask: str | None = None
    port_guid: str | None = None
    link_layer: str | None = None


@dataclass(frozen=True)
class CaInfo:
    """One ``CA '<name>'`` block. GUIDs are kept as printed (``0x58a2e10300a7820e``)."""

    name: str
    ca_type: str | None = None
    num_ports: int | None = None
    firmware_version: str | None = None
    hardware_version: str | None = None
    node_guid: str | None = None
    system_image_guid: str | None = None
    ports: tuple[IbPort, ...] = ()


_PORT_KEYS = {
    "State": "state",
    "Physical state": "physical_state",
    "Capability mask": "capability_mask",
    "Port GUID": "port_guid",
    "Link layer": "link_layer",
}
_PORT_INT_KEYS = {"Rate": "rate", "Base lid": "base_lid", "LMC": "lmc", "SM lid": "sm_lid"}


def _int(value: str) -> int | None:
    return int(value) if re.fullmatch(r"\d+", value) else None


def _build_ca(name: str, fields: dict[str, str], ports: list[dict[str, object]]) -> CaInfo:
    return CaInfo(
        name=name,
        ca_type=fields.get("CA type"),
        num_ports=_int(fields.get("Number of ports", "")),
        firmware_version=fields.get("Firmware version"),
        hardware_version=fields.get("Hardware version"),
        node_guid=fields.get("Node GUID"),
        system_image_guid=fields.get("System image GUID"),
        ports=tuple(IbPort(**p) for p in ports),  # type: ignore[arg-type]
    )


def parse_ibstat(text: str) -> list[CaInfo]:
    """CAs in output order, each with its ports.

    Indentation is tabs in real output and spaces in some copies; both work, because a port
    is whatever follows a ``Port N:`` line until the next port or CA.
    """
    cas: list[CaInfo] = []
    name: str | None = None
    fields: dict[str, str] = {}
    ports: list[dict[str, object]] = []
    for line in text.splitlines():
        ca = _CA.match(line)
        if ca:
            if name is not None:
                cas.append(_build_ca(name, fields, ports))
            name, fields, ports = ca["name"], {}, []
            continue
        if name is None:
            continue
        port = _PORT.match(line)
        if port:
            ports.append({"number": int(port["num"])})
            continue
        kv = _KEY_VALUE.match(line)
        if not kv:
            continue
        key, value = kv["key"], kv["value"]
        if ports and key in _PORT_KEYS:
            ports[-1][_PORT_KEYS[key]] = value
        elif ports and key in _PORT_INT_KEYS:
            ports[-1][_PORT_INT_KEYS[key]] = _int(value)
        elif not ports:
            fields.setdefault(key, value)
    if name is not None:
        cas.append(_build_ca(name, fields, ports))
    return cas
