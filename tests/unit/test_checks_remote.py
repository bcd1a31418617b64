"""Reaching nodes for the checks (no cluster): control sockets keyed by what verified them,
OpenSSH's refusals worded with the inventory's known_hosts, an unreachable node as one finding."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from testinfra.backend.base import CommandResult

from lab import inventory as mock_inventory
from tests.conftest import REPO
from trainbed.checks.junit import read_junit, summarise
from trainbed.inventory import load_inventory
from trainbed.remote import (
    CONNECT_TIMEOUT_S,
    STALE_CONTROL_DIR_S,
    Remote,
    Unreachable,
    command,
    host_spec,
    ssh_failure,
    trust_digest,
)

MOCK_YAML = REPO / "inventory" / "mock.yaml"
KNOWN_HOSTS = Path("/site/known_hosts")

#: OpenSSH 9.2's stderr when gpu01's line in known_hosts holds another key (from the mock cluster).
CHANGED_KEY_STDERR = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:Vku+OzmzwuMpOQbba2i1Eh9sc4sKLlZ6DkbZiSDGS8I.
Please contact your system administrator.
Add correct host key in /site/known_hosts to get rid of this message.
Offending ED25519 key in /site/known_hosts:2
  remove with:
  ssh-keygen -f "/site/known_hosts" -R "172.31.253.21"
Host key for 172.31.253.21 has changed and you have requested strict checking.
Host key verification failed.
"""


@pytest.fixture(scope="module")
def mock():
    return load_inventory(MOCK_YAML).inventory


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch) -> Path:
    """Control directories of these tests go under their own temporary directory."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _with_known_hosts(inventory, path: Path):
    ssh = dataclasses.replace(inventory.ssh, known_hosts_file=path)
    return dataclasses.replace(inventory, ssh=ssh)


def _control_path(inventory, host: str = "gpu01") -> str:
    extra = host_spec(inventory, inventory.node(host))[1]["ssh_extra_args"]
    return next(o for o in extra.split(" ") if o.startswith("ControlPath="))


def test_trust_digest_follows_the_known_hosts_path_content_and_strictness(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("gpu01 ssh-ed25519 AAAA1\n")
    first = trust_digest(known, "yes")
    assert trust_digest(known, "yes") == first and len(first) == 16
    assert trust_digest(known, "accept-new") != first
    known.write_text("gpu01 ssh-ed25519 AAAA2\n")
    assert trust_digest(known, "yes") != first
    other = tmp_path / "other"
    other.write_text("gpu01 ssh-ed25519 AAAA2\n")
    assert trust_digest(other, "yes") != trust_digest(known, "yes")
    empty, missing = tmp_path / "empty", tmp_path / "missing"
    empty.write_text("")
    assert trust_digest(empty, "yes") != trust_digest(missing, "yes")


def test_a_changed_known_hosts_file_never_reuses_a_master_connection(
    mock, tmp_path: Path, private_tmp: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("gpu01,172.31.250.21 ssh-ed25519 AAAA1\n")
    inventory = _with_known_hosts(mock, known)
    before = _control_path(inventory)
    assert before == _control_path(inventory)  # the same file: one master per node, reused
    assert before.endswith(f"/{trust_digest(known, 'yes')}/%C")
    known.write_text("gpu01,172.31.250.21 ssh-ed25519 AAAA2\n")
    assert _control_path(inventory) != before
    # under /tmp a socket path stays within the 108 bytes a Unix socket may have (%C is 40 hex
    # digits; OpenSSH binds a temporary name 17 bytes longer first)
    under_tmp = before.removeprefix(f"ControlPath={private_tmp}").replace("%C", "c" * 40)
    assert len("/tmp" + under_tmp) + 17 < 108


def test_stale_control_directories_are_removed_live_ones_kept(mock, private_tmp) -> None:
    base = private_tmp / f"trainbed-ssh-{os.getuid()}"
    stale, live, fresh = base / "stale", base / "live", base / "fresh"
    for path in (stale, live, fresh):
        path.mkdir(parents=True)
    (live / "socket").touch()
    hour_ago = time.time() - STALE_CONTROL_DIR_S - 1
    for path in (stale, live):
        os.utime(path, (hour_ago, hour_ago))
    _control_path(mock)
    assert not stale.exists() and live.exists() and fresh.exists()


def test_connections_are_bounded(mock) -> None:
    _, kwargs = host_spec(mock, mock.node("gpu02"))
    assert kwargs["timeout"] == CONNECT_TIMEOUT_S <= 10  # testinfra's -o ConnectTimeout
    assert "-o ServerAliveInterval=" in kwargs["ssh_extra_args"]


def test_a_changed_host_key_names_the_known_hosts_file_and_the_fix() -> None:
    assert ssh_failure(CHANGED_KEY_STDERR, KNOWN_HOSTS, "172.31.253.21") == (
        "host key differs from the one in /site/known_hosts (if the node was reinstalled, verify "
        "its new key, then: ssh-keygen -f /site/known_hosts -R 172.31.253.21)"
    )
    on_2222 = ssh_failure(CHANGED_KEY_STDERR, KNOWN_HOSTS, "172.31.253.21", 2222)
    assert on_2222.endswith("ssh-keygen -f /site/known_hosts -R [172.31.253.21]:2222)")


def test_an_unknown_host_and_a_dead_one_say_so_in_one_line() -> None:
    unknown = (
        "No ED25519 host key is known for 172.31.253.21 and you have requested strict checking.\n"
        "Host key verification failed.\n"
    )
    assert ssh_failure(unknown, KNOWN_HOSTS, "172.31.253.21") == (
        "no host key for 172.31.253.21 in /site/known_hosts (strict host key checking: add the "
        "node's verified key there)"
    )
    dead = "ssh: connect to host 172.31.253.22 port 22: No route to host\r\n"
    assert ssh_failure(dead, KNOWN_HOSTS, "172.31.253.22") == "No route to host"
    assert ssh_failure("", KNOWN_HOSTS, "x") == "no message"


class _DeadHost:
    """A testinfra ssh host whose every command exits 255 (no route), counting the attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    def run(self, command: str):
        self.attempts += 1
        backend = SimpleNamespace(decode=bytes.decode)
        stderr = b"ssh: connect to host 10.0.0.2 port 22: No route to host\r\n"
        raise RuntimeError(CommandResult(backend, 255, command.encode(), b"", stderr))


