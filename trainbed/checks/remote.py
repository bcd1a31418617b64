"""Reaching a node for the checks: testinfra's `ssh` backend (OpenSSH, host keys verified).

The paramiko backend never verifies host keys, so the checks use OpenSSH with the inventory's
`strict_host_key_checking` and known_hosts file, and one multiplexed connection per node.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import testinfra
from testinfra.backend.base import CommandResult

from trainbed.inventory.model import Inventory, Node

#: How long an idle master connection stays up after the last command.
CONTROL_PERSIST_S = 60


def control_dir() -> Path:
    """A private directory for the ControlMaster sockets (short: socket paths are limited)."""
    path = Path(tempfile.gettempdir()) / f"trainbed-ssh-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def host_spec(inventory: Inventory, node: Node) -> tuple[str, dict[str, Any]]:
    """testinfra host spec and backend arguments for `node`."""
    ssh = inventory.ssh
    extra = " ".join(
        (
            f"-o StrictHostKeyChecking={ssh.strict_host_key_checking}",
            f"-o UserKnownHostsFile={ssh.known_hosts_file}",
            "-o BatchMode=yes",
            f"-o ControlPath={control_dir()}/%C",
        )
    )
    return (
        f"ssh://{ssh.user}@{node.address}:{ssh.port}",
        {
            "ssh_identity_file": str(ssh.key_file),
            "ssh_extra_args": extra,
            "controlpersist": CONTROL_PERSIST_S,
        },
    )


class Unreachable(AssertionError):
    """SSH to the node failed (exit 255): every check of the node fails with this message."""


@dataclass
class Remote:
    """A node's testinfra host; read-only command output is cached for the whole session."""

    hostname: str
    host: Any  # testinfra.host.Host
    address: str
    _cache: dict[str, CommandResult] = field(default_factory=dict, repr=False)

    @classmethod
    def connect(cls, inventory: Inventory, hostname: str) -> Remote:
        node = inventory.node(hostname)
        spec, kwargs = host_spec(inventory, node)
        return cls(hostname, testinfra.get_host(spec, **kwargs), node.address)

    def run(self, command: str, cache: bool = True) -> CommandResult:
        """Run `command`; SSH failures raise `Unreachable` with OpenSSH's message."""
        if cache and command in self._cache:
            return self._cache[command]
        try:
            result = self.host.run(command)
        except RuntimeError as exc:
            # testinfra's ssh backend raises on exit 255, which is also what some commands
            # (sminfo, ibstat on an error) return themselves: only a failing `true` means SSH.
            result = exc.args[0] if exc.args else None
            if not isinstance(result, CommandResult) or not self._answers():
                raise Unreachable(
                    f"{self.hostname}: SSH to {self.address} failed: {self._reason(result, exc)}"
                ) from None
        if cache:
            self._cache[command] = result
        return result

    def _answers(self) -> bool:
        try:
            return self.host.run("true").rc == 0
        except RuntimeError:
            return False

    @staticmethod
    def _reason(result: CommandResult | None, exc: Exception) -> str:
        stderr = getattr(result, "stderr", "") or str(exc)
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else "no message"

    def output(self, command: str, cache: bool = True) -> str:
        """stdout of a command that must succeed; a failure names the node, command and stderr."""
        result = self.run(command, cache)
        if result.rc != 0:
            stderr = " ".join(result.stderr.split())[:300]
            raise AssertionError(
                f"{self.hostname}: `{command}` failed: expected exit 0, got {result.rc} ({stderr})"
            )
        return result.stdout
