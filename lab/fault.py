"""Inject hardware faults into a running mock node: ``lab/fault NODE KIND ...``.

    fault NODE hca mlx5_3 rate 200     degrade a port's link rate (Gb/s)
    fault NODE hca mlx5_3 down         take a port down
    fault NODE hca mlx5_3 firmware V   the HCA runs firmware V (`hca all firmware V`: every HCA)
    fault NODE gpu 5 remove            a GPU falls off the bus (its /dev/nvidiaN goes too)
    fault NODE fabricmanager stop      NVSwitch fabric fails; nvidia-fabricmanager exits failed
    fault NODE driver version 535.999  the loaded driver reports another version (a running
                                       fabric manager of its own version stops; none starts)
    fault NODE nccl wrong              collectives return corrupted data (#wrong > 0)
    fault NODE training slow 1.2       NeMo training steps take 1.2x the paper's pace
    fault NODE gpu N xid X             an XID X event for GPU N in the node's kernel journal
    fault NODE gpu N remap pending     Remapped Rows Pending: Yes on GPU N
    fault NODE gpu N ecc uncorrectable volatile + aggregate DRAM uncorrectable = 1 on GPU N
    fault NODE gpu N nvlink L down     NVLink L of GPU N <inactive>
    fault NODE gpu N pcie x8|gen4      GPU N's link trained at x8 / 16 GT/s
    fault NODE hca DEV pcie x8|gen4    the same for an HCA
    fault NODE hca DEV symbol-errors   SymbolErrorCounter, LinkErrorRecoveryCounter grow
    fault NODE hca DEV flap            LinkDownedCounter grows (a flapping port)
    fault NODE hca DEV rail N          the port is cabled to rail N's fabric (railN or N), not
                                       the inventory's: its SM, GID prefix and peers follow
    fault NODE hca DEV port LEAF P     the port's cable ends at switch LEAF port P (the rail's
                                       ibnetdiscover -p lists it there), not the inventory's
    fault NODE hca DEV slow P          the port moves P percent less data than its link rate
    fault NODE hca DEV latency US      ib_write_lat through the port reads US µs higher
                                       (ibstat unchanged: only bandwidth shows it)
    fault NODE gpu N dcgm memory-fail  dcgmi diag -r 2/3: GPU Memory fails on GPU N
    fault NODE gpu N acs on            ACS redirect on the switch port above GPU N
    fault NODE dcgm hang               dcgmi diag never answers
    fault NODE gpu N clocks power-brake  HW Slowdown + HW Power Brake Slowdown active
    fault NODE clear                   restore the description written at bring-up, stop
                                       counter growth, empty the node's journal

Edits /etc/trainbed-sim/hardware.json on the node with ``docker exec`` (mock infrastructure,
not the deploy); the simulators read it on every call, so the fault shows at once. Counters
that grow are computed from the time since injection (stored in the description). An XID is
written into that node's own systemd journal as the kernel's NVRM line (``systemd-cat -t
kernel -p warning``: SYSLOG_IDENTIFIER=kernel, like real kernel messages); ``clear`` cannot
delete single journal entries, so it rotates the journal and vacuums every archived file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from lab import hardware, nodes
from lab.config import SIM_HARDWARE_PATH, state_dir
from lab.engine import MockError, docker

MKDEVNODES = "/usr/lib/trainbed-sim/nvidia-driver-535-server/mkdevnodes"


def apply(
    hw: dict[str, Any], words: list[str], now: float | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Apply a fault given as words to a description; return it and the follow-up actions
    (``journal:LINE`` writes LINE into the node's kernel journal)."""
    now = time.time() if now is None else now
    match words:
        case ["gpu", index, "xid", xid]:
            return hw, ["journal:" + hardware.xid_line(hw, int(index), int(xid))]
        case ["gpu", index, "remap", "pending"]:
            return hardware.fault_gpu_remap_pending(hw, int(index)), []
        case ["gpu", index, "ecc", "uncorrectable"]:
            return hardware.fault_gpu_ecc_uncorrectable(hw, int(index)), []
        case ["gpu", index, "nvlink", link, "down"]:
            return hardware.fault_gpu_nvlink_down(hw, int(index), int(link)), []
        case ["gpu", index, "pcie", ("x8" | "gen4") as what]:
            return hardware.fault_gpu_pcie(hw, int(index), what), []
        case ["hca", device, "pcie", ("x8" | "gen4") as what]:
            return hardware.fault_hca_pcie(hw, device, what), []
        case ["hca", device, "symbol-errors"]:
            return hardware.fault_hca_symbol_errors(hw, device, now), []
        case ["hca", device, "flap"]:
            return hardware.fault_hca_flap(hw, device, now), []
        case ["gpu", index, "dcgm", "memory-fail"]:
            return hardware.fault_gpu_dcgm_memory_fail(hw, int(index)), []
        case ["gpu", index, "acs", "on"]:
            return hardware.fault_gpu_acs_on(hw, int(index)), []
        case ["dcgm", "hang"]:
            return hardware.fault_dcgm_hang(hw), []
        case ["gpu", index, "clocks", "power-brake"]:
            return hardware.fault_gpu_clocks_power_brake(hw, int(index)), []
        case ["hca", device, "rate", rate]:
            return hardware.fault_hca_rate(hw, device, int(rate)), []
        case ["hca", device, "rail", rail]:
            return hardware.fault_hca_rail(hw, device, rail), []
        case ["hca", device, "port", leaf, port]:
            return hardware.fault_hca_port(hw, device, leaf, int(port)), []
        case ["hca", device, "slow", percent]:
            return hardware.fault_hca_slow(hw, device, float(percent)), []
        case ["hca", device, "latency", extra]:
            return hardware.fault_hca_latency(hw, device, float(extra)), []
        case ["hca", device, "down"]:
            return hardware.fault_hca_down(hw, device), []
        case ["hca", device, "firmware", version]:
            return hardware.fault_hca_firmware(hw, device, version), []
        case ["gpu", index, "remove"]:
            return hardware.fault_gpu_remove(hw, int(index)), ["devnodes"]
        case ["fabricmanager", "stop"]:
            return hardware.fault_fabricmanager(hw), ["stop-fm"]
        case ["driver", "version", version]:
            return hardware.fault_driver_version(hw, version), []
        case ["nccl", "wrong"]:
            return hardware.fault_nccl_wrong(hw), []
        case ["training", "slow", factor]:
            return hardware.fault_training_slow(hw, float(factor)), []
    raise ValueError(f"unknown fault: {' '.join(words)} (see lab/fault --help)")


