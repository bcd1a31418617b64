# verbatim lines of the real output are long
"""nvidia-smi for simulated H100s: the table, -q, -L, --query-gpu, topo -m, nvlink -s, -pm.

Formats are those of the real 535 driver (``fixtures/real/nvidia_smi_*``); values come from the
node's hardware description. Stdlib only.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import hwdesc

# One GPU block of ``nvidia-smi -q`` (535.183.01), copied from a real H100 and parameterised.
Q_GPU_TEMPLATE = """\
GPU {bus_id}
    Product Name                          : {name}
    Product Brand                         : NVIDIA
    Product Architecture                  : Hopper
    Display Mode                          : Disabled
    Display Active                        : Disabled
    Persistence Mode                      : {persistence}
    Addressing Mode                       : None
    MIG Mode
        Current                           : Disabled
        Pending                           : Disabled
    Accounting Mode                       : Disabled
    Accounting Mode Buffer Size           : 4000
    Driver Model
        Current                           : N/A
        Pending                           : N/A
    Serial Number                         : {serial}
    GPU UUID                              : {uuid}
    Minor Number                          : {minor}
    VBIOS Version                         : {vbios}
    MultiGPU Board                        : No
    Board ID                              : 0x{bus:02X}00
    Board Part Number                     : 692-2G520-0200-000
    GPU Part Number                       : 2330-885-A1
    FRU Part Number                       : N/A
    Module ID                             : {module_id}
    Inforom Version
        Image Version                     : G520.0200.00.05
        OEM Object                        : 2.1
        ECC Object                        : 7.16
        Power Management Object           : N/A
    Inforom BBX Object Flush
        Latest Timestamp                  : 2024/06/20 21:24:53.799
        Latest Duration                   : 88355 us
    GPU Operation Mode
        Current                           : N/A
        Pending                           : N/A
    GSP Firmware Version                  : {driver}
    GPU Virtualization Mode
        Virtualization Mode               : Pass-Through
        Host VGPU Mode                    : N/A
    GPU Reset Status
        Reset Required                    : No
        Drain and Reset Recommended       : No
    IBMNPU
        Relaxed Ordering Mode             : N/A
    PCI
        Bus                               : 0x{bus:02X}
        Device                            : 0x00
        Domain                            : 0x0000
        Device Id                         : 0x233010DE
        Bus Id                            : {bus_id}
        Sub System Id                     : 0x16C110DE
        GPU Link Info
            PCIe Generation
                Max                       : {gen_max}
                Current                   : {gen}
                Device Current            : {gen}
                Device Max                : {gen_max}
                Host Max                  : N/A
            Link Width
                Max                       : {width_max}x
                Current                   : {width}x
        Bridge Chip
            Type                          : N/A
            Firmware                      : N/A
        Replays Since Reset               : 120
        Replay Number Rollovers           : 0
        Tx Throughput                     : 632 KB/s
        Rx Throughput                     : 531 KB/s
        Atomic Caps Inbound               : N/A
        Atomic Caps Outbound              : N/A
    Fan Speed                             : N/A
    Performance State                     : P0
    Clocks Event Reasons
        Idle                              : Active
        Applications Clocks Setting       : Not Active
        SW Power Cap                      : {sw_power_cap}
        HW Slowdown                       : {hw_slowdown}
            HW Thermal Slowdown           : {hw_thermal_slowdown}
            HW Power Brake Slowdown       : {hw_power_brake_slowdown}
        Sync Boost                        : Not Active
        SW Thermal Slowdown               : {sw_thermal_slowdown}
        Display Clock Setting             : Not Active
    Sparse Operation Mode                 : Disabled
    FB Memory Usage
        Total                             : {memory_mib} MiB
        Reserved                          : 551 MiB
        Used                              : 0 MiB
        Free                              : {memory_free} MiB
    BAR1 Memory Usage
        Total                             : 131072 MiB
        Used                              : 1 MiB
        Free                              : 131071 MiB
    Conf Compute Protected Memory Usage
        Total                             : 0 MiB
        Used                              : 0 MiB
        Free                              : 0 MiB
    Compute Mode                          : Default
    Utilization
        Gpu                               : 0 %
        Memory                            : 0 %
        Encoder                           : 0 %
        Decoder                           : 0 %
        JPEG                              : 0 %
        OFA                               : 0 %
    Encoder Stats
        Active Sessions                   : 0
        Average FPS                       : 0
        Average Latency                   : 0
    FBC Stats
        Active Sessions                   : 0
        Average FPS                       : 0
        Average Latency                   : 0
    ECC Mode
        Current                           : Enabled
        Pending                           : Enabled
    ECC Errors
        Volatile
            SRAM Correctable              : {volatile_sram_correctable}
            SRAM Uncorrectable Parity     : {volatile_sram_uncorrectable_parity}
            SRAM Uncorrectable SEC-DED    : {volatile_sram_uncorrectable_secded}
            DRAM Correctable              : {volatile_dram_correctable}
            DRAM Uncorrectable            : {volatile_dram_uncorrectable}
        Aggregate
            SRAM Correctable              : {aggregate_sram_correctable}
            SRAM Uncorrectable Parity     : {aggregate_sram_uncorrectable_parity}
            SRAM Uncorrectable SEC-DED    : {aggregate_sram_uncorrectable_secded}
            DRAM Correctable              : {aggregate_dram_correctable}
            DRAM Uncorrectable            : {aggregate_dram_uncorrectable}
            SRAM Threshold Exceeded       : No
        Aggregate Uncorrectable SRAM Sources
            SRAM L2                       : 0
            SRAM SM                       : 0
            SRAM Microcontroller          : 0
            SRAM PCIE                     : 0
            SRAM Other                    : 0
    Retired Pages
        Single Bit ECC                    : N/A
        Double Bit ECC                    : N/A
        Pending Page Blacklist            : N/A
    Remapped Rows
        Correctable Error                 : {remap_correctable}
        Uncorrectable Error               : {remap_uncorrectable}
        Pending                           : {remap_pending}
        Remapping Failure Occurred        : {remap_failure}
        Bank Remap Availability Histogram
            Max                           : 2560 bank(s)
            High                          : 0 bank(s)
            Partial                       : 0 bank(s)
            Low                           : 0 bank(s)
            None                          : 0 bank(s)
    Temperature
        GPU Current Temp                  : 36 C
        GPU T.Limit Temp                  : 50 C
        GPU Shutdown T.Limit Temp         : -8 C
        GPU Slowdown T.Limit Temp         : -2 C
        GPU Max Operating T.Limit Temp    : 0 C
        GPU Target Temperature            : N/A
        Memory Current Temp               : 44 C
        Memory Max Operating T.Limit Temp : 0 C
    GPU Power Readings
        Power Draw                        : 71.97 W
        Current Power Limit               : 700.00 W
        Requested Power Limit             : 700.00 W
        Default Power Limit               : 700.00 W
        Min Power Limit                   : 200.00 W
        Max Power Limit                   : 700.00 W
    Module Power Readings
        Power Draw                        : N/A
        Current Power Limit               : N/A
        Requested Power Limit             : N/A
        Default Power Limit               : N/A
        Min Power Limit                   : N/A
        Max Power Limit                   : N/A
    Clocks
        Graphics                          : 345 MHz
        SM                                : 345 MHz
        Memory                            : 2619 MHz
        Video                             : 765 MHz
    Applications Clocks
        Graphics                          : 1980 MHz
        Memory                            : 2619 MHz
    Default Applications Clocks
        Graphics                          : 1980 MHz
        Memory                            : 2619 MHz
    Deferred Clocks
        Memory                            : N/A
    Max Clocks
        Graphics                          : 1980 MHz
        SM                                : 1980 MHz
        Memory                            : 2619 MHz
        Video                             : 1545 MHz
    Max Customer Boost Clocks
        Graphics                          : 1980 MHz
    Clock Policy
        Auto Boost                        : N/A
        Auto Boost Default                : N/A
    Voltage
        Graphics                          : 665.000 mV
    Fabric
        State                             : {fabric_state}
        Status                            : {fabric_status}
    Processes                             : None

