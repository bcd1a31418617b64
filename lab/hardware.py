"""Hardware descriptions (``/etc/trainbed-sim/hardware.json``) derived from the inventory.

Pure functions. The format is documented in lab/README.md; simulators read it on every call.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from lab.inventory import Node
from lab.simhw.simload import sim_module

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
#: nvidia-smi -q "VBIOS Version" of the real 8x H100 sample (535.183.01).
H100_VBIOS = "96.00.74.00.01"
#: NVLinks of an H100 SXM5 and their speed as ``nvidia-smi nvlink -s`` prints it (GB/s).
H100_NVLINKS = 18
NVLINK_SPEED_GBS = 26.562
#: The node-side hardware description helpers (the simulators' own module, loaded by file): the
#: perfquery error counters, their saturation widths and their growth are decided there once.
HWDESC = sim_module("hwdesc")
#: perfquery error counters and the saturation value of each (IBTA PortCounters widths).
PORT_ERROR_COUNTERS: dict[str, int] = HWDESC.PORT_COUNTER_MAX
#: A Gen5 x16 link (H100 SXM5, ConnectX-7): PCIe generation 5 = 32 GT/s.
GEN5_X16: dict[str, int] = HWDESC.GEN5_X16
#: Growth (per second) of the counters a fault makes grow; slow enough that the 8-bit ones
#: take minutes to saturate, fast enough that two reads seconds apart differ.
SYMBOL_ERRORS_PER_S = {"SymbolErrorCounter": 50.0, "LinkErrorRecoveryCounter": 0.5}
FLAP_PER_S = {"LinkDownedCounter": 0.5}
ZERO_ECC = {
    "sram_correctable": 0,
    "sram_uncorrectable_parity": 0,
    "sram_uncorrectable_secded": 0,
    "dram_correctable": 0,
    "dram_uncorrectable": 0,
}
CLOCKS_EVENT_REASONS = (
    "sw_power_cap",
    "hw_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "sw_thermal_slowdown",
)


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
            **gpu_health(int(buses[i], 16)),
        }
        for i in range(count)
    ]


def gpu_health(bus: int) -> dict[str, Any]:
    """The health fields of a healthy H100 SXM5 on bus `bus` behind its own PEX890xx switch."""
    return {
        "vbios": H100_VBIOS,
        "ecc": {"volatile": dict(ZERO_ECC), "aggregate": dict(ZERO_ECC)},
        "remapped_rows": {"correctable": 0, "uncorrectable": 0, "pending": False, "failure": False},
        "clocks_event_reasons": {name: False for name in CLOCKS_EVENT_REASONS},
        "pcie": {**GEN5_X16, **switch_path(bus, 1)},
        "nvlink": {"links": H100_NVLINKS, "speed_gbs": NVLINK_SPEED_GBS, "inactive": []},
        "dcgm": {"memory_fail": False},
    }


def switch_path(device_bus: int, port: int) -> dict[str, Any]:
    """Where a device sits in the XE9680 PCIe tree (modelled on the real lspci sample: CPU root
    port BUS-4:01.0 -> PEX890xx upstream port BUS-3:00.0 -> downstream port BUS-2:PORT.0 ->
    the GPU at BUS (port 1) and its rail HCA at BUS+1 (port 2)). ACS off, as on a healthy node."""
    gpu_bus = device_bus - (port - 1)
    return {
        "root_port": f"{gpu_bus - 4:02x}:01.0",
        "switch_upstream": f"{gpu_bus - 3:02x}:00.0",
        "switch_port": f"{gpu_bus - 2:02x}:{port:02x}.0",
        "switch_port_acs": False,
    }


def hcas(
    node: Node,
    rate_gbps: int,
    link_layer: str = "InfiniBand",
    leaves: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """HCA entries: one single-port ConnectX-7 per inventory HCA. Where its cable ends is the
    inventory's at bring-up: ``switch`` (the HCA's, else its rail's in `leaves`, rail → switch)
    and, where the inventory gives it, ``switch_port`` (``ibnetdiscover`` lists only those)."""
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
        leaf = h.get("switch") or (leaves or {}).get(entry["rail"])
        if leaf:
            entry["switch"] = str(leaf)
        if "switch_port" in h:
            entry["switch_port"] = int(h["switch_port"])
        out.append(entry)
    return out


def place_hcas(hcas_: list[dict[str, Any]], gpus_: list[dict[str, Any]]) -> None:
    """Give each HCA its PCIe link and place: under its ``nearest_gpu``'s switch (the next bus),
    else on a root port of its own (buses from 0xE0 on)."""
    gpu_bus = {g["index"]: int(g["bus_id"].split(":")[1], 16) for g in gpus_}
    taken: dict[int, int] = {}
    spare = 0xE0
    for h in hcas_:
        near = h.get("nearest_gpu")
        if near is not None and near in gpu_bus:
            port = 2 + taken.get(near, 0)
            taken[near] = taken.get(near, 0) + 1
            bus = gpu_bus[near] + port - 1
            h["pcie"] = {"bus_id": f"0000:{bus:02x}:00.0", **GEN5_X16, **switch_path(bus, port)}
        else:
            h["pcie"] = {
                "bus_id": f"0000:{spare + 1:02x}:00.0",
                **GEN5_X16,
                "root_port": f"{spare:02x}:01.0",
            }
            spare += 2
        h["counters"] = {name: 0 for name in PORT_ERROR_COUNTERS}


def describe(inv: dict[str, Any], node: Node) -> dict[str, Any]:
    """The full hardware description of one node."""
    ib = inv.get("networks", {}).get("infiniband", {})
    cluster = str(inv.get("cluster", {}).get("name", "mock"))
    model = node.profile.get("model", "XE9680" if node.kind == "compute" else "R760")
    gpu_list = gpus(cluster, node) if node.kind == "compute" else []
    hca_list = hcas(
        node,
        int(ib.get("link_rate_gbps", 400)),
        str(ib.get("link_layer", "InfiniBand")),
        {str(r["name"]): str(r["switch"]) for r in ib.get("rails", []) if "switch" in r},
    )
    place_hcas(hca_list, gpu_list)
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
        "gpus": gpu_list,
        "hcas": hca_list,
        "fabric_manager": {"fault": False},
        "dcgm": {"hang": False},
        "nccl": {"wrong": False},
        "training": {"slowdown": 1.0},
    }


# --- faults: pure edits of a description --------------------------------------------------------


def fault_hca_rate(hw: dict[str, Any], device: str, rate: int) -> dict[str, Any]:
    """Degrade one HCA's link to ``rate`` Gb/s."""
    _hca(hw, device)["rate_gbps"] = int(rate)
    return hw


