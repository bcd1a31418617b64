"""Reaching a node for the checks: testinfra's `ssh` backend (OpenSSH, host keys verified).

The paramiko backend never verifies host keys, so the checks use OpenSSH with the inventory's
`strict_host_key_checking` and known_hosts file, and one multiplexed connection per node.

A master connection outlives its run by `CONTROL_PERSIST_S`, and a command sent through it is not
verified again. So the sockets live in a directory named by a digest of the known_hosts file (its
path and content) and the strictness: a run reuses a master only when it was verified against the
file exactly as this run would verify it; after any change to the file every connection is new.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import testinfra
from testinfra.backend.base import CommandResult

from trainbed.hostkeys import changed_key, shown, trust_digest, unknown_host
from trainbed.inventory.model import Inventory, Node, Ssh
from trainbed.remote import command as shell_command
from trainbed.verdicts import service

#: How long an idle master connection stays up after the last command.
CONTROL_PERSIST_S = 60
#: Seconds OpenSSH waits for a node to accept the connection and greet (ConnectTimeout).
CONNECT_TIMEOUT_S = 5
#: Hosts the reachability pre-pass asks at once.
REACH_PARALLEL = 32
#: Keepalives: a node that stops answering mid-command is given up after 3 × 5 s.
SERVER_ALIVE_INTERVAL_S = 5
SERVER_ALIVE_COUNT_MAX = 3


def control_dir(ssh: Ssh) -> Path:
    """A private directory for the ControlMaster sockets verified against `ssh`'s known_hosts.

    `<tmp>/trainbed-ssh-<uid>/<trust digest>`: short, since socket paths are limited to 108 bytes.
    Directories of earlier known_hosts contents that have been empty for an hour are removed.
    """
    base = Path(tempfile.gettempdir()) / f"trainbed-ssh-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    path = base / trust_digest(ssh.known_hosts_file, ssh.strict_host_key_checking)
    path.mkdir(mode=0o700, exist_ok=True)
    _prune(base, keep=path)
    return path


#: A control directory untouched this long holds no master (each one persists 60 s).
STALE_CONTROL_DIR_S = 3600


def _prune(base: Path, keep: Path) -> None:
    now = time.time()
    for old in base.iterdir():
        try:
            if old != keep and old.is_dir() and now - old.stat().st_mtime > STALE_CONTROL_DIR_S:
                old.rmdir()  # only when empty: a live master keeps its socket there
        except OSError:
            continue


def host_spec(inventory: Inventory, node: Node) -> tuple[str, dict[str, Any]]:
    """testinfra host spec and backend arguments for `node`."""
    ssh = inventory.ssh
    extra = " ".join(
        (
            f"-o StrictHostKeyChecking={ssh.strict_host_key_checking}",
            f"-o UserKnownHostsFile={ssh.known_hosts_file}",
            "-o BatchMode=yes",
            f"-o ServerAliveInterval={SERVER_ALIVE_INTERVAL_S}",
            f"-o ServerAliveCountMax={SERVER_ALIVE_COUNT_MAX}",
            f"-o ControlPath={control_dir(ssh)}/%C",
        )
    )
    return (
        f"ssh://{ssh.user}@{node.address}:{ssh.port}",
        {
            "ssh_identity_file": str(ssh.key_file),
            "ssh_extra_args": extra,
            "controlpersist": CONTROL_PERSIST_S,
            "timeout": CONNECT_TIMEOUT_S,
        },
    )


_CONNECT_PREFIX = re.compile(r"^ssh: connect to host \S+ port \d+: ")
_NO_KEY = re.compile(r"No \S+ host key is known for")


def ssh_failure(stderr: str, known_hosts: Path, address: str, port: int = 22) -> str:
    """What went wrong, from OpenSSH's stderr, in one line; host key refusals name the file."""
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr or re.search(
        r"Host key for \S+ has changed", stderr
    ):
        return changed_key(known_hosts, address, port)
    if _NO_KEY.search(stderr):
        return unknown_host(known_hosts, address, port)
    if "Host key verification failed" in stderr:
        return f"host key verification against {shown(known_hosts)} failed"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return _CONNECT_PREFIX.sub("", lines[-1]) if lines else "no message"