"""

QUERY_FIELDS: dict[str, tuple[str, str]] = {
    # field: (header, unit shown in the header and after values unless nounits)
    "index": ("index", ""),
    "count": ("count", ""),
    "name": ("name", ""),
    "gpu_name": ("name", ""),
    "pci.bus_id": ("pci.bus_id", ""),
    "gpu_bus_id": ("pci.bus_id", ""),
    "persistence_mode": ("persistence_mode", ""),
    "memory.total": ("memory.total", "MiB"),
    "memory.used": ("memory.used", "MiB"),
    "memory.free": ("memory.free", "MiB"),
    "driver_version": ("driver_version", ""),
    "serial": ("serial", ""),
    "gpu_serial": ("serial", ""),
    "uuid": ("uuid", ""),
    "gpu_uuid": ("uuid", ""),
    "temperature.gpu": ("temperature.gpu", ""),
    "power.draw": ("power.draw", "W"),
    "power.limit": ("power.limit", "W"),
    "utilization.gpu": ("utilization.gpu", "%"),
    "pstate": ("pstate", ""),
    "compute_mode": ("compute_mode", ""),
    "ecc.mode.current": ("ecc.mode.current", ""),
    "ecc.errors.uncorrected.volatile.total": ("ecc.errors.uncorrected.volatile.total", ""),
}


def _bus(gpu: dict[str, Any]) -> int:
    return int(gpu["bus_id"].split(":")[1], 16)


def _values(gpu: dict[str, Any], count: int, drv: dict[str, str]) -> dict[str, str]:
    mem = int(gpu.get("memory_mib", 81559))
    return {
        "index": str(gpu["minor"]),
        "count": str(count),
        "name": gpu["name"],
        "pci.bus_id": gpu["bus_id"],
        "persistence_mode": "Enabled" if hwdesc.persistence(gpu["bus_id"]) else "Disabled",
        "memory.total": str(mem),
        "memory.used": "0",
        "memory.free": str(mem - 552),
        "driver_version": drv["version"],
        "serial": gpu["serial"],
        "uuid": gpu["uuid"],
        "temperature.gpu": str(gpu.get("temperature_c", 27)),
        "power.draw": "71.97",
        "power.limit": "700.00",
        "utilization.gpu": "0",
        "pstate": "P0",
        "compute_mode": "Default",
        "ecc.mode.current": "Enabled",
        "ecc.errors.uncorrected.volatile.total": str(uncorrectable_volatile(gpu)),
    }


def no_devices() -> int:
    print("No devices were found")
    return 6


def table(hw: dict[str, Any], gpus: list[dict[str, Any]]) -> str:
    """The default ``nvidia-smi`` table (driver >= 530 layout)."""
    drv = hwdesc.driver(hw)
    sep = "+-----------------------------------------+------------------------+----------------------+"
    out = [
        time.strftime("%a %b %d %H:%M:%S %Y"),
        "+-----------------------------------------------------------------------------------------+",
        f"| NVIDIA-SMI {drv['version']:<23s}Driver Version: {drv['version']:<15s}"
        f"CUDA Version: {drv['cuda_version']:<9s}|",
        "|-----------------------------------------+------------------------+----------------------+",
        "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
        "|                                         |                        |               MIG M. |",
        "|=========================================+========================+======================|",
    ]
    for gpu in gpus:
        pm = "On" if hwdesc.persistence(gpu["bus_id"]) else "Off"
        mem = int(gpu.get("memory_mib", 81559))
        temp = int(gpu.get("temperature_c", 27))
        out += [
            f"| {gpu['minor']:>3d}  {gpu['name']:<29s}{pm:>4s}  |   {gpu['bus_id']} Off |"
            f" {uncorrectable_volatile(gpu):>20d} |",
            f"| N/A   {temp:2d}C    P0  {72:>13d}W /  700W | {'1MiB /  ' + str(mem) + 'MiB':>22s} |"
            f"      0%      Default |",
            "|                                         |                        |             Disabled |",
            sep,
        ]
    out += [
        "",
        "+-----------------------------------------------------------------------------------------+",
        "| Processes:                                                                              |",
        "|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |",
        "|        ID   ID                                                               Usage      |",
        "|=========================================================================================|",
        "|  No running processes found                                                             |",
        "+-----------------------------------------------------------------------------------------+",
    ]
    return "\n".join(out) + "\n"


def query(hw: dict[str, Any], gpus: list[dict[str, Any]]) -> str:
    """``nvidia-smi -q``."""
    drv = hwdesc.driver(hw)
    ready = hwdesc.fabric_ready(hw)
    out = [
        "==============NVSMI LOG==============",
        "",
        f"Timestamp                                 : {time.strftime('%a %b %d %H:%M:%S %Y')}",
        f"Driver Version                            : {drv['version']}",
        f"CUDA Version                              : {drv['cuda_version']}",
        "",
        f"Attached GPUs                             : {len(gpus)}",
    ]
    blocks = []
    for gpu in gpus:
        mem = int(gpu.get("memory_mib", 81559))
        blocks.append(
            Q_GPU_TEMPLATE.format(
                bus_id=gpu["bus_id"],
                bus=_bus(gpu),
                name=gpu["name"],
                persistence="Enabled" if hwdesc.persistence(gpu["bus_id"]) else "Disabled",
                serial=gpu["serial"],
                uuid=gpu["uuid"],
                minor=gpu["minor"],
                module_id=gpu.get("module_id", gpu["minor"] + 1),
                memory_mib=mem,
                memory_free=mem - 552,
                driver=drv["version"],
                fabric_state="Completed" if ready else "In Progress",
                fabric_status="Success" if ready else "N/A",
                **health_fields(gpu),
            )
        )
    return "\n".join(out) + "\n" + "\n\n".join(b.rstrip("\n") for b in blocks) + "\n"


def health_fields(gpu: dict[str, Any]) -> dict[str, Any]:
    """The ``-q`` template's health values of one GPU (a description without them: healthy)."""
    link = hwdesc.pcie(gpu)
    ecc = gpu.get("ecc", {})
    remap = gpu.get("remapped_rows", {})
    reasons = gpu.get("clocks_event_reasons", {})
    fields: dict[str, Any] = {
        "vbios": gpu.get("vbios", "96.00.74.00.01"),
        "gen": link["gen"],
        "gen_max": link["max_gen"],
        "width": link["width"],
        "width_max": link["max_width"],
        "remap_correctable": remap.get("correctable", 0),
        "remap_uncorrectable": remap.get("uncorrectable", 0),
        "remap_pending": "Yes" if remap.get("pending") else "No",
        "remap_failure": "Yes" if remap.get("failure") else "No",
    }
    for name in (
        "sw_power_cap",
        "hw_slowdown",
        "hw_thermal_slowdown",
        "hw_power_brake_slowdown",
        "sw_thermal_slowdown",
    ):
        fields[name] = "Active" if reasons.get(name) else "Not Active"
    for kind in ("volatile", "aggregate"):
        for counter in (
            "sram_correctable",
            "sram_uncorrectable_parity",
            "sram_uncorrectable_secded",
            "dram_correctable",
            "dram_uncorrectable",
        ):
            fields[f"{kind}_{counter}"] = int(ecc.get(kind, {}).get(counter, 0))
    return fields


