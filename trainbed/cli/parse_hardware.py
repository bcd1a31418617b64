"""The hardware kinds of `trainbed parse`: what each reads, its JSON and its summary lines.

These parsers only read; whether a GPU, link or port is healthy is judged elsewhere. A file
in which nothing of the kind is found exits 1 (wrong file or wrong kind), so a summary here
never says "ok".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainbed.parse.dcgmi import parse_dcgmi_diag, per_gpu_results
from trainbed.parse.dmesg import parse_kernel_log
from trainbed.parse.fio import DIRECTIONS, parse_fio
from trainbed.parse.ibnetdiscover import parse_ibnetdiscover_ports
from trainbed.parse.lspci import parse_lspci
from trainbed.parse.mlxlink import MlxlinkInfo, parse_mlxlink
from trainbed.parse.nvbandwidth import parse_nvbandwidth
from trainbed.parse.nvidia_smi import parse_query
from trainbed.parse.nvlink import parse_nvlink_status
from trainbed.parse.perfquery import ERROR_COUNTERS, parse_perfquery


@dataclass(frozen=True)
class Kind:
    """One `trainbed parse KIND`: `read` turns text into a JSON-able dict whose `key` holds
    the records; `summary` gives one line per record."""

    help: str
    key: str
    read: Callable[[str], dict[str, Any]]
    summary: Callable[[dict[str, Any]], str]


def _plain(records: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(r) for r in records]


def _dmesg(event: dict[str, Any]) -> str:
    who = " ".join(str(v) for v in (event["pid"], event["process"]) if v is not None)
    code = f"{event['kind'].upper()} {event['code']}"
    where = f" ({who})" if who else ""
    return f"line {event['line']}: {code} on {event['bus_id']}{where}: {event['message']}"


def _gpu(gpu: dict[str, Any]) -> str:
    ecc = gpu["ecc"] or {}
    parts = [
        f"GPU {gpu['index']} {gpu['bus_id']} {gpu['product_name'] or ''}".rstrip(),
        f"vbios {gpu['vbios_version']}",
        f"PCIe gen {gpu['pcie_gen_current']}/{gpu['pcie_gen_max']}"
        f" x{gpu['pcie_width_current']}/x{gpu['pcie_width_max']}",
        "uncorrectable ECC volatile "
        f"{_pair(ecc, 'volatile')} aggregate {_pair(ecc, 'aggregate')} (SRAM/DRAM)",
        f"remapped rows pending {_yes(gpu['remapped_rows_pending'])}"
        f" failure {_yes(gpu['remapped_rows_failure'])}",
    ]
    active = [name for name, on in gpu["clock_event_reasons"].items() if on]
    if active:
        parts.append("clock events: " + ", ".join(active))
    return "  ".join(parts)


def _pair(ecc: dict[str, Any], kind: str) -> str:
    return f"{ecc.get(f'{kind}_sram_uncorrectable')}/{ecc.get(f'{kind}_dram_uncorrectable')}"


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "n/a"}[value]


def _nvlink(gpu: dict[str, Any]) -> str:
    head = f"GPU {gpu['index']} {gpu['name']}"
    if gpu["error"]:
        return f"{head}: {gpu['error']}"
    links = gpu["links"]
    up = [link for link in links if link["active"]]
    down = [str(link["link"]) for link in links if link["active"] is False]
    speeds = sorted({link["speed_gbs"] for link in up})
    text = f"{head}: {len(up)}/{len(links)} links active"
    if speeds:
        text += " at " + ", ".join(f"{s:g}" for s in speeds) + " GB/s"
    return text + (f", inactive: {', '.join(down)}" if down else "")


def _lspci(device: dict[str, Any]) -> str:
    def link(value: dict[str, Any] | None) -> str:
        if not value:
            return "-"
        speed = f"{value['speed_gts']:g}GT/s" if value["speed_gts"] is not None else "?"
        return f"{speed} x{value['width']}"

    text = f"{device['address']} {device['device_class']}: {device['name']}"
    if device["link_status"]:
        text += f"  link {link(device['link_status'])} (capable {link(device['link_cap'])})"
        marks = {device["link_status"]["speed_mark"], device["link_status"]["width_mark"]}
        if "downgraded" in marks:
            text += " DOWNGRADED"
    on = [name for name, enabled in device["acs_control"].items() if enabled]
    if device["acs_control"]:
        text += "  ACSCtl " + (" ".join(f"{n}+" for n in on) if on else "all off")
    return text


def _perfquery(port: dict[str, Any]) -> str:
    nonzero = [f"{n} {port['counters'][n]}" for n in ERROR_COUNTERS if port["counters"].get(n)]
    return f"lid {port['lid']} port {port['port']}: " + (
        ", ".join(nonzero) if nonzero else "error counters all 0"
    )


def _ibnetdiscover(port: dict[str, Any]) -> str:
    end = f"{port['node_type']} lid {port['lid']} port {port['port']} '{port['description']}'"
    if port["peer_guid"] is None:
        return f"{end}: {port['width']} {port['speed']}, not connected"
    peer = f"{port['peer_type']} lid {port['peer_lid']} port {port['peer_port']}"
    return f"{end} - {peer} '{port['peer_description']}': {port['width']} {port['speed']}"


def _mlxlink(port: dict[str, Any]) -> str:
    return (
        f"state {port['state']}  speed {port['speed']}  effective BER {port['effective_ber']}"
        f"  raw BER {port['raw_ber']}  symbol BER {port['symbol_ber']}"
        f"  link down {port['link_down_counter']}"
    )


def _dcgmi(row: dict[str, Any]) -> str:
    where = f" ({row['section']})" if row["section"] else ""
    text = f"{row['name']}{where}: {row['value']}"
    for warning in row["warnings"]:
        text += f"\n  warning: {warning}"
    return text


def _read_mlxlink(text: str) -> dict[str, Any]:
    port = parse_mlxlink(text)
    return {"ports": [] if port == MlxlinkInfo() else [dataclasses.asdict(port)]}


def _read_dcgmi(text: str) -> dict[str, Any]:
    rows = parse_dcgmi_diag(text)
    return {"rows": _plain(rows), "per_gpu": _plain(per_gpu_results(rows))}


def _read_nvbandwidth(text: str) -> dict[str, Any]:
    run = parse_nvbandwidth(text)
    return {
        "version": run.version,
        "driver_version": run.driver_version,
        "testcases": [
            {**dataclasses.asdict(t), "unit": t.unit, "minimum": t.minimum} for t in run.testcases
        ],
    }


def _nvbandwidth(testcase: dict[str, Any]) -> str:
    if testcase["status"] != "ok":
        return f"{testcase['name']}: {testcase['status']} {testcase['message'] or ''}".rstrip()
    return (
        f"{testcase['name']}: lowest {testcase['minimum']} {testcase['unit']}"
        f", sum {testcase['total']}"
    )


def _read_fio(text: str) -> dict[str, Any]:
    run = parse_fio(text)
    payload = dataclasses.asdict(run)
    for job in payload["jobs"]:
        for direction in DIRECTIONS:
            job[direction]["done"] = job[direction]["io_bytes"] > 0
    return payload


def _fio(job: dict[str, Any]) -> str:
    parts = [f"job {job['name']!r}"]
    for direction in DIRECTIONS:
        move = job[direction]
        if move["io_bytes"] > 0:
            parts.append(
                f"{direction} {move['bw_bytes'] / 1e6:.1f} MB/s"
                f" ({move['io_bytes'] / 1e6:.1f} MB in {move['runtime_ms'] / 1000:g} s,"
                f" {move['iops']:.0f} IOPS)"
            )
    if job["error"]:
        parts.append(f"error {job['error']}")
    return "  ".join(parts)


KINDS: dict[str, Kind] = {
    "dmesg": Kind(
        "NVIDIA XID and NVSwitch SXID events in a kernel log (dmesg, dmesg -T/--time-format"
        " iso, journalctl -k).",
        "events",
        lambda t: {"events": _plain(parse_kernel_log(t))},
        _dmesg,
    ),
    "nvidia-smi-q": Kind(
        "Per-GPU identity, ECC, retired pages, remapped rows, clock events and PCIe link"
        " from nvidia-smi -q.",
        "gpus",
        lambda t: {"gpus": _plain(parse_query(t))},
        _gpu,
    ),
    "nvlink": Kind(
        "Per-GPU NVLink state and speed from nvidia-smi nvlink -s.",
        "gpus",
        lambda t: {"gpus": _plain(parse_nvlink_status(t))},
        _nvlink,
    ),
    "lspci": Kind(
        "PCIe devices, link capability/status and ACS control from lspci -vvv.",
        "devices",
        lambda t: {"devices": _plain(parse_lspci(t))},
        _lspci,
    ),
    "perfquery": Kind(
        "InfiniBand port counters from perfquery -x.",
        "ports",
        lambda t: {"ports": _plain(parse_perfquery(t))},
        _perfquery,
    ),
    "ibnetdiscover": Kind(
        "Switch and CA port links from ibnetdiscover -p.",
        "ports",
        lambda t: {"ports": _plain(parse_ibnetdiscover_ports(t))},
        _ibnetdiscover,
    ),
    "mlxlink": Kind(
        "Link state and BER from mlxlink -c / --show_ber (text or --json).",
        "ports",
        _read_mlxlink,
        _mlxlink,
    ),
    "dcgmi-diag": Kind(
        "dcgmi diag -r N results, per test and per GPU.",
        "rows",
        _read_dcgmi,
        _dcgmi,
    ),
    "fio": Kind(
        "Per-job read and write bandwidth, bytes and runtime from fio --output-format=json"
        " (or normal,json).",
        "jobs",
        _read_fio,
        _fio,
    ),
    "nvbandwidth": Kind(
        "nvbandwidth testcases: bandwidth matrices and their SUM lines.",
        "testcases",
        _read_nvbandwidth,
        _nvbandwidth,
    ),
}