class Unreachable(AssertionError):
    """SSH to the node failed (exit 255): the node's checks could not run."""


@dataclass
class Remote:
    """A node's testinfra host; read-only command output is cached for the whole session.

    After one SSH failure the node is `unreachable` (the message): later commands fail at once
    with it instead of connecting again.
    """

    hostname: str
    host: Any  # testinfra.host.Host
    address: str
    port: int = 22
    known_hosts: Path = Path("known_hosts")
    unreachable: str | None = None
    _cache: dict[str, CommandResult] = field(default_factory=dict, repr=False)

    @classmethod
    def connect(cls, inventory: Inventory, hostname: str) -> Remote:
        node = inventory.node(hostname)
        spec, kwargs = host_spec(inventory, node)
        ssh = inventory.ssh
        return cls(
            hostname,
            testinfra.get_host(spec, **kwargs),
            node.address,
            ssh.port,
            ssh.known_hosts_file,
        )

    def reach(self) -> str | None:
        """None when the node answers `true` over SSH, else why not (and it is `unreachable`)."""
        try:
            self.run("true", cache=False)
        except Unreachable as exc:
            return str(exc)
        return None

    def run(self, command: str, *args: object, cache: bool = True) -> CommandResult:
        """Run `command` with `args` shell-quoted into its `%s` (`trainbed.remote.command`); SSH
        failures raise `Unreachable` with OpenSSH's reason."""
        command = shell_command(command, *args)
        if self.unreachable:
            raise Unreachable(self.unreachable)
        if cache and command in self._cache:
            return self._cache[command]
        try:
            result = self.host.run(command)
        except RuntimeError as exc:
            # testinfra's ssh backend raises on exit 255, which is also what some commands
            # (sminfo, ibstat on an error) return themselves: only a failing `true` means SSH.
            result = exc.args[0] if exc.args else None
            if not isinstance(result, CommandResult) or (command == "true" or not self._answers()):
                stderr = getattr(result, "stderr", "") or str(exc)
                reason = ssh_failure(stderr, self.known_hosts, self.address, self.port)
                self.unreachable = (
                    f"{self.hostname}: SSH to {self.address}:{self.port} failed: {reason}"
                )
                raise Unreachable(self.unreachable) from None
        if cache:
            self._cache[command] = result
        return result

    def _answers(self) -> bool:
        try:
            return self.host.run("true").rc == 0
        except RuntimeError:
            return False

    def output(self, command: str, *args: object, cache: bool = True) -> str:
        """stdout of a command that must succeed; a failure names the node, command and stderr."""
        command = shell_command(command, *args)
        result = self.run(command, cache=cache)
        if result.rc != 0:
            stderr = " ".join(result.stderr.split())[:300]
            raise AssertionError(
                f"{self.hostname}: `{command}` failed: expected exit 0, got {result.rc} ({stderr})"
            )
        return result.stdout

    def unit_state(self, unit: str) -> tuple[str, str]:
        """(`is-active`, `is-enabled`) answers for a systemd unit, read in one command, never
        cached: the order `trainbed.verdicts.service.problem` takes them in."""
        template, args = service.state_command(unit)
        enabled, active = service.parse_state(self.output(template, *args, cache=False))
        return active, enabled


def reach_all(
    inventory: Inventory, hostnames: Iterable[str], parallel: int = REACH_PARALLEL
) -> dict[str, str]:
    """hostname → why SSH failed, for each host that did not answer `true` (asked in parallel).

    Each answer is bounded by `CONNECT_TIMEOUT_S` (and the keepalives); the master connections
    it opens serve the checks that follow.
    """
    hosts = list(dict.fromkeys(hostnames))
    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=min(parallel, len(hosts))) as pool:
        answers = list(pool.map(lambda h: (h, Remote.connect(inventory, h).reach()), hosts))
    return {host: why for host, why in answers if why}
