"""Reaching a host: the one remote-command layer of the checks and the probes.

Commands are built one way, :func:`command`: like testinfra's ``host.run(cmd, *args)``, a
template whose ``%s`` take the arguments, each quoted with `shlex.quote`, so a hostname, path,
unit or job id cannot change what the shell runs. Both transports take their arguments so:

* :class:`Remote` — a node for the acceptance checks: testinfra's `ssh` backend (OpenSSH, host
  keys verified, one multiplexed connection per node), read-only output cached per session.
* :class:`SshRemote` — the probes' submit host (:class:`SubmitHost`): paramiko, commands over an
  exec channel bounded by a timeout, files over SFTP.

The paramiko backend of testinfra never verifies host keys, so the checks use OpenSSH with the
inventory's `strict_host_key_checking` and known_hosts file. A master connection outlives its run
by `CONTROL_PERSIST_S`, and a command sent through it is not verified again. So the sockets live
in a directory named by a digest of the known_hosts file (its path and content) and the
strictness: a run reuses a master only when it was verified against the file exactly as this run
would verify it; after any change to the file every connection is new.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import paramiko
import testinfra
from testinfra.backend.base import CommandResult

from trainbed.errors import TrainbedError
from trainbed.hostkeys import changed_key, shown, trust_digest, unknown_host
from trainbed.inventory.model import Inventory, Node, Ssh
from trainbed.verdicts import service


def command(template: str, *args: object) -> str:
    """`template` with each ``%s`` replaced by the shell-quoted `str()` of the next argument
    (``%%`` is a literal ``%``); without arguments `template` itself, unformatted.

    >>> command("getent passwd %s", "a b")
    "getent passwd 'a b'"
    """
    if not args:
        return template
    return template % tuple(shlex.quote(str(a)) for a in args)


#: `command` is also the name of the methods' parameter.
_format = command


# --------------------------------------------------------------------------- checks: OpenSSH

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
    #: Results read ahead by `prefetch`, in order, each taken by the next `run` of its command.
    _ahead: dict[str, list[CommandResult]] = field(default_factory=dict, repr=False)
    _prefetched: set[str] = field(default_factory=set, repr=False)

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
        command = _format(command, *args)
        if self.unreachable:
            raise Unreachable(self.unreachable)
        if cache and command in self._cache:
            return self._cache[command]
        queued = self._ahead.get(command)
        if queued:
            ahead = queued.pop(0)
            if not queued:
                del self._ahead[command]
            if cache:
                self._cache[command] = ahead
            return ahead
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

    def prefetch(self, key: str, commands: Iterable[str]) -> None:
        """Run read-only `commands` (each already formatted, as `command` makes them) in one
        round trip, once per `key` for this node; the next `run` of each takes its result, which
        is what running it alone would have given (exit status, stdout, stderr).

        The checks of one kind (a node's rails, units, HCAs) each read one item: the first of
        them reads ahead for all, so the node costs one round trip, not one per item. A command
        listed n times is read n times (less what is read ahead already), for its next n runs:
        two checks that each read the same state uncached each get a reading of their own.
        `commands` is consumed only when `key` is new.
        """
        if key in self._prefetched or self.unreachable:
            return
        self._prefetched.add(key)
        wanted = [
            c
            for c, n in Counter(commands).items()
            if c not in self._cache
            for _ in range(n - len(self._ahead.get(c, ())))
        ]
        if len(wanted) < 2:
            return
        marker = f"trainbed-{uuid.uuid4().hex}"
        try:
            result = self.run(batch_script(wanted, marker), cache=False)
            if result.rc == 0:
                for c, got in zip(wanted, split_batch(result, wanted, marker), strict=True):
                    self._ahead.setdefault(c, []).append(got)
        except (Unreachable, ValueError):
            # Unreachable: now marked so, each command fails with it as before. Output not in
            # the batch's form: each command runs alone, as without the read-ahead.
            return

    def _answers(self) -> bool:
        try:
            return self.host.run("true").rc == 0
        except RuntimeError:
            return False

    def output(self, command: str, *args: object, cache: bool = True) -> str:
        """stdout of a command that must succeed; a failure names the node, command and stderr."""
        command = _format(command, *args)
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


def batch_script(commands: Sequence[str], marker: str) -> str:
    """A shell script running each command as SSH would alone: by the login shell's `-c` (so
    its messages, `bash: line 1: …`, are the same), stdin from /dev/null; then printing each
    one's exit status, stdout and stderr between `marker` lines (`split_batch` reads them)."""
    lines = [
        "_tb_d=$(mktemp -d) || exit 1",
        "trap 'rm -rf \"$_tb_d\"' EXIT",
        # By its name, as sshd starts it (its messages begin with that name).
        '_tb_s=${SHELL:-/bin/sh}; command -v "${_tb_s##*/}" >/dev/null && _tb_s=${_tb_s##*/}',
    ]
    for i, cmd in enumerate(commands):
        out, err, rc = (f'"$_tb_d/{kind}{i}"' for kind in "oer")
        run = f'"$_tb_s" -c {shlex.quote(cmd)}'
        lines.append(f"( exec {run} ) >{out} 2>{err} </dev/null; echo $? >{rc}")
    for i in range(len(commands)):
        out, err, rc = (f'"$_tb_d/{kind}{i}"' for kind in "oer")
        lines.append(
            f"printf '%s %s %s\\n' {marker} {i} \"$(cat {rc})\"; cat {out}; "
            f"printf '\\n%s\\n' {marker}; cat {err}; printf '\\n'"
        )
    return "\n".join(lines)


