"""Host key refusals worded for the inventory's known_hosts file, wherever trainbed connects.

The checks (OpenSSH), the deploy (pyinfra over paramiko) and the probe (paramiko) all verify host
keys against `ssh.known_hosts_file`; a refusal names that file and the command that removes a
stale key from it, never the default `~/.ssh/known_hosts`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from pathlib import Path


def trust_digest(known_hosts: Path, strict: str) -> str:
    """16 hex digits naming what a connection was verified against: the file's path and content.

    A missing or unreadable file has a digest of its own too, distinct from any content. The file
    is read once per (path, size, mtime): the checks ask for every host, and at 4,096 nodes a
    read per host would be quadratic in bytes.
    """
    path = Path(known_hosts).resolve()
    try:
        stat = path.stat()
        stamp: tuple[int, int] | str = (stat.st_size, stat.st_mtime_ns)
    except OSError as exc:
        stamp = f"unreadable\0{type(exc).__name__}"
    return _trust_digest(path, strict, stamp)


@functools.lru_cache(maxsize=64)
def _trust_digest(path: Path, strict: str, stamp: tuple[int, int] | str) -> str:
    digest = hashlib.sha256(f"{path}\0{strict}\0".encode())
    try:
        digest.update(b"content\0" + path.read_bytes())
    except OSError as exc:
        digest.update(f"unreadable\0{type(exc).__name__}".encode())
    return digest.hexdigest()[:16]


def known_hosts_entry(address: str, port: int = 22) -> str:
    """The host as known_hosts names it: `10.0.0.2`, or `[10.0.0.2]:2222` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def shown(known_hosts: str | Path) -> str:
    """The file as a person reads it: ``inventory/../.mock/known_hosts`` → ``.mock/known_hosts``."""
    return os.path.normpath(os.fspath(known_hosts))


def remove_key_hint(known_hosts: str | Path, address: str, port: int = 22) -> str:
    """The command that removes a host's stale key from the inventory's known_hosts file."""
    return f"ssh-keygen -f {shown(known_hosts)} -R {known_hosts_entry(address, port)}"


def changed_key(known_hosts: str | Path, address: str, port: int = 22) -> str:
    """The refusal of a host whose key differs from the one in `known_hosts`."""
    return (
        f"host key differs from the one in {shown(known_hosts)} (if the node was reinstalled, verify "
        f"its new key, then: {remove_key_hint(known_hosts, address, port)})"
    )


def unknown_host(known_hosts: str | Path, address: str, port: int = 22) -> str:
    """The refusal of a host `known_hosts` has no key for, under strict host key checking."""
    return (
        f"no host key for {known_hosts_entry(address, port)} in {shown(known_hosts)} "
        "(strict host key checking: add the node's verified key there)"
    )


#: pyinfra's hint after a changed key (`ssh-keygen -R HOST`) and its error line.
_PYINFRA_HINT = re.compile(r"^(\s*)ssh-keygen -R (\S+)\s*$")
_PYINFRA_ERROR = re.compile(r"Host key for (\S+) does not match\.")
_PYINFRA_UNKNOWN = re.compile(r"No host key for (\S+) found in known_hosts")


def reword_pyinfra(message: str, known_hosts: str | Path) -> str:
    """pyinfra's host key messages with the inventory's known_hosts file; others unchanged."""
    known_hosts = shown(known_hosts)
    hint = _PYINFRA_HINT.match(message)
    if hint:
        return f"{hint.group(1)}ssh-keygen -f {known_hosts} -R {hint.group(2)}"
    message = _PYINFRA_ERROR.sub(
        rf"Host key for \1 does not match the one in {known_hosts}.", message
    )
    return _PYINFRA_UNKNOWN.sub(rf"No host key for \1 found in {known_hosts}", message)


class PyinfraHostKeyHint(logging.Filter):
    """A filter for the `pyinfra` logger: its host key hints name the inventory's known_hosts."""

    def __init__(self, known_hosts: str | Path) -> None:
        super().__init__()
        self.known_hosts = str(known_hosts)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and not record.args:
            record.msg = reword_pyinfra(record.msg, self.known_hosts)
        return True


def install_pyinfra_hint(known_hosts: str | Path) -> None:
    """Word pyinfra's host key refusals for `known_hosts` (once per process)."""
    logger = logging.getLogger("pyinfra")
    for old in [f for f in logger.filters if isinstance(f, PyinfraHostKeyHint)]:
        logger.removeFilter(old)
    logger.addFilter(PyinfraHostKeyHint(known_hosts))