def fault_hca_rail(hw: dict[str, Any], device: str, rail: str) -> dict[str, Any]:
    """HCA `device` is cabled to another rail's fabric (``rail4`` or ``4``): ``rail`` in the
    description is the physical rail the simulators follow, whatever the inventory says."""
    name = f"rail{rail}" if rail.isdigit() else rail
    if not name.startswith("rail") or not name[4:].isdigit():
        raise ValueError(f"rail must be railN or N, not {rail!r}")
    _hca(hw, device)["rail"] = name
    return hw


def fault_hca_port(hw: dict[str, Any], device: str, leaf: str, port: int) -> dict[str, Any]:
    """HCA `device`'s cable ends at `leaf` port `port` (the rail's fabric sweep lists it there),
    whatever the inventory says; its rail is unchanged (``hca DEV rail N`` moves that)."""
    if not 1 <= port <= 254:
        raise ValueError(f"a switch port is 1..254, not {port}")
    h = _hca(hw, device)
    h["switch"], h["switch_port"] = leaf, port
    return hw


def cabling(hw: dict[str, Any]) -> dict[str, Any]:
    """What the node shows the shared fabric (``$FABRIC/cabling/HOST.json``, read by the
    simulated ``ibnetdiscover``): each HCA's port GUID, state, physical rail and leaf port."""
    keys = ("device", "port", "port_guid", "rail", "state", "switch", "switch_port")
    return {
        "hostname": hw.get("hostname", ""),
        "hcas": [{k: h[k] for k in keys if k in h} for h in hw.get("hcas", [])],
    }


