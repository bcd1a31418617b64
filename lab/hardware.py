"""Hardware descriptions (``/etc/trainbed-sim/hardware.json``) derived from the inventory.

Pure functions. The format is documented in lab/README.md; simulators read it on every call.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from lab.inventory import Node

FORMAT_VERSION = 1
#: PCI buses of the eight SXM5 GPUs of a PowerEdge XE9680, GPU 0..7.
XE9680_GPU_BUSES = ("19", "3B", "4C", "5D", "9B", "BB", "CB", "DB")
#: nvidia-smi -q "Module ID" of each bus position on the HGX H100 8-GPU baseboard.
XE9680_MODULE_IDS = (2, 4, 3, 1, 7, 5, 8, 6)
CX7 = {
    "ca_type": "MT4129",
    "vendor_part_id": 4129,
    "firmware": "28.39.1002",
    "board_id": "DEL0000000036",
    "hw_ver": "0x0",
}
DEFAULT_CPU = {"sockets": 2, "cores_per_socket": 56, "threads_per_core": 2}


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def gpu_serial(cluster: str, host: str, index: int) -> str:
    """A 13-digit board serial like real H100s (``1655022005478``)."""
    return "165" + str(int(_digest("serial", cluster, host, index), 16))[:10]


def gpu_uuid(cluster: str, host: str, index: int) -> str:
    """``GPU-xxxxxxxx-xxxx-...`` stable per cluster, host and index."""
    return "GPU-" + str(uuid.UUID(_digest("uuid", cluster, host, index)[:32]))


def gpus(cluster: str, node: Node) -> list[dict[str, Any]]:
    """GPU entries of a compute node from its profile."""
    spec = node.profile.get("gpus", {})
    count = int(spec.get("count", 0))
    buses = (
        XE9680_GPU_BUSES
        if count <= len(XE9680_GPU_BUSES)
        else tuple(f"{0x10 + 0x10 * i:02X}" for i in range(count))
    )
    return [
        {
            "index": i,
            "name": spec.get("model", "NVIDIA H100 80GB HBM3"),
            "bus_id": f"00000000:{buses[i]}:00.0",
            "serial": gpu_serial(cluster, node.hostname, i),
            "uuid": gpu_uuid(cluster, node.hostname, i),
            "memory_mib": int(spec.get("memory_mib", 81559)),
            "module_id": XE9680_MODULE_IDS[i] if i < len(XE9680_MODULE_IDS) else i + 1,
            "present": True,
        }
        for i in range(count)
    ]


def hcas(node: Node, rate_gbps: int, link_layer: str = "InfiniBand") -> list[dict[str, Any]]:
    """HCA entries: one single-port ConnectX-7 per inventory HCA."""
    out = []
    for h in node.hcas:
        guid = str(h.get("port_guid") or "0x" + _digest("guid", node.hostname, h["device"])[:16])
        entry: dict[str, Any] = {
            "device": h["device"],
            "rail": h.get("rail", ""),
            "port": int(h.get("port", 1)),
            "port_guid": guid,
            "node_guid": guid,
            "rate_gbps": int(rate_gbps),
            "state": "Active",
            "link_layer": link_layer,
            **CX7,
        }
        if "nearest_gpu" in h:
            entry["nearest_gpu"] = int(h["nearest_gpu"])
        out.append(entry)
    return out


def describe(inv: dict[str, Any], node: Node) -> dict[str, Any]:
    """The full hardware description of one node."""
    ib = inv.get("networks", {}).get("infiniband", {})
    cluster = str(inv.get("cluster", {}).get("name", "mock"))
    model = node.profile.get("model", "XE9680" if node.kind == "compute" else "R760")
    return {
        "format": FORMAT_VERSION,
        "hostname": node.hostname,
        "cluster": cluster,
        "system": {"vendor": "Dell Inc.", "product": f"PowerEdge {model}"},
        "cpu": {
            **DEFAULT_CPU,
            **{k: v for k, v in node.profile.get("cpu", {}).items() if k in DEFAULT_CPU},
        },
        "driver": {"version": "535.183.01", "cuda_version": "12.2"},
        "gpus": gpus(cluster, node) if node.kind == "compute" else [],
        "hcas": hcas(
            node, int(ib.get("link_rate_gbps", 400)), str(ib.get("link_layer", "InfiniBand"))
        ),
        "fabric_manager": {"fault": False},
        "nccl": {"wrong": False},
        "training": {"slowdown": 1.0},
    }


# --- faults: pure edits of a description --------------------------------------------------------


def fault_hca_rate(hw: dict[str, Any], device: str, rate: int) -> dict[str, Any]:
    """Degrade one HCA's link to ``rate`` Gb/s."""
    _hca(hw, device)["rate_gbps"] = int(rate)
    return hw


def fault_hca_down(hw: dict[str, Any], device: str) -> dict[str, Any]:
    """Take one HCA's port down."""
    _hca(hw, device)["state"] = "Down"
    return hw


def fault_hca_firmware(hw: dict[str, Any], device: str, version: str) -> dict[str, Any]:
    """Another firmware on one HCA, or on every HCA of the node with ``device`` ``all``."""
    targets = hw.get("hcas", []) if device == "all" else [_hca(hw, device)]
    for h in targets:
        h["firmware"] = str(version)
    return hw


def fault_gpu_remove(hw: dict[str, Any], index: int) -> dict[str, Any]:
    """A GPU falls off the bus."""
    for g in hw.get("gpus", []):
        if g["index"] == index:
            g["present"] = False
            return hw
    raise KeyError(f"no GPU {index} in the description of {hw.get('hostname')}")


def fault_fabricmanager(hw: dict[str, Any]) -> dict[str, Any]:
    """The NVSwitch fabric cannot be trained (fabric manager stopped/failing)."""
    hw.setdefault("fabric_manager", {})["fault"] = True
    return hw


def fault_driver_version(hw: dict[str, Any], version: str) -> dict[str, Any]:
    """The loaded driver reports another version (a driver reinstalled under a running node)."""
    hw.setdefault("driver", {})["version"] = version
    return hw


def fault_nccl_wrong(hw: dict[str, Any]) -> dict[str, Any]:
    """Collectives return corrupted data (#wrong > 0)."""
    hw.setdefault("nccl", {})["wrong"] = True
    return hw


def fault_training_slow(hw: dict[str, Any], factor: float) -> dict[str, Any]:
    """Training steps on this node take `factor` times the paper's pace (1.0: as measured)."""
    if factor <= 0:
        raise ValueError(f"slowdown factor must be positive, not {factor}")
    hw.setdefault("training", {})["slowdown"] = float(factor)
    return hw


def _hca(hw: dict[str, Any], device: str) -> dict[str, Any]:
    for h in hw.get("hcas", []):
        if h["device"] == device:
            return h
    raise KeyError(f"no HCA {device} in the description of {hw.get('hostname')}")
