"""A pytest plugin that puts a counting fake under the checks: no SSH, every command answered.

    python -m pytest trainbed/checks -p trainbed.checks.plugin -p benchmarks.counting_remote \
        --inventory INV [--count-out counts.json] -p no:cacheprovider -q

`trainbed.remote.Remote.connect` gives each node a fake testinfra host that answers every
command with exit 0 and no output (the checks then fail, which costs them no commands they would
otherwise send: a check sends its commands before it judges). The commands each node was sent
(one SSH round trip each) go to --count-out as JSON, `{hostname: [command, ...]}`, in order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testinfra.backend.base import BaseBackend, CommandResult

from trainbed.inventory.model import Inventory
from trainbed.remote import Remote

SENT: dict[str, list[str]] = {}


_BATCHED = re.compile(r"^\( exec ", re.M)
_MARKER = re.compile(r"printf '%s %s %s\\n' (\S+) ")


class _Backend(BaseBackend):
    NAME = "counting"

    def run(self, command: str, *args: str, **kwargs: object) -> CommandResult:
        marker = _MARKER.search(command)
        if marker is None:
            return self.result(0, command.encode(), b"", b"")
        # `Remote.prefetch`'s batch: each command answered so, in the batch's own form.
        parts = _BATCHED.findall(command)  # one line per batched command
        out = "".join(f"{marker[1]} {i} 0\n\n{marker[1]}\n\n" for i in range(len(parts)))
        return self.result(0, command.encode(), out.encode(), b"")


@dataclass
class FakeHost:
    """What `Remote` uses of a testinfra host: `run`. Every command is recorded, none is sent."""

    hostname: str
    sent: list[str] = field(default_factory=list)

    def run(self, command: str) -> CommandResult:
        self.sent.append(command)
        return _Backend(self.hostname).run(command)


def _connect(cls: type[Remote], inventory: Inventory, hostname: str) -> Remote:
    node = inventory.node(hostname)
    host = FakeHost(hostname, SENT.setdefault(hostname, []))
    return cls(hostname, host, node.address, inventory.ssh.port, inventory.ssh.known_hosts_file)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--count-out", default=None, help="write {host: [commands]} JSON here")


def pytest_configure(config: pytest.Config) -> None:
    Remote.connect = classmethod(_connect)  # type: ignore[method-assign,assignment]


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = session.config.getoption("count_out")
    if out:
        Path(out).write_text(json.dumps(SENT))