def fault_hca_slow(hw: dict[str, Any], device: str, percent: float) -> dict[str, Any]:
    """HCA `device` moves `percent` less data than its link rate (``bandwidth_factor``); its
    port reads as healthy."""
    if not 0 < percent < 100:
        raise ValueError(f"slowdown must be a percentage between 0 and 100, not {percent}")
    _hca(hw, device)["bandwidth_factor"] = 1 - percent / 100
    return hw


def fault_hca_latency(hw: dict[str, Any], device: str, extra_us: float) -> dict[str, Any]:
    """HCA `device` adds `extra_us` to every ib_write_lat figure through it
    (``latency_extra_us``); its port and bandwidth read as healthy."""
    if not 0 < extra_us < 1000:
        raise ValueError(f"added latency must be between 0 and 1000 µs, not {extra_us}")
    _hca(hw, device)["latency_extra_us"] = float(extra_us)
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
    _gpu(hw, index)["present"] = False
    return hw


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


#: Real NVRM messages by XID (from the real kernel-log samples in tests/fixtures/real/ and, for
#: 79, the driver's text); other XIDs get the line format with a neutral message.
XID_MESSAGES = {
    48: "An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer "
    "at physAddr 0x12bac1c3e0 partition 2, subpartition 1.",
    63: "Row Remapper: New row (0x00000012bac1c3e0) marked for remapping, reset gpu to activate.",
    79: "GPU has fallen off the bus.",
    94: "Contained: SM (0x1). RST: No, D-RST: No",
    119: "Timeout after 6s of waiting for RPC response from GPU{index} GSP! Expected function "
    "76 (GSP_RM_CONTROL) (0x20801813 0x4c).",
}


def xid_line(hw: dict[str, Any], index: int, xid: int, pid: int = 1234) -> str:
    """The kernel's NVRM line for an XID on GPU `index`, as the driver prints it
    (``NVRM: Xid (PCI:0000:19:00): 79, pid=1234, name=python3, GPU has fallen off the bus.``)."""
    gpu = _gpu(hw, index)
    domain, bus, dev_fn = gpu["bus_id"].split(":")
    pci = f"PCI:{int(domain, 16):04x}:{bus.lower()}:{dev_fn.split('.')[0].lower()}"
    message = XID_MESSAGES.get(xid, "Simulated XID event (trainbed lab fault).").format(index=index)
    return f"NVRM: Xid ({pci}): {xid}, pid={pid}, name=python3, {message}"


def fault_gpu_remap_pending(hw: dict[str, Any], index: int) -> dict[str, Any]:
    """A row remap is pending on GPU `index` (Remapped Rows Pending: Yes)."""
    _gpu(hw, index)["remapped_rows"]["pending"] = True
    return hw


def fault_gpu_ecc_uncorrectable(hw: dict[str, Any], index: int) -> dict[str, Any]:
    """One uncorrectable DRAM ECC error on GPU `index` (volatile and aggregate)."""
    ecc = _gpu(hw, index)["ecc"]
    for kind in ("volatile", "aggregate"):
        ecc[kind]["dram_uncorrectable"] = 1
    return hw


def fault_gpu_nvlink_down(hw: dict[str, Any], index: int, link: int) -> dict[str, Any]:
    """NVLink `link` of GPU `index` is inactive."""
    nvlink = _gpu(hw, index)["nvlink"]
    if not 0 <= link < int(nvlink["links"]):
        raise KeyError(f"GPU {index} has no NVLink {link} (links 0..{int(nvlink['links']) - 1})")
    nvlink["inactive"] = sorted({*nvlink["inactive"], link})
    return hw


