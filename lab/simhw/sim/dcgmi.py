"""``dcgmi`` (DCGM 3.3.8) for simulated GPUs: ``discovery -l`` and ``diag -r 1|2|3``. Stdlib only.

Like the real client it needs the host engine (``nv-hostengine`` / nvidia-dcgm.service).
The results table follows the real samples (dcgmi_diag_r2_*.txt, dcgmi_diag_r3_*.txt) and
dcgmi's Diag.cpp: long cells cut every 45 characters, a test whose GPUs disagree printed as
``Pass - GPUs: 0, 1, ...`` / ``Fail - GPU: 3`` rows followed by the failing GPU's Warning.
Level 1 runs the deployment checks, 2 adds PCIe and GPU Memory, 3 the stress tests. With the
description's ``dcgm.hang`` the diagnostic never answers (the caller's timeout must fire).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import hwdesc

RULE = "+--------+----------------------------------------------------------------------+"
DIAG_RULE = "+---------------------------+------------------------------------------------+"


def _engine_running() -> bool:
    path = Path(os.environ.get("TRAINBED_SIM_HOSTENGINE_PID", "/run/nvhostengine.pid"))
    return hwdesc.pid_alive(path)


def discovery(hw: dict[str, Any]) -> str:
    """``dcgmi discovery -l``."""
    gpus = hwdesc.present_gpus(hw)
    out = [
        f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''} found.",
        RULE,
        "| GPU ID | Device Information                                                   |",
        RULE,
    ]
    for g in gpus:
        out += [
            f"| {g['minor']:<6d} | {'Name: ' + g['name']:<68s} |",
            f"|        | {'PCI Bus ID: ' + g['bus_id']:<68s} |",
            f"|        | {'Device UUID: ' + g['uuid']:<68s} |",
            RULE,
        ]
    out += [
        "0 NvSwitches found.",
        "+-----------+",
        "| Switch ID |",
        "+-----------+",
        "+-----------+",
        "",
    ]
    return "\n".join(out)


#: dcgmi prints 45 characters of a cell per line (DATA_INFO_TAG_LEN), in a 46-wide column.
CELL = 45
HANG_S = 3600
#: DCGM's message for a memory test failure (DCGM_FR_FAULTY_MEMORY, its TRIAGE_RUN_FIELD_DIAG
#: suggestion), prefixed with the GPU as nvvs prints warnings.
FAULTY_MEMORY = (
    "GPU {gpu} Found 1 faulty memory elements on GPU {gpu} Run a field diagnostic on the GPU."
)


def _row(name: str, value: str) -> list[str]:
    chunks = [value[i : i + CELL] for i in range(0, len(value), CELL)] or [""]
    lines = [f"| {name:<25s} | {chunks[0]:<46s} |"]
    lines += [f"| {'':<25s} | {c:<46s} |" for c in chunks[1:]]
    return lines


def _ids(label: str, ids: list[int]) -> str:
    return f"{label} - GPU{'' if len(ids) == 1 else 's'}: " + ", ".join(map(str, ids)) + "   "


def _test(name: str, results: dict[int, str], warnings: list[str]) -> list[str]:
    """One per-GPU test: ``Pass - All`` when every GPU agrees, else a row per result."""
    if len(set(results.values())) == 1:
        status = next(iter(results.values()))
        lines = _row(name, f"{status} - All")
    else:
        lines, first = [], True
        for status in ("Pass", "Fail", "Warn", "Skip"):
            ids = [gpu for gpu, s in results.items() if s == status]
            if ids:
                lines += _row(name if first else "", _ids(status, ids))
                first = False
    for warning in warnings:
        lines += _row("Warning", warning)
    return lines


def diag(hw: dict[str, Any], level: int) -> tuple[str, int]:
    """``dcgmi diag -r LEVEL`` (deployment checks; level >= 2 adds the hardware section)."""
    gpus = hwdesc.present_gpus(hw)
    ready = hwdesc.fabric_ready(hw)
    pm_off = [g["minor"] for g in gpus if not hwdesc.persistence(g["bus_id"])]
    out = [
        "Successfully ran diagnostic for group.",
        DIAG_RULE,
        "| Diagnostic                | Result                                         |",
        "+===========================+================================================+",
        "|-----  Metadata  ----------+------------------------------------------------|",
    ]
    out += _row("DCGM Version", "3.3.8")
    out += _row("Driver Version Detected", hwdesc.driver(hw)["version"])
    out += _row("GPU Device IDs Detected", ",".join("2330" for _ in gpus))
    out.append("|-----  Deployment  --------+------------------------------------------------|")
    out += _row("Denylist", "Pass")
    out += _row("NVML Library", "Pass")
    out += _row("CUDA Main Library", "Pass" if ready else "Fail")
    if not ready:
        out += _row(
            "Warning",
            "Unable to initialize CUDA library: 'system not yet "
            "initialized'. Please check if a CUDA sample program can be run "
            "successfully on this host.",
        )
    out += _row("Permissions and OS Blocks", "Pass")
    out += _row("Persistence Mode", "Pass")
    if pm_off:
        out += _row(
            "Info",
            ",".join(
                f"Persistence mode for GPU {i} is disabled. Enable persistence mode by running "
                f'"nvidia-smi -i <gpuId> -pm 1 " as root.'
                for i in pm_off
            ),
        )
    out += _row("Environment Variables", "Pass")
    out += _row("Page Retirement/Row Remap", "Pass")
    out += _row("Graphics Processes", "Pass")
    out += _row("Inforom", "Pass")
    failed = False
    if level >= 2:
        ids = [g["minor"] for g in gpus]
        out.append("+-----  Integration  -------+------------------------------------------------+")
        out += _test("PCIe", dict.fromkeys(ids, "Pass" if ready else "Skip"), [])
        out.append("+-----  Hardware  ----------+------------------------------------------------+")
        bad = [g["minor"] for g in gpus if g.get("dcgm", {}).get("memory_fail")]
        memory = {i: "Fail" if not ready or i in bad else "Pass" for i in ids}
        out += _test("GPU Memory", memory, [FAULTY_MEMORY.format(gpu=i) for i in bad if ready])
        failed = "Fail" in memory.values()
        out.append("+-----  Stress  ------------+------------------------------------------------+")
        if level >= 3:
            out += _test("Memory Bandwidth", dict.fromkeys(ids, "Pass" if ready else "Skip"), [])
            out += _test("EUD Test", dict.fromkeys(ids, "Skip"), [])
    out.append(DIAG_RULE)
    return "\n".join(out) + "\n", 226 if failed or not ready else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("dcgmi: missing subsystem. Try dcgmi --help.", file=sys.stderr)
        return 255
    if not _engine_running():
        print("Error: unable to establish a connection to the specified host: localhost")
        print(
            "Error: Unable to connect to host engine. Host engine connection invalid/disconnected."
        )
        return 255
    hw = hwdesc.load()
    if args[0] == "discovery" and ("-l" in args or "--list" in args):
        sys.stdout.write(discovery(hw))
        return 0
    if args[0] == "diag":
        level = 1
        for flag in ("-r", "--run"):
            if flag in args and args.index(flag) + 1 < len(args):
                level = int(args[args.index(flag) + 1] or 1)
        if hw.get("dcgm", {}).get("hang"):
            time.sleep(HANG_S)
            return 255
        text, rc = diag(hw, level)
        sys.stdout.write(text)
        return rc
    print(f"dcgmi: unsupported command in this build: {' '.join(args)}", file=sys.stderr)
    return 255


if __name__ == "__main__":
    sys.exit(main())
