"""nvbandwidth (v0.8) for simulated H100s: the copy-engine memcpy testcases. Stdlib only.

The layout is nvbandwidth v0.8's plain-text output (NVIDIA/nvbandwidth @66746a3: output.cpp,
inline_common.h; the README's example blocks are the real sample in tests/fixtures/real/):
version and driver lines, the host name and devices, then per testcase ``Running NAME.``, the
matrix title, the matrix (columns ``setw(10)``, row labels ``setw(2)``, ``N/A`` where a pair
is not measured), ``SUM NAME total`` and the closing NOTE. Figures are a healthy HGX H100
node's (host<->device about 55 GB/s over PCIe Gen5 x16, device<->device about 370 GB/s over
NVLink); a GPU's link trained below Gen5 x16 scales its host figures down. Without ``-t``
the six CE testcases run (the real tool runs every testcase it has).
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import hwdesc

VERSION = "v0.8"
#: GB/s of one healthy H100 SXM5 (host figures over Gen5 x16).
H2D_GBS, D2H_GBS, H2D_BIDIR_GBS, D2D_GBS = 55.37, 55.20, 51.80, 370.12
#: testcase -> (title, rows are CPU, value per healthy pair)
TESTCASES: dict[str, tuple[str, bool, float]] = {
    "host_to_device_memcpy_ce": (
        "memcpy CE CPU(row) -> GPU(column) bandwidth (GB/s)",
        True,
        H2D_GBS,
    ),
    "device_to_host_memcpy_ce": (
        "memcpy CE CPU(row) <- GPU(column) bandwidth (GB/s)",
        True,
        D2H_GBS,
    ),
    "host_to_device_bidirectional_memcpy_ce": (
        "memcpy CE CPU(row) <-> GPU(column) bandwidth (GB/s)",
        True,
        H2D_BIDIR_GBS,
    ),
    "device_to_host_bidirectional_memcpy_ce": (
        "memcpy CE CPU(row) <-> GPU(column) bandwidth (GB/s)",
        True,
        H2D_BIDIR_GBS,
    ),
    "device_to_device_memcpy_read_ce": (
        "memcpy CE GPU(row) -> GPU(column) bandwidth (GB/s)",
        False,
        D2D_GBS,
    ),
    "device_to_device_memcpy_write_ce": (
        "memcpy CE GPU(row) <- GPU(column) bandwidth (GB/s)",
        False,
        D2D_GBS,
    ),
}


def _link_factor(gpu: dict[str, Any]) -> float:
    """Host bandwidth scales with the trained PCIe link (per-lane rate doubles per generation)."""
    link = hwdesc.pcie(gpu)
    return min(1.0, 2.0 ** (link["gen"] - link["max_gen"]) * link["width"] / link["max_width"])


def _nvlink_factor(gpu: dict[str, Any]) -> float:
    nvlink = gpu.get("nvlink", {"links": 18, "inactive": []})
    links = int(nvlink.get("links", 18)) or 1
    return (links - len(nvlink.get("inactive", []))) / links


def matrix(name: str, gpus: list[dict[str, Any]]) -> list[list[float | None]]:
    """The values of one testcase: one CPU row, or GPU x GPU with ``None`` on the diagonal."""
    _, cpu_rows, base = TESTCASES[name]
    if cpu_rows:
        return [[round(base * _link_factor(g) - 0.01 * (g["minor"] % 3), 2) for g in gpus]]
    return [
        [
            None
            if a is b
            else round(
                base * min(_nvlink_factor(a), _nvlink_factor(b))
                - 0.02 * ((a["minor"] + b["minor"]) % 4),
                2,
            )
            for b in gpus
        ]
        for a in gpus
    ]


def render_matrix(values: list[list[float | None]]) -> str:
    """``operator<<(PeerValueMatrix)``: header, rows, an empty line."""
    columns = len(values[0]) if values else 0
    out = ["  " + "".join(f"{c:>10d}" for c in range(columns))]
    for i, row in enumerate(values):
        out.append(f"{i:>2d}" + "".join(f"{'N/A' if v is None else f'{v:.2f}':>10s}" for v in row))
    return "\n".join(out) + "\n\n"


def run(hw: dict[str, Any], names: list[str]) -> str:
    """The whole output for testcases `names`."""
    gpus = hwdesc.present_gpus(hw)
    drv = hwdesc.driver(hw)
    cuda = "".join(
        f"{int(p):02d}" if i else p for i, p in enumerate(drv["cuda_version"].split("."))
    )
    out = [
        f"nvbandwidth Version: {VERSION}",
        f"Built from Git version: {VERSION}",
        "",
        f"CUDA Runtime Version: {cuda}0",
        f"CUDA Driver Version: {cuda}0",
        f"Driver Version: {drv['version']}",
        "",
        hwdesc.hostname(hw) or socket.gethostname(),
    ]
    for g in gpus:
        domain, bus, devfn = g["bus_id"].lower().split(":")
        out.append(f"Device {g['minor']}: {g['name']} ({domain}:{bus}:{devfn.split('.')[0]})")
    text = "\n".join(out) + "\n\n"
    for name in names:
        if name not in TESTCASES:
            text += f"ERROR: Testcase {name} not found!\n"
            continue
        values = matrix(name, gpus)
        total = sum(v for row in values for v in row if v is not None)
        text += f"Running {name}.\n{TESTCASES[name][0]}\n{render_matrix(values)}"
        text += f"SUM {name} {total:.2f}\n\n"
    text += (
        "NOTE: The reported results may not reflect the full capabilities of the platform.\n"
        "Performance can vary with software drivers, hardware clocks, and system topology.\n\n"
    )
    return text


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``nvbandwidth [-t NAME ...]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    names: list[str] = []
    while args:
        a = args.pop(0)
        if a in ("-t", "--testcase") and args:
            names.append(args.pop(0))
    hw = hwdesc.load()
    sys.stdout.write(run(hw, names or list(TESTCASES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
