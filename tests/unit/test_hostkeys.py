"""Host key refusals name the inventory's known_hosts file: deploy (pyinfra) and probe (paramiko)."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
from pathlib import Path

import paramiko
import pytest

from tests.conftest import REPO
from trainbed.hostkeys import (
    PyinfraHostKeyHint,
    changed_key,
    known_hosts_entry,
    remove_key_hint,
    reword_pyinfra,
    shown,
    trust_digest,
    unknown_host,
)
from trainbed.inventory import load_inventory
from trainbed.inventory.pyinfra_module import groups_for
from trainbed.remote import RemoteError, SshRemote

MOCK_YAML = REPO / "inventory" / "mock.yaml"
KNOWN = "/site/known_hosts"


def test_entry_and_hint_follow_the_port() -> None:
    assert known_hosts_entry("10.0.0.2") == "10.0.0.2"
    assert known_hosts_entry("10.0.0.2", 2222) == "[10.0.0.2]:2222"
    assert remove_key_hint(KNOWN, "10.0.0.2") == f"ssh-keygen -f {KNOWN} -R 10.0.0.2"


def test_pyinfra_messages_are_reworded_for_the_inventory_file() -> None:
    # the lines pyinfra 3.10 logs after paramiko's BadHostKeyException (connectors/ssh.py)
    assert reword_pyinfra("    ssh-keygen -R 172.31.253.21", KNOWN) == (
        f"    ssh-keygen -f {KNOWN} -R 172.31.253.21"
    )
    assert reword_pyinfra("    ssh-keygen -R [10.0.0.2]:2222", KNOWN).endswith(
        f"-f {KNOWN} -R [10.0.0.2]:2222"
    )
    error = "[gpu01] \x1b[31mSSH host key error (Host key for 172.31.253.21 does not match.)\x1b[0m"
    assert f"Host key for 172.31.253.21 does not match the one in {KNOWN}." in reword_pyinfra(
        error, KNOWN
    )
    strict = "SSH error (StrictPolicy: No host key for gpu01 found in known_hosts)"
    assert reword_pyinfra(strict, KNOWN).endswith(f"No host key for gpu01 found in {KNOWN})")
    assert reword_pyinfra("Connected", KNOWN) == "Connected"


def test_the_pyinfra_inventory_module_installs_the_hint(caplog, monkeypatch) -> None:
    monkeypatch.setenv("TRAINBED_INVENTORY", str(MOCK_YAML))
    groups_for(MOCK_YAML)
    logger = logging.getLogger("pyinfra")
    hints = [f for f in logger.filters if isinstance(f, PyinfraHostKeyHint)]
    known = load_inventory(MOCK_YAML).inventory.ssh.known_hosts_file
    assert [h.known_hosts for h in hints] == [str(known)]
    groups_for(MOCK_YAML)  # a second import does not stack filters
    assert len([f for f in logger.filters if isinstance(f, PyinfraHostKeyHint)]) == 1
    with caplog.at_level(logging.WARNING, logger="pyinfra"):
        logger.warning("    ssh-keygen -R 172.31.250.21")
    assert caplog.messages == [f"    ssh-keygen -f {shown(known)} -R 172.31.250.21"]
    assert ".." not in shown(known)


@pytest.fixture
def mock_inventory(tmp_path: Path):
    inventory = load_inventory(MOCK_YAML).inventory
    known = tmp_path / "known_hosts"
    known.write_text("")
    ssh = dataclasses.replace(inventory.ssh, known_hosts_file=known)
    return dataclasses.replace(inventory, ssh=ssh), known


def _refuse(monkeypatch, exc: Exception) -> None:
    def connect(self, *args, **kwargs):
        raise exc

    monkeypatch.setattr(paramiko.SSHClient, "connect", connect)


def test_the_probe_names_the_known_hosts_file_for_a_changed_key(mock_inventory, monkeypatch):
    inventory, known = mock_inventory
    key = paramiko.Ed25519Key.from_private_key_file(str(_key(known.parent)))
    _refuse(monkeypatch, paramiko.BadHostKeyException("172.31.250.11", key, key))
    with pytest.raises(RemoteError) as caught:
        SshRemote.connect(inventory, "cp1", "172.31.250.11")
    assert str(caught.value) == f"cp1 (172.31.250.11): {changed_key(known, '172.31.250.11')}"
    assert f"ssh-keygen -f {known} -R 172.31.250.11" in str(caught.value)


def test_the_probe_names_the_known_hosts_file_for_an_unknown_host(mock_inventory, monkeypatch):
    inventory, known = mock_inventory
    _refuse(monkeypatch, paramiko.SSHException("Server '172.31.250.11' not found in known_hosts"))
    with pytest.raises(RemoteError, match=f"no host key for 172.31.250.11 in {known} "):
        SshRemote.connect(inventory, "cp1", "172.31.250.11")


def _key(directory: Path) -> Path:
    path = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30
    )
    return path


def test_refusals_name_the_file_without_dot_dot() -> None:
    known = "/site/inventory/../.mock/known_hosts"
    assert changed_key(known, "10.0.0.2").startswith(
        "host key differs from the one in /site/.mock/known_hosts (if"
    )
    assert "ssh-keygen -f /site/.mock/known_hosts -R 10.0.0.2" in changed_key(known, "10.0.0.2")
    assert " in /site/.mock/known_hosts " in unknown_host(known, "10.0.0.2")
    assert reword_pyinfra("    ssh-keygen -R 10.0.0.2", known) == (
        "    ssh-keygen -f /site/.mock/known_hosts -R 10.0.0.2"
    )


def test_the_trust_digest_reads_known_hosts_once_per_content(tmp_path: Path, monkeypatch) -> None:
    """Asked once per host: at 4,096 nodes a read each time would be quadratic in bytes."""
    known = tmp_path / "known_hosts"
    known.write_text("10.0.0.1 ssh-ed25519 AAAAfirst\n")
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real(self))
    first = trust_digest(known, "yes")
    assert all(trust_digest(known, "yes") == first for _ in range(100))
    assert len(reads) == 1
    known.write_text("10.0.0.1 ssh-ed25519 AAAAsecond-key\n")
    assert trust_digest(known, "yes") != first
    assert len(reads) == 2