def test_a_node_that_failed_once_is_not_dialled_again() -> None:
    dead = _DeadHost()
    remote = Remote("gpu02", dead, "10.0.0.2")
    assert remote.reach() == "gpu02: SSH to 10.0.0.2:22 failed: No route to host"
    assert dead.attempts == 1
    for line in ("ibstat", "nvidia-smi -q", "true"):
        with pytest.raises(Unreachable, match=r"gpu02: SSH to 10\.0\.0\.2:22 failed: No route"):
            remote.run(line)
    assert dead.attempts == 1


@pytest.fixture
def loopback_inventory(tmp_path: Path) -> Path:
    """The mock inventory on 127.77.0.0/24 with SSH on a closed loopback port: every node refuses."""
    doc = mock_inventory.remap_subnet(mock_inventory.load(MOCK_YAML), "127.77.0.0/24")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    doc["ssh"].update(port=port, key_file="id_none", known_hosts_file="known_hosts")
    path = tmp_path / "inventory.yaml"
    path.write_text(mock_inventory.dump(doc))
    return path


def test_an_unreachable_node_is_one_finding_and_its_other_checks_could_not_run(
    loopback_inventory: Path, tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    started = time.monotonic()
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "trainbed", "check", str(loopback_inventory)),
            *("--limit", "gpu02", "--junit", str(junit), "-n", "0"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert elapsed < 30
    results = read_junit(junit, ["cp1", "gpu01", "gpu02"])
    failed = [r for r in results if r.outcome in ("failed", "error")]
    assert [(r.test_id, r.message) for r in failed] == [("test_ssh[gpu02]", failed[0].message)]
    assert failed[0].message.startswith("gpu02: SSH to 127.77.0.22:")
    assert failed[0].message.endswith(" failed: Connection refused")
    others = [r for r in results if r.test_id != "test_ssh[gpu02]"]
    assert len(others) > 50
    assert {r.outcome for r in others} == {"skipped"}
    assert all(r.message == f"could not run: {failed[0].message}" for r in others)
    (row,) = summarise(results)
    assert (row.node, row.passed, row.failed, row.skipped, row.not_run) == (
        "gpu02",
        0,
        1,
        0,
        len(others),
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("gpu02 "))
    assert line.split()[2:6] == ["0", "1", "0", str(len(others))]
    assert "test_ssh[gpu02]: gpu02: SSH to 127.77.0.22:" in line
    assert f"{failed[0].message} ({len(others)} other check(s) of gpu02 could not run)" in (
        proc.stdout.splitlines()
    )


class _EchoHost:
    """A testinfra host that records the command lines it is given."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, command: str):
        self.commands.append(command)
        return CommandResult(SimpleNamespace(decode=bytes.decode), 0, command.encode(), b"", b"")


@pytest.mark.parametrize(
    ("template", "args", "line"),
    [
        ("getent passwd %s", ("slurm",), "getent passwd slurm"),
        ("cat %s", ("/etc/a b; rm -rf /",), "cat '/etc/a b; rm -rf /'"),
        ("stat -c '%%a' %s", ("$(id)",), "stat -c '%a' '$(id)'"),
        ("sminfo -C %s -P %s", ("mlx5_0", 1), "sminfo -C mlx5_0 -P 1"),
        ("date +%s.%N", (), "date +%s.%N"),
    ],
)
def test_arguments_are_quoted_into_the_command(template: str, args: tuple, line: str) -> None:
    assert command(template, *args) == line
    host = _EchoHost()
    Remote("gpu01", host, "10.0.0.1").run(template, *args, cache=False)
    assert host.commands == [line]