def split_batch(result: CommandResult, commands: Sequence[str], marker: str) -> list[CommandResult]:
    """Each command's result from `batch_script`'s output."""
    pattern = re.compile(
        rf"^{marker} (\d+) (\d+)\n(.*?)\n{marker}\n(.*?)\n(?={marker} |\Z)", re.S | re.M
    )
    found = {int(m[1]): m for m in pattern.finditer(result.stdout)}
    if sorted(found) != list(range(len(commands))):
        raise ValueError(f"batched output lists {sorted(found)} of {len(commands)} commands")
    backend = result.backend
    return [
        CommandResult(backend, int(found[i][2]), cmd.encode(), found[i][3], found[i][4])
        for i, cmd in enumerate(commands)
    ]


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


# --------------------------------------------------------------------------- probes: paramiko


class RemoteError(TrainbedError):
    """The submit host cannot be reached, or refused a file operation."""


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished remote command. ``returncode`` is None when it ran past its timeout."""

    command: str
    returncode: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class SubmitHost(Protocol):
    """What the probe run needs from the submit host."""

    host: str

    def run(self, command: str, *args: object, timeout: float = 60.0) -> Completed:
        """Run ``command`` (its ``%s`` given ``args``, quoted: :func:`command`) through the login
        shell, bounded by ``timeout`` seconds."""
        ...

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        """Create or replace the file ``path``."""
        ...

    def read_text(self, path: str) -> str | None:
        """The content of ``path``; None when it does not exist."""
        ...

    def read_bytes(self, path: str) -> bytes | None:
        """The bytes of ``path``; None when it does not exist."""
        ...

    def close(self) -> None: ...


def host_key_policy(strict: str) -> paramiko.MissingHostKeyPolicy:
    """OpenSSH's ``StrictHostKeyChecking`` as a paramiko policy for a host not in known_hosts.

    A *changed* key is always refused (paramiko raises ``BadHostKeyException``); this only
    decides about an unknown host: "yes" refuses it, "accept-new" adds it, "no" warns.
    """
    if strict == "yes":
        return paramiko.RejectPolicy()
    if strict == "accept-new":
        return paramiko.AutoAddPolicy()
    return paramiko.WarningPolicy()


class SshRemote:
    """A paramiko connection to one host with the inventory's SSH settings (the probes' submit
    host: commands over an exec channel, files over SFTP, each command bounded by its timeout)."""

    def __init__(self, client: paramiko.SSHClient, host: str) -> None:
        self._client = client
        self._sftp: paramiko.SFTPClient | None = None
        self.host = host

    @classmethod
    def connect(
        cls, inventory: Inventory, hostname: str, address: str, timeout: float = 30.0
    ) -> SshRemote:
        """Connect to ``address`` (node ``hostname``), verifying its host key."""
        ssh = inventory.ssh
        client = paramiko.SSHClient()
        known_hosts = Path(ssh.known_hosts_file).expanduser()
        try:
            client.load_host_keys(str(known_hosts))
        except FileNotFoundError:
            if ssh.strict_host_key_checking == "yes":
                raise RemoteError(
                    f"{known_hosts}: no such known_hosts file; strict host key checking is on"
                ) from None
        except OSError as exc:
            raise RemoteError(f"{known_hosts}: cannot read: {exc}") from None
        client.set_missing_host_key_policy(host_key_policy(ssh.strict_host_key_checking))
        try:
            client.connect(
                address,
                port=ssh.port,
                username=ssh.user,
                key_filename=str(Path(ssh.key_file).expanduser()),
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise RemoteError(
                f"{hostname} ({address}): {changed_key(known_hosts, address, ssh.port)}"
            ) from None
        except paramiko.SSHException as exc:
            client.close()
            why = str(exc)
            if "not found in known_hosts" in why:  # paramiko's RejectPolicy
                why = unknown_host(known_hosts, address, ssh.port)
            raise RemoteError(f"{hostname} ({address}): {why}") from None
        except OSError as exc:
            client.close()
            raise RemoteError(f"{hostname} ({address}): cannot connect: {exc}") from None
        if ssh.strict_host_key_checking == "accept-new":
            client.save_host_keys(str(known_hosts))
        return cls(client, hostname)

    def run(self, command: str, *args: object, timeout: float = 60.0) -> Completed:
        command = _format(command, *args)
        try:
            _, stdout, stderr = self._client.exec_command(command, timeout=timeout)
            channel = stdout.channel
            deadline = time.monotonic() + timeout
            out, err = bytearray(), bytearray()
            # Drain both streams while waiting so a chatty command cannot fill the window.
            while time.monotonic() < deadline:
                while channel.recv_ready():
                    out += channel.recv(1 << 16)
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(1 << 16)
                if channel.exit_status_ready() and not (
                    channel.recv_ready() or channel.recv_stderr_ready()
                ):
                    break
                time.sleep(0.02)
            else:
                channel.close()
                return Completed(command, None, out.decode(errors="replace"), "timed out")
            code = channel.recv_exit_status()
            out += stdout.read()
            err += stderr.read()
        except (paramiko.SSHException, OSError) as exc:
            raise RemoteError(f"{self.host}: {command!r}: {exc}") from None
        return Completed(command, code, out.decode(errors="replace"), err.decode(errors="replace"))

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self._client.open_sftp()
        return self._sftp

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        try:
            sftp = self._sftp_client()
            with sftp.open(path, "w") as fh:
                fh.write(text.encode())
            sftp.chmod(path, mode)
        except (OSError, paramiko.SSHException) as exc:
            raise RemoteError(f"{self.host}:{path}: cannot write: {exc}") from None

    def read_text(self, path: str) -> str | None:
        data = self.read_bytes(path)
        return None if data is None else data.decode(errors="replace")

    def read_bytes(self, path: str) -> bytes | None:
        try:
            with self._sftp_client().open(path, "rb") as fh:
                fh.prefetch()  # pipelined reads: one round trip's latency, not one per 32 KiB
                return fh.read()
        except FileNotFoundError:
            return None
        except (OSError, paramiko.SSHException) as exc:
            raise RemoteError(f"{self.host}:{path}: cannot read: {exc}") from None

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self._client.close()