def uncorrectable_volatile(gpu: dict[str, Any]) -> int:
    """Volatile uncorrectable ECC errors (SRAM + DRAM), as the table and --query-gpu show."""
    volatile = gpu.get("ecc", {}).get("volatile", {})
    return sum(int(v) for k, v in volatile.items() if "uncorrectable" in k)


def nvlink_status(gpus: list[dict[str, Any]]) -> str:
    """``nvidia-smi nvlink -s``: per GPU its links' speed, ``<inactive>`` for links down
    (the real output puts a tab and a space before ``Link``)."""
    out = []
    for gpu in gpus:
        nvlink = gpu.get("nvlink", {"links": 18, "speed_gbs": 26.562, "inactive": []})
        out.append(f"GPU {gpu['minor']}: {gpu['name']} (UUID: {gpu['uuid']})")
        for link in range(int(nvlink["links"])):
            state = (
                "<inactive>"
                if link in nvlink.get("inactive", [])
                else f"{nvlink['speed_gbs']} GB/s"
            )
            out.append(f"\t Link {link}: {state}")
    return "\n".join(out) + "\n"


def listing(gpus: list[dict[str, Any]]) -> str:
    """``nvidia-smi -L``."""
    return "".join(f"GPU {g['minor']}: {g['name']} (UUID: {g['uuid']})\n" for g in gpus)