def degrade_link(pcie: dict[str, Any], what: str) -> None:
    """Train a PCIe link at ``x8`` or ``gen4`` (16 GT/s) instead of what it is capable of."""
    if what == "x8":
        pcie["width"] = 8
    elif what == "gen4":
        pcie["gen"] = 4
    else:
        raise ValueError(f"unknown PCIe degradation {what!r} (x8 or gen4)")


def fault_gpu_pcie(hw: dict[str, Any], index: int, what: str) -> dict[str, Any]:
    """GPU `index`'s PCIe link trained at x8 or Gen4."""
    degrade_link(_gpu(hw, index)["pcie"], what)
    return hw


def fault_hca_pcie(hw: dict[str, Any], device: str, what: str) -> dict[str, Any]:
    """HCA `device`'s PCIe link trained at x8 or Gen4."""
    degrade_link(_hca(hw, device)["pcie"], what)
    return hw


def _grow(h: dict[str, Any], rates: dict[str, float], now: float) -> None:
    """Make counters grow at `rates` (per second) from `now` on; counts reached so far under
    earlier rates are kept in ``counters``."""
    growth = h.get("growth") or {"since": now, "per_s": {}}
    for name in growth["per_s"]:
        h.setdefault("counters", {})[name] = counter_value(h, name, now)
    h["growth"] = {"since": now, "per_s": {**growth["per_s"], **rates}}


def counter_value(h: dict[str, Any], name: str, now: float) -> int:
    """A port counter at time `now`: its stored value plus its growth since the fault, saturated
    at the counter's width like the real PortCounters (what the simulated perfquery prints)."""
    return int(HWDESC.port_counter(h, name, now))


def fault_hca_symbol_errors(hw: dict[str, Any], device: str, now: float) -> dict[str, Any]:
    """SymbolErrorCounter and LinkErrorRecoveryCounter of HCA `device` grow from `now` on."""
    _grow(_hca(hw, device), SYMBOL_ERRORS_PER_S, now)
    return hw


def fault_hca_flap(hw: dict[str, Any], device: str, now: float) -> dict[str, Any]:
    """HCA `device`'s port flaps: LinkDownedCounter grows from `now` on."""
    _grow(_hca(hw, device), FLAP_PER_S, now)
    return hw


def fault_gpu_dcgm_memory_fail(hw: dict[str, Any], index: int) -> dict[str, Any]:
    """dcgmi diag (-r 2 and 3) finds faulty memory on GPU `index`."""
    _gpu(hw, index)["dcgm"]["memory_fail"] = True
    return hw


def fault_gpu_acs_on(hw: dict[str, Any], index: int) -> dict[str, Any]:
    """ACS redirect enabled on the switch downstream port above GPU `index`."""
    _gpu(hw, index)["pcie"]["switch_port_acs"] = True
    return hw


def fault_dcgm_hang(hw: dict[str, Any]) -> dict[str, Any]:
    """dcgmi diag never answers."""
    hw.setdefault("dcgm", {})["hang"] = True
    return hw


def fault_gpu_clocks_power_brake(hw: dict[str, Any], index: int) -> dict[str, Any]:
    """HW Slowdown and HW Power Brake Slowdown active on GPU `index`."""
    reasons = _gpu(hw, index)["clocks_event_reasons"]
    reasons["hw_slowdown"] = reasons["hw_power_brake_slowdown"] = True
    return hw


def _gpu(hw: dict[str, Any], index: int) -> dict[str, Any]:
    for g in hw.get("gpus", []):
        if g["index"] == index:
            return g
    raise KeyError(f"no GPU {index} in the description of {hw.get('hostname')}")


def _hca(hw: dict[str, Any], device: str) -> dict[str, Any]:
    for h in hw.get("hcas", []):
        if h["device"] == device:
            return h
    raise KeyError(f"no HCA {device} in the description of {hw.get('hostname')}")
