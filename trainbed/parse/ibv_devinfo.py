"""Parser for ``ibv_devinfo`` output (rdma-core): one block per HCA, ports nested inside.

Never raises: unknown keys go to ``extra``, missing ones are ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_KEY_VALUE = re.compile(r"^\s*(?P<key>[^:\s][^:]*?)\s*:\s*(?P<value>.*?)\s*$")
_ENUM = re.compile(r"^(?P<name>.*?)\s*\((?P<code>-?\d+)\)$")


def normalize_guid(guid: str) -> str:
    """``58a2:e103:001a:677e`` (ibv_devinfo) or ``0x58A2E103001A677E`` → ``0x58a2e103001a677e``.

    The ibstat form, so that the two tools' GUIDs compare equal. Unrecognised text is
    returned stripped and lower-cased.
    """
    text = guid.strip().lower()
    digits = text.removeprefix("0x").replace(":", "")
    if re.fullmatch(r"[0-9a-f]{1,16}", digits):
        return "0x" + digits.rjust(16, "0")
    return text


@dataclass(frozen=True)
class IbvPort:
    """One ``port:`` block. ``state`` drops the ``PORT_`` prefix and the code: ``ACTIVE``."""

    number: int
    state: str | None = None
    state_code: int | None = None
    max_mtu: int | None = None
    active_mtu: int | None = None
    sm_lid: int | None = None
    port_lid: int | None = None
    port_lmc: str | None = None
    link_layer: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IbvDevice:
    """One ``hca_id:`` block. ``board_id`` is the PSID (``DEL0000000036`` on Dell CX-7)."""

    hca_id: str
    transport: str | None = None
    fw_ver: str | None = None
    node_guid: str | None = None
    sys_image_guid: str | None = None
    vendor_id: str | None = None
    vendor_part_id: int | None = None
    hw_ver: str | None = None
    board_id: str | None = None
    phys_port_cnt: int | None = None
    ports: tuple[IbvPort, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.match(r"^\d+", value)
    return int(m.group(0)) if m else None


def _strip_enum(value: str | None) -> str | None:
    """``InfiniBand (0)`` → ``InfiniBand``."""
    if value is None:
        return None
    m = _ENUM.match(value)
    return m["name"] if m else value


def _port(number: int, fields: dict[str, str]) -> IbvPort:
    known = {"state", "max_mtu", "active_mtu", "sm_lid", "port_lid", "port_lmc", "link_layer"}
    raw_state = fields.get("state")
    state_match = _ENUM.match(raw_state) if raw_state else None
    state = state_match["name"] if state_match else raw_state
    return IbvPort(
        number=number,
        state=state.removeprefix("PORT_") if state else None,
        state_code=int(state_match["code"]) if state_match else None,
        max_mtu=_int(fields.get("max_mtu")),
        active_mtu=_int(fields.get("active_mtu")),
        sm_lid=_int(fields.get("sm_lid")),
        port_lid=_int(fields.get("port_lid")),
        port_lmc=fields.get("port_lmc"),
        link_layer=fields.get("link_layer"),
        extra={k: v for k, v in fields.items() if k not in known},
    )


def _device(hca_id: str, fields: dict[str, str], ports: list[IbvPort]) -> IbvDevice:
    known = {
        "transport",
        "fw_ver",
        "node_guid",
        "sys_image_guid",
        "vendor_id",
        "vendor_part_id",
        "hw_ver",
        "board_id",
        "phys_port_cnt",
    }
    return IbvDevice(
        hca_id=hca_id,
        transport=_strip_enum(fields.get("transport")),
        fw_ver=fields.get("fw_ver"),
        node_guid=fields.get("node_guid"),
        sys_image_guid=fields.get("sys_image_guid"),
        vendor_id=fields.get("vendor_id"),
        vendor_part_id=_int(fields.get("vendor_part_id")),
        hw_ver=fields.get("hw_ver"),
        board_id=fields.get("board_id"),
        phys_port_cnt=_int(fields.get("phys_port_cnt")),
        ports=tuple(ports),
        extra={k: v for k, v in fields.items() if k not in known},
    )


def parse_ibv_devinfo(text: str) -> list[IbvDevice]:
    """Devices in output order. A device starts at ``hca_id:``, a port at ``port:``.

    Keys are matched by name, not indentation, so a copy that lost its tabs still parses.
    """
    devices: list[IbvDevice] = []
    hca: str | None = None
    fields: dict[str, str] = {}
    ports: list[IbvPort] = []
    port: tuple[int, dict[str, str]] | None = None

    def close_port() -> None:
        nonlocal port
        if port is not None:
            ports.append(_port(*port))
            port = None

    for line in text.splitlines():
        kv = _KEY_VALUE.match(line)
        if not kv:
            continue
        key, value = kv["key"], kv["value"]
        if key == "hca_id":
            close_port()
            if hca is not None:
                devices.append(_device(hca, fields, ports))
            hca, fields, ports = value, {}, []
        elif hca is None:
            continue
        elif key == "port":
            close_port()
            number = _int(value)
            port = (number if number is not None else len(ports) + 1, {})
        elif port is not None:
            port[1].setdefault(key, value)
        else:
            fields.setdefault(key, value)
    close_port()
    if hca is not None:
        devices.append(_device(hca, fields, ports))
    return devices
