"""The submit host as the probe run sees it: run a command, read and write files.

:class:`Remote` is the seam the run is written against; :class:`SshRemote` implements it with
paramiko (commands over an exec channel, files over SFTP) and verifies the host key against the
inventory's known_hosts file. Tests substitute a fake.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko

from trainbed.errors import TrainbedError
from trainbed.hostkeys import changed_key, unknown_host
from trainbed.inventory.model import Inventory


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


class Remote(Protocol):
    """What the run needs from the submit host."""

    host: str

    def run(self, command: str, timeout: float = 60.0) -> Completed:
        """Run ``command`` through the login shell, bounded by ``timeout`` seconds."""
        ...

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        """Create or replace the file ``path``."""
        ...

    def read_text(self, path: str) -> str | None:
        """The content of ``path``; None when it does not exist."""
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
    """A paramiko connection to one host with the inventory's SSH settings."""

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

    def run(self, command: str, timeout: float = 60.0) -> Completed:
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
        try:
            with self._sftp_client().open(path, "r") as fh:
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return None
        except (OSError, paramiko.SSHException) as exc:
            raise RemoteError(f"{self.host}:{path}: cannot read: {exc}") from None

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self._client.close()
