"""Parser for ``lspci -vvv`` device blocks, and the PCIe path of a device through its bridges.

Never raises: a block starts at an unindented ``BB:DD.F class: name`` line (``DDDD:`` domain
prefix with ``lspci -D``); lines inside it that are not read are ignored.

The real sample (Dell XE9680 switch subtree) prints ``LnkSta`` with ``(ok)``/``(downgraded)``
marks (pciutils ≥ 3.7); older pciutils print bare values, which are compared with ``LnkCap``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from trainbed.parse.nvidia_smi import normalize_bus_id

_HEADER = re.compile(
    r"^(?:(?P<domain>[0-9A-Fa-f]{4,8}):)?(?P<bus>[0-9A-Fa-f]{2}):(?P<dev>[0-9A-Fa-f]{2})"
    r"\.(?P<fn>[0-7])\s+(?P<cls>[^:]+):\s*(?P<name>.*?)\s*$"
)
_BUS = re.compile(
    r"^\s+Bus:\s+primary=(?P<pri>[0-9a-fA-F]+),\s*secondary=(?P<sec>[0-9a-fA-F]+),"
    r"\s*subordinate=(?P<sub>[0-9a-fA-F]+)"
)
_EXPRESS = re.compile(
    r"^\s+Capabilities:\s+\[[0-9a-f]+\]\s+Express\s+\([^)]*\)\s+(?P<type>.+?)(?:,|\s\(|$)"
)
_LINK = re.compile(r"^\s+(?P<key>LnkCap|LnkSta):\s+(?P<value>.*)$")
_SPEED = re.compile(r"Speed\s+(?P<speed>[\d.]+)GT/s(?:\s+\((?P<flag>[^)]*)\))?")
_WIDTH = re.compile(r"Width\s+x(?P<width>\d{1,4})(?:\s+\((?P<flag>[^)]*)\))?")
_ACS = re.compile(r"^\s+(?P<key>ACSCap|ACSCtl):\s+(?P<flags>.*)$")
_FLAG = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9]*)(?P<on>[+-])")
_DRIVER = re.compile(r"^\s+Kernel driver in use:\s*(?P<driver>\S+)")

# ACS controls that send peer-to-peer traffic up to the root complex (GPUDirect RDMA and
# P2P between devices under one switch then take the long way, or fail).
ACS_REDIRECTS = ("ReqRedir", "CmpltRedir")


@dataclass(frozen=True)
class PciLink:
    """One ``LnkCap`` or ``LnkSta`` line: speed in GT/s, width in lanes, and lspci's
    ``(ok)``/``(downgraded)`` marks where printed (``None`` otherwise)."""

    speed_gts: float | None = None
    width: int | None = None
    speed_mark: str | None = None
    width_mark: str | None = None


@dataclass(frozen=True)
class PciDevice:
    """One device block. ``address`` as printed (``19:00.0``); ``bus_id`` in nvidia-smi form
    (``00000000:19:00.0``) for joining with nvidia-smi and the kernel log. Bridges carry
    ``secondary``/``subordinate`` bus numbers; ``acs_control`` maps each ``ACSCtl`` flag to
    on/off."""

    address: str
    bus_id: str
    domain: int
    bus: int
    device_class: str
    name: str
    express_type: str | None = None
    link_cap: PciLink | None = None
    link_status: PciLink | None = None
    secondary: int | None = None
    subordinate: int | None = None
    acs_capability: Mapping[str, bool] = field(default_factory=dict)
    acs_control: Mapping[str, bool] = field(default_factory=dict)
    driver: str | None = None

    @property
    def downgraded(self) -> bool:
        """The link trained below what this device supports: lspci marks it
        ``(downgraded)``, or (no marks) ``LnkSta`` speed or width is below ``LnkCap``."""
        sta, cap = self.link_status, self.link_cap
        if sta is None:
            return False
        if "downgraded" in (sta.speed_mark, sta.width_mark):
            return True
        if sta.speed_mark is not None or sta.width_mark is not None or cap is None:
            return False
        slower = (
            sta.speed_gts is not None
            and cap.speed_gts is not None
            and sta.speed_gts < cap.speed_gts
        )
        narrower = sta.width is not None and cap.width is not None and sta.width < cap.width
        return slower or narrower

    @property
    def acs_redirects(self) -> tuple[str, ...]:
        """The P2P-redirecting ACS controls (``ReqRedir``, ``CmpltRedir``) that are on."""
        return tuple(name for name in ACS_REDIRECTS if self.acs_control.get(name))


@dataclass(frozen=True)
class PciPath:
    """A device and its upstream bridges (nearest first), with what is wrong on the way:
    every downgraded link (the device's and each bridge's) and every bridge with an ACS
    redirect on."""

    device: PciDevice
    bridges: tuple[PciDevice, ...]
    downgraded: tuple[PciDevice, ...]
    acs_redirect: tuple[PciDevice, ...]


def _link(value: str) -> PciLink:
    speed, width = _SPEED.search(value), _WIDTH.search(value)
    return PciLink(
        speed_gts=float(speed["speed"]) if speed else None,
        width=int(width["width"]) if width else None,
        speed_mark=speed["flag"] if speed else None,
        width_mark=width["flag"] if width else None,
    )


def _flags(value: str) -> dict[str, bool]:
    return {m["name"]: m["on"] == "+" for m in _FLAG.finditer(value)}


def _device(header: re.Match[str], body: Sequence[str]) -> PciDevice:
    fields: dict[str, object] = {}
    for line in body:
        if (bus := _BUS.match(line)) is not None:
            fields["secondary"] = int(bus["sec"], 16)
            fields["subordinate"] = int(bus["sub"], 16)
        elif (express := _EXPRESS.match(line)) is not None:
            fields.setdefault("express_type", express["type"].strip())
        elif (link := _LINK.match(line)) is not None:
            key = "link_cap" if link["key"] == "LnkCap" else "link_status"
            fields.setdefault(key, _link(link["value"]))
        elif (acs := _ACS.match(line)) is not None:
            key = "acs_capability" if acs["key"] == "ACSCap" else "acs_control"
            fields.setdefault(key, _flags(acs["flags"]))
        elif (driver := _DRIVER.match(line)) is not None:
            fields["driver"] = driver["driver"]
    domain = int(header["domain"] or "0", 16)
    address = header.group(0).split()[0]
    return PciDevice(
        address=address,
        bus_id=normalize_bus_id(f"{domain:x}:{header['bus']}:{header['dev']}.{header['fn']}"),
        domain=domain,
        bus=int(header["bus"], 16),
        device_class=header["cls"].strip(),
        name=header["name"],
        **fields,  # type: ignore[arg-type]
    )


def parse_lspci(text: str) -> list[PciDevice]:
    """Device blocks in output order."""
    devices: list[PciDevice] = []
    header: re.Match[str] | None = None
    body: list[str] = []
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            if header is not None:
                devices.append(_device(header, body))
            header, body = m, []
        elif header is not None:
            body.append(line)
    if header is not None:
        devices.append(_device(header, body))
    return devices


def find_device(devices: Sequence[PciDevice], address: str) -> PciDevice | None:
    """The device at `address` in any form (``19:00.0``, ``0000:19:00.0``, nvidia-smi's)."""
    wanted = normalize_bus_id(address)
    return next((d for d in devices if d.bus_id == wanted), None)


def upstream_bridges(devices: Sequence[PciDevice], device: PciDevice) -> list[PciDevice]:
    """The bridges above `device`, nearest first, as far up as the output reaches: each is
    the bridge whose secondary bus is the bus of the one below it."""
    out: list[PciDevice] = []
    current = device
    while True:
        parent = next(
            (
                d
                for d in devices
                if d.secondary == current.bus and d.domain == current.domain and d is not current
            ),
            None,
        )
        if parent is None or parent in out:
            return out
        out.append(parent)
        current = parent


def pci_path(devices: Sequence[PciDevice], address: str) -> PciPath | None:
    """`address`'s path to the root port with its downgraded links and ACS redirects;
    ``None`` when no such device is in the output."""
    device = find_device(devices, address)
    if device is None:
        return None
    bridges = tuple(upstream_bridges(devices, device))
    return PciPath(
        device=device,
        bridges=bridges,
        downgraded=tuple(d for d in (device, *bridges) if d.downgraded),
        acs_redirect=tuple(b for b in bridges if b.acs_redirects),
    )