def container_of(state: Path, node: str) -> str:
    """The container of a node, from cluster.json."""
    try:
        desc = json.loads((state / "cluster.json").read_text())
    except OSError as exc:
        raise MockError(f"no mock cluster in {state} (cluster.json missing); run lab/up") from exc
    for n in desc["nodes"]:
        if n["hostname"] == node:
            return n["container"]
    raise MockError(f"no node {node!r} in {state / 'cluster.json'}")


def read_description(container: str) -> dict[str, Any]:
    return json.loads(docker("exec", container, "cat", SIM_HARDWARE_PATH))


def write_description(container: str, text: str) -> None:
    """Atomic replace on the node (write a temp file, rename)."""
    nodes.write_file(container, SIM_HARDWARE_PATH, text)


#: What ``clear`` runs on the node: archive the journal, then drop every archived file (the
#: sleep lets the just-archived file age past the 1 s vacuum bound).
CLEAR_JOURNAL = "journalctl --rotate && sleep 1.2 && journalctl --vacuum-time=1s"


def follow_up(container: str, actions: list[str]) -> None:
    for action in actions:
        if action.startswith("journal:"):
            line = action.removeprefix("journal:")
            docker(
                "exec",
                "-i",
                container,
                "systemd-cat",
                "-t",
                "kernel",
                "-p",
                "warning",
                input=line + "\n",
            )
        elif action == "clear-journal":
            docker("exec", container, "sh", "-c", CLEAR_JOURNAL)
        elif action == "devnodes":
            docker("exec", container, "sh", "-c", f"[ ! -x {MKDEVNODES} ] || {MKDEVNODES}")
        elif action == "stop-fm":
            docker(
                "exec",
                container,
                "sh",
                "-c",
                # The daemon sees the fault within a second and exits with an error, as the
                # real one does (the unit ends "failed"); racing it with a stop made the state
                # "inactive" or "failed" by timing. Stop it only if it has not gone in 15 s.
                "timeout 15 sh -c "
                "'while systemctl is-active -q nvidia-fabricmanager; do sleep 0.2; done' "
                "|| systemctl stop nvidia-fabricmanager",
            )
        elif action == "start-fm-if-enabled":
            docker(
                "exec",
                container,
                "sh",
                "-c",
                "! systemctl is-enabled -q "
                "nvidia-fabricmanager 2>/dev/null || systemctl start nvidia-fabricmanager",
                check=False,
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="lab/fault",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("node")
    p.add_argument("words", nargs="+", metavar="FAULT")
    p.add_argument("--state-dir")
    args = p.parse_args(argv)
    state = state_dir(args.state_dir)
    try:
        container = container_of(state, args.node)
        if args.words == ["clear"]:
            original = state / "hardware" / f"{args.node}.json"
            if not original.exists():
                raise MockError(f"{args.node} has no hardware description to restore")
            write_description(container, original.read_text())
            nodes.publish_cabling(container, original.read_text())
            follow_up(container, ["devnodes", "start-fm-if-enabled", "clear-journal"])
        else:
            hw, actions = apply(read_description(container), args.words)
            text = json.dumps(hw, indent=2) + "\n"
            write_description(container, text)
            nodes.publish_cabling(container, text)
            follow_up(container, actions)
    except (MockError, ValueError, KeyError) as exc:
        print(f"fault: {exc}", file=sys.stderr)
        return 1
    print(f"{args.node}: {' '.join(args.words)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
