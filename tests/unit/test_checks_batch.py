"""Reads ahead: a node's reads of one check module in one SSH round trip (issue 17)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from testinfra.backend.base import BaseBackend, CommandResult

from tests.conftest import PROD_YAML, REPO
from trainbed.checks import reads
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Inventory, Node
from trainbed.remote import Remote, Unreachable

COMMANDS = [
    "echo hi",
    "printf 'no newline'",
    "echo err >&2; exit 3",
    "true",
    "printf 'a\\n\\n'; printf 'e\\n' >&2",
    "cat # a comment, and stdin is empty",
    "exit 255",
    "printf ''",
    "echo '%s %s %s' \"$d$_tb_d$_tb_s\"",
    "no-such-command-for-trainbed --version",
]


class _Local(BaseBackend):
    NAME = "local-sh"

    def run(self, command: str, *args: str, **kwargs: object) -> CommandResult:
        env = {**os.environ, "SHELL": "/bin/sh"}  # the batch runs each command with $SHELL -c
        proc = subprocess.run(
            ["sh", "-c", command], capture_output=True, stdin=subprocess.DEVNULL, env=env
        )
        return self.result(proc.returncode, command.encode(), proc.stdout, proc.stderr)


class _Host:
    """A testinfra host running commands here with sh, counting them."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail

    def run(self, command: str) -> CommandResult:
        self.sent.append(command)
        if self.fail:
            raise RuntimeError(_Local("x").result(255, b"", b"", b"ssh: connect refused"))
        return _Local("x").run(command)


def _alone(command: str) -> tuple[int, str, str]:
    result = _Local("x").run(command)
    return result.rc, result.stdout, result.stderr


def test_each_result_is_what_running_it_alone_gives() -> None:
    host = _Host()
    remote = Remote("gpu01", host, "10.0.0.1")
    remote.prefetch("module", COMMANDS)
    assert len(host.sent) == 1
    for command in COMMANDS:
        got = remote.run(command, cache=False)
        assert (got.rc, got.stdout, got.stderr) == _alone(command), command
    assert len(host.sent) == 1


def test_a_read_ahead_is_taken_once_and_asked_once_per_key() -> None:
    host = _Host()
    remote = Remote("gpu01", host, "10.0.0.1")
    remote.prefetch("module", ["date +%s%N", "echo b"])
    remote.prefetch("module", ["date +%s%N", "echo b"])
    assert len(host.sent) == 1
    first = remote.run("date +%s%N", cache=False)
    second = remote.run("date +%s%N", cache=False)  # not cached: asked again
    assert len(host.sent) == 2 and first.stdout != second.stdout
    remote.run("echo b")  # cached from here on
    remote.run("echo b")
    assert len(host.sent) == 2


def test_a_command_listed_twice_is_read_twice_in_the_one_round_trip() -> None:
    host = _Host()
    remote = Remote("gpu01", host, "10.0.0.1")
    remote.prefetch("node", ["date +%s%N", "echo a", "date +%s%N"])
    first = remote.run("date +%s%N", cache=False)
    second = remote.run("date +%s%N", cache=False)
    assert len(host.sent) == 1 and first.stdout != second.stdout
    remote.run("date +%s%N", cache=False)  # both taken: asked alone
    assert len(host.sent) == 2


def test_node_reads_gathers_the_registered_reads_of_the_node_groups() -> None:
    inv = load_inventory(PROD_YAML).inventory

    @reads.register("compute")
    def extra(_inv: Inventory, node: Node) -> list[str]:  # a module's new read
        return [f"echo compute {node.hostname}"]

    try:
        assert "echo compute gpu01" in list(reads.node_reads(inv, inv.node("gpu01")))
        assert not any(r.startswith("echo compute") for r in reads.node_reads(inv, inv.node("cp1")))
    finally:
        del reads.REGISTRY[(extra.__module__, extra.__qualname__)]


def test_an_unreachable_node_fails_its_checks_as_before() -> None:
    host = _Host(fail=True)
    remote = Remote("gpu01", host, "10.0.0.1")
    remote.prefetch("module", ["echo a", "echo b"])  # no exception here: the checks report it
    assert remote.unreachable
    with pytest.raises(Unreachable, match=r"SSH to 10\.0\.0\.1:22 failed"):
        remote.run("echo a")


#: Round trips of gpu01's checks against a fake that answers every command (exit 0, no output);
#: 80 before the checks read ahead, 27 with the catalog, infiniband and storage modules reading
#: ahead, 17 with every module reading ahead its own, 8 with the node's first check reading
#: ahead every module's reads (`trainbed.checks.reads`): the reachability `true`, the first
#: HCA counters, the node's reads, the clock's `true` and `date`, the XID journal, DCGM, munge.
ROUND_TRIPS = 8


def test_round_trips_per_compute_node(tmp_path: Path) -> None:
    counts = tmp_path / "counts.json"
    args = [
        sys.executable, "-m", "pytest", str(REPO / "trainbed" / "checks"),
        "-p", "trainbed.checks.plugin", "-p", "benchmarks.counting_remote",
        "--inventory", str(PROD_YAML), "--limit", "gpu01", "--count-out", str(counts),
        "-p", "no:cacheprovider", "-q", "--rootdir", str(REPO / "trainbed"),
    ]  # fmt: skip
    subprocess.run(args, cwd=REPO, capture_output=True, check=False, timeout=300)
    sent = json.loads(counts.read_text())
    assert len(sent["gpu01"]) <= ROUND_TRIPS, sent["gpu01"]
