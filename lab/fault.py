"""Inject hardware faults into a running mock node: ``lab/fault NODE KIND ...``.

    fault NODE hca mlx5_3 rate 200     degrade a port's link rate (Gb/s)
    fault NODE hca mlx5_3 down         take a port down
    fault NODE hca mlx5_3 firmware V   the HCA runs firmware V (`hca all firmware V`: every HCA)
    fault NODE gpu 5 remove            a GPU falls off the bus (its /dev/nvidiaN goes too)
    fault NODE fabricmanager stop      NVSwitch fabric fails; nvidia-fabricmanager is stopped
    fault NODE driver version 535.999  the loaded driver reports another version (a running
                                       fabric manager of its own version stops; none starts)
    fault NODE nccl wrong              collectives return corrupted data (#wrong > 0)
    fault NODE training slow 1.2       NeMo training steps take 1.2x the paper's pace
    fault NODE clear                   restore the description written at bring-up

Edits /etc/trainbed-sim/hardware.json on the node with ``docker exec`` (mock infrastructure,
not the deploy); the simulators read it on every call, so the fault shows at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lab import hardware
from lab.config import SIM_HARDWARE_PATH, state_dir
from lab.engine import MockError, docker, run

MKDEVNODES = "/usr/lib/trainbed-sim/nvidia-driver-535-server/mkdevnodes"


def apply(hw: dict[str, Any], words: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Apply a fault given as words to a description; return it and the follow-up actions."""
    match words:
        case ["hca", device, "rate", rate]:
            return hardware.fault_hca_rate(hw, device, int(rate)), []
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
    run(
        [
            "docker",
            "exec",
            "-i",
            container,
            "sh",
            "-c",
            f"cat > {SIM_HARDWARE_PATH}.tmp && mv {SIM_HARDWARE_PATH}.tmp {SIM_HARDWARE_PATH}",
        ],
        input=text,
    )


def follow_up(container: str, actions: list[str]) -> None:
    for action in actions:
        if action == "devnodes":
            docker("exec", container, "sh", "-c", f"[ ! -x {MKDEVNODES} ] || {MKDEVNODES}")
        elif action == "stop-fm":
            docker(
                "exec",
                container,
                "sh",
                "-c",
                "! systemctl is-active -q "
                "nvidia-fabricmanager || systemctl stop nvidia-fabricmanager",
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
            follow_up(container, ["devnodes", "start-fm-if-enabled"])
        else:
            hw, actions = apply(read_description(container), args.words)
            write_description(container, json.dumps(hw, indent=2) + "\n")
            follow_up(container, actions)
    except (MockError, ValueError, KeyError) as exc:
        print(f"fault: {exc}", file=sys.stderr)
        return 1
    print(f"{args.node}: {' '.join(args.words)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