def query_gpu(
    hw: dict[str, Any], gpus: list[dict[str, Any]], fields: list[str], fmt: set[str]
) -> tuple[str, int]:
    """``--query-gpu=... --format=csv[,noheader][,nounits]``."""
    for f in fields:
        if f not in QUERY_FIELDS:
            return f'Field "{f}" is not a valid field to query.\n\n', 2
    drv = hwdesc.driver(hw)
    lines = []
    if "noheader" not in fmt:
        lines.append(
            ", ".join(
                QUERY_FIELDS[f][0] + (f" [{QUERY_FIELDS[f][1]}]" if QUERY_FIELDS[f][1] else "")
                for f in fields
            )
        )
    for gpu in gpus:
        vals = _values(gpu, len(gpus), drv)
        row = []
        for f in fields:
            header, unit = QUERY_FIELDS[f]
            v = vals[header]
            if unit and "nounits" not in fmt:
                v = f"{v} {unit}" if unit != "%" else f"{v} %"
            row.append(v)
        lines.append(", ".join(row))
    return "\n".join(lines) + "\n", 0


def topo(hw: dict[str, Any], gpus: list[dict[str, Any]]) -> str:
    """``nvidia-smi topo -m`` (tab separated, NIC legend from the HCAs)."""
    nics = hwdesc.sorted_hcas(hw)
    cpu = hw.get("cpu", {"sockets": 2, "cores_per_socket": 56, "threads_per_core": 2})
    cores, sockets = int(cpu["cores_per_socket"]), int(cpu["sockets"])
    threads = cores * sockets

    def socket_of_gpu(i: int) -> int:
        return 0 if i < max(1, len(hw.get("gpus", [])) // 2) else 1

    def socket_of_nic(n: dict[str, Any]) -> int:
        g = n.get("nearest_gpu")
        return socket_of_gpu(g) if g is not None else 0

    def affinity(s: int) -> str:
        first = f"{s * cores}-{s * cores + cores - 1}"
        if int(cpu.get("threads_per_core", 1)) > 1:
            first += f",{threads + s * cores}-{threads + s * cores + cores - 1}"
        return first

    names = [f"GPU{g['minor']}" for g in gpus] + [f"NIC{i}" for i in range(len(nics))]
    lines = ["\t" + "\t".join(names) + "\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID"]
    for g in gpus:
        cells = [" X " if o is g else "NV18" for o in gpus]
        for n in nics:
            if n.get("nearest_gpu") == g["index"]:
                cells.append("PIX")
            else:
                cells.append("NODE" if socket_of_nic(n) == socket_of_gpu(g["index"]) else "SYS")
        s = socket_of_gpu(g["index"])
        lines.append(f"GPU{g['minor']}\t" + "\t".join(cells) + f"\t{affinity(s)}\t{s}\t\tN/A")
    for i, n in enumerate(nics):
        cells = []
        for g in gpus:
            if n.get("nearest_gpu") == g["index"]:
                cells.append("PIX")
            else:
                cells.append("NODE" if socket_of_nic(n) == socket_of_gpu(g["index"]) else "SYS")
        for j, o in enumerate(nics):
            cells.append(
                " X " if j == i else ("NODE" if socket_of_nic(o) == socket_of_nic(n) else "SYS")
            )
        lines.append(f"NIC{i}\t" + "\t".join(cells))
    lines += [
        "",
        "Legend:",
        "",
        "  X    = Self",
        "  SYS  = Connection traversing PCIe as well as the SMP interconnect between NUMA nodes "
        "(e.g., QPI/UPI)",
        "  NODE = Connection traversing PCIe as well as the interconnect between PCIe Host Bridges "
        "within a NUMA node",
        "  PHB  = Connection traversing PCIe as well as a PCIe Host Bridge (typically the CPU)",
        "  PXB  = Connection traversing multiple PCIe bridges (without traversing the PCIe Host "
        "Bridge)",
        "  PIX  = Connection traversing at most a single PCIe bridge",
        "  NV#  = Connection traversing a bonded set of # NVLinks",
        "",
        "NIC Legend:",
        "",
    ]
    lines += [f"  NIC{i}: {n['device']}" for i, n in enumerate(nics)]
    return "\n".join(lines) + "\n\n"


def persistence_mode(gpus: list[dict[str, Any]], value: str) -> tuple[str, int]:
    """``nvidia-smi -pm 0|1``."""
    if value not in ("0", "1", "ENABLED", "DISABLED"):
        return 'Invalid combination of input arguments. Please run "nvidia-smi -h" for help.\n', 2
    if os.geteuid() != 0:
        return "".join(
            f"Unable to set persistence mode for GPU {g['bus_id']}: Insufficient Permissions\n"
            for g in gpus
        ) + "Terminating early due to previous errors.\n", 4
    on = value in ("1", "ENABLED")
    hwdesc.set_persistence([g["bus_id"] for g in gpus], on)
    word = "Enabled" if on else "Disabled"
    return "".join(
        f"{word} persistence mode for GPU {g['bus_id']}.\n" for g in gpus
    ) + "All done.\n", 0


def _select(gpus: list[dict[str, Any]], ids: str | None) -> list[dict[str, Any]] | None:
    if ids is None:
        return gpus
    chosen = []
    for token in ids.split(","):
        token = token.strip()
        match = [g for g in gpus if token in (str(g["minor"]), g["uuid"], g["bus_id"], g["serial"])]
        if not match:
            return None
        chosen += match
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    hw = hwdesc.load()
    gpus = hwdesc.present_gpus(hw)
    ids = None
    for flag in ("-i", "--id"):
        if flag in args:
            pos = args.index(flag)
            ids = args[pos + 1] if pos + 1 < len(args) else ""
            del args[pos : pos + 2]
    for a in list(args):
        if a.startswith("--id="):
            ids = a.split("=", 1)[1]
            args.remove(a)
    if not gpus:
        return no_devices()
    selected = _select(gpus, ids)
    if selected is None:
        print(f"No devices were found matching the value specified for --id: {ids}")
        return 6
    if not args:
        sys.stdout.write(table(hw, selected))
        return 0
    if args[0] == "topo":
        if len(args) > 1 and args[1] in ("-m", "--matrix"):
            sys.stdout.write(topo(hw, gpus))
            return 0
        print('Invalid combination of input arguments. Please run "nvidia-smi topo -h" for help.')
        return 2
    if args[0] == "nvlink":
        if args[1:] in (["-s"], ["--status"]):
            sys.stdout.write(nvlink_status(selected))
            return 0
        print('Invalid combination of input arguments. Please run "nvidia-smi nvlink -h" for help.')
        return 2
    if args[0] in ("-q", "--query") and len(args) == 1:
        sys.stdout.write(query(hw, selected))
        return 0
    if args[0] in ("-L", "--list-gpus"):
        sys.stdout.write(listing(selected))
        return 0
    if args[0] in ("-pm", "--persistence-mode"):
        text, rc = persistence_mode(selected, args[1] if len(args) > 1 else "")
        sys.stdout.write(text)
        return rc
    fields, fmt = None, None
    rest = list(args)
    while rest:
        a = rest.pop(0)
        if a.startswith("--query-gpu="):
            fields = [f.strip() for f in a.split("=", 1)[1].split(",") if f.strip()]
        elif a == "--query-gpu" and rest:
            fields = [f.strip() for f in rest.pop(0).split(",") if f.strip()]
        elif a.startswith("--format="):
            fmt = {f.strip() for f in a.split("=", 1)[1].split(",")}
        elif a == "--format" and rest:
            fmt = {f.strip() for f in rest.pop(0).split(",")}
        else:
            fields = None
            break
    if fields and fmt and "csv" in fmt:
        text, rc = query_gpu(hw, selected, fields, fmt)
        sys.stdout.write(text)
        return rc
    print('Invalid combination of input arguments. Please run "nvidia-smi -h" for help.\n')
    return 2


if __name__ == "__main__":
    sys.exit(main())
