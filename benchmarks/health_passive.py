"""The health program's passive level on mock nodes: ``python benchmarks/health_passive.py``.

On each node asked (default: the first compute and the first control-plane node), runs
``trainbed-health --no-slurm --json`` (the passive level, as Slurm's HealthCheckProgram runs it,
without touching Slurm) and, as the baseline, ``python3 -c pass`` (the interpreter's start-up),
alternately, `--runs` times each, timed on the node itself (no SSH in the figure). Prints the
medians, the program's ratio to the baseline, the run's own `seconds` and its slowest command.
The goal (issue 14): the passive level ≤ 2 s on a mock node; ≤ 10 s on a real one.

With ``--state-dir DIR`` it uses a cluster that is up and deployed there; without, it brings up,
deploys and later takes down its own, as ``benchmarks/checks_suite.py`` does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.checks_suite import _take_down, open_cluster
from trainbed.health import PROGRAM_PATH

#: One timed command on the node: its wall milliseconds on the first line, its stdout after.
_TIMED = (
    "s=$(date +%s%N); {command} > /tmp/tb-bench.out 2>/dev/null; e=$(date +%s%N); "
    "echo $(( (e - s) / 1000000 )); cat /tmp/tb-bench.out"
)
PASSIVE = f"{PROGRAM_PATH} --no-slurm --json"
BASELINE = "python3 -c pass"


@dataclass(frozen=True, slots=True)
class Runs:
    """Wall seconds of the program and of the baseline, the program's own `seconds`, and the
    median per command of its timings."""

    program: list[float]
    baseline: list[float]
    own: list[float]
    commands: dict[str, float]


def measure(ssh_config: Path, node: str, runs: int) -> Runs:
    """`runs` alternating runs of the passive level and the baseline on `node`."""

    def timed(command: str) -> tuple[float, str]:
        proc = subprocess.run(
            ["ssh", "-F", str(ssh_config), node, _TIMED.format(command=command)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        millis, _, out = proc.stdout.partition("\n")
        return int(millis) / 1000, out

    program, baseline, own = [], [], []
    per_command: dict[str, list[float]] = {}
    for _ in range(runs):
        seconds, out = timed(PASSIVE)
        doc = json.loads(out)
        program.append(seconds)
        own.append(float(doc["seconds"]))
        for name, took in doc["timings"].items():
            per_command.setdefault(name, []).append(float(took))
        baseline.append(timed(BASELINE)[0])
    commands = {name: statistics.median(v) for name, v in per_command.items()}
    return Runs(program, baseline, own, commands)


def report(node: str, runs: Runs) -> str:
    program, baseline = statistics.median(runs.program), statistics.median(runs.baseline)
    slowest = max(runs.commands.items(), key=lambda kv: kv[1], default=("-", 0.0))
    return (
        f"{node}: passive level {program:.3f} s wall (min {min(runs.program):.3f}, max "
        f"{max(runs.program):.3f}), {statistics.median(runs.own):.3f} s in the run; "
        f"python3 -c pass {baseline:.3f} s; ratio {program / baseline:.1f}x; slowest command "
        f"{slowest[0]} {slowest[1]:.3f} s"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each (median)")
    parser.add_argument("--node", action="append", help="node to measure (repeatable)")
    parser.add_argument("--state-dir", type=Path, help="a deployed mock cluster to use")
    args = parser.parse_args(argv)
    state, _, _ = open_cluster(args.state_dir)
    cluster = json.loads((state / "cluster.json").read_text())
    nodes = args.node or [
        next(n["hostname"] for n in cluster["nodes"] if n["kind"] == kind)
        for kind in ("compute", "control")
    ]
    try:
        print(f"{args.runs} runs each, alternating, medians, timed on the node")
        for node in nodes:
            print(report(node, measure(state / "ssh_config", node, args.runs)))
    finally:
        if args.state_dir is None:
            _take_down(state)


if __name__ == "__main__":
    main()
