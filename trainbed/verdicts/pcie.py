"""Is every GPU and HCA on its PCIe link at full speed and width, can GPUDirect traffic between a
GPU and its rail HCA go peer to peer, and is that HCA near the GPU?

Facts: `lspci -vvv` (`trainbed.parse.lspci`: each device's LnkCap/LnkSta, each bridge's
ACSCtl), the GPUs' bus IDs (`nvidia-smi`), `nvidia-smi topo -m` (`trainbed.parse.nvidia_smi`)
and the inventory's HCAs with their `nearest_gpu`.

An HCA is found in lspci as the Mellanox device nearest its `nearest_gpu` GPU in the PCIe tree
(most bridges in common, then the lower bus ID): on a Dell XE9680 each GPU shares a PEX890xx
switch with its ConnectX-7, and lspci prints no InfiniBand device name to join on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trainbed.parse.lspci import PciDevice, upstream_bridges
from trainbed.parse.nvidia_smi import Topology
from trainbed.verdicts import mismatch

#: Transfer rate of each PCIe generation (what lspci prints), GT/s.
GEN_GTS: dict[int, float] = {1: 2.5, 2: 5.0, 3: 8.0, 4: 16.0, 5: 32.0, 6: 64.0}
#: nvidia-smi topo relations of a GPU and a NIC that keep GPUDirect RDMA on the PCIe switch.
NEAR = ("PIX", "PXB")


@dataclass(frozen=True, slots=True)
class Link:
    """The link a device must train at (the hardware profile's `pcie.gpu` / `pcie.hca`)."""

    gen: int | None = None
    width: int | None = None

    @property
    def speed_gts(self) -> float | None:
        return GEN_GTS.get(self.gen) if self.gen else None


def _gts(speed: float | None) -> str:
    return f"{speed:g}GT/s" if speed is not None else "unknown speed"


def _width(width: int | None) -> str:
    return f"x{width}" if width is not None else "x?"


def link_problem(node: str, name: str, device: PciDevice | None, want: Link) -> str | None:
    """A device whose link trained below what it supports (LnkSta under LnkCap, or lspci's
    `(downgraded)`) or below the profile's `want`.

    `gpu01 GPU 3 (00000000:9B:00.0) PCIe link: expected 32GT/s x16, got 16GT/s x16
    (downgraded)`; a device lspci does not list is `expected present, got absent from lspci`.
    """
    what = f"{node} {name} PCIe link"
    if device is None:
        return mismatch(what, "present", "absent from lspci")
    sta, cap = device.link_status, device.link_cap
    if sta is None:
        return mismatch(what, "LnkSta", "none printed (run lspci as root)")
    speeds = [s for s in (cap.speed_gts if cap else None, want.speed_gts) if s is not None]
    widths = [w for w in (cap.width if cap else None, want.width) if w is not None]
    want_speed, want_width = max(speeds, default=None), max(widths, default=None)
    slow = sta.speed_gts is not None and want_speed is not None and sta.speed_gts < want_speed
    narrow = sta.width is not None and want_width is not None and sta.width < want_width
    if not (slow or narrow or device.downgraded):
        return None
    marks = "downgraded" if device.downgraded else "below the profile"
    return mismatch(
        what,
        f"{_gts(want_speed)} {_width(want_width)}",
        f"{_gts(sta.speed_gts)} {_width(sta.width)} ({marks})",
    )


def is_mellanox(device: PciDevice) -> bool:
    """A Mellanox/NVIDIA networking function (ConnectX, BlueField), InfiniBand or Ethernet."""
    return "Mellanox" in device.name and device.device_class.endswith("controller")


def _chain(devices: Sequence[PciDevice], device: PciDevice) -> list[str]:
    """Bus IDs of `device`'s bridges, root first."""
    return [b.bus_id for b in reversed(upstream_bridges(devices, device))]


def _shared(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def nearest_hca(devices: Sequence[PciDevice], gpu: PciDevice) -> PciDevice | None:
    """The Mellanox device sharing most upstream bridges with `gpu` (then the lower bus ID);
    None when none shares a bridge with it."""
    gpu_chain = _chain(devices, gpu)
    best: tuple[int, str, PciDevice] | None = None
    for device in devices:
        if not is_mellanox(device):
            continue
        shared = _shared(gpu_chain, _chain(devices, device))
        if shared and (best is None or (-shared, device.bus_id) < best[:2]):
            best = (-shared, device.bus_id, device)
    return best[2] if best else None


def bridges_between(
    devices: Sequence[PciDevice], a: PciDevice, b: PciDevice
) -> tuple[PciDevice, ...]:
    """The bridges peer-to-peer traffic between `a` and `b` crosses: each one's upstream bridges
    below the lowest bridge they share (all of them when they share none: the root complex)."""
    up_a, up_b = upstream_bridges(devices, a), upstream_bridges(devices, b)
    common = {d.bus_id for d in up_a} & {d.bus_id for d in up_b}
    # The lowest shared bridge is the switch's upstream port: traffic turns around below it.
    return tuple(d for d in (*up_a, *up_b) if d.bus_id not in common)


def acs_problem(
    node: str, between: str, devices: Sequence[PciDevice], a: PciDevice, b: PciDevice
) -> str | None:
    """A bridge between `a` and `b` with an ACS redirect on (P2P then detours through the root
    complex, or fails): `gpu01 GPU 3 (…) ↔ mlx5_3 (…) ACS: expected ReqRedir- CmpltRedir- on
    the bridges between them, got ReqRedir+ on 0000:17:01.0`."""
    on = [
        f"{'+ '.join(bridge.acs_redirects)}+ on {bridge.bus_id}"
        for bridge in bridges_between(devices, a, b)
        if bridge.acs_redirects
    ]
    if not on:
        return None
    return mismatch(
        f"{node} {between} ACS", "ReqRedir- CmpltRedir- on the bridges between them", "; ".join(on)
    )


def topology_problem(node: str, gpu_index: int, hca: str, topology: Topology) -> str | None:
    """The rail HCA is at PIX or PXB from its GPU in `nvidia-smi topo -m`:
    `gpu01 GPU 3 ↔ mlx5_3 topology: expected PIX or PXB, got NODE`."""
    what = f"{node} GPU {gpu_index} ↔ {hca} topology"
    row = topology.relations.get(f"GPU{gpu_index}")
    if row is None:
        return mismatch(what, "GPU in nvidia-smi topo -m", "absent")
    label = next((n for n in topology.nics if topology.nic_name(n) == hca), None)
    if label is None:
        return mismatch(what, "NIC in nvidia-smi topo -m", "absent")
    relation = row.get(label, "absent")
    return None if relation in NEAR else mismatch(what, " or ".join(NEAR), relation)
