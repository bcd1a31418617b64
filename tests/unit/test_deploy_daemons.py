"""The post-condition the deploy runs after starting a daemon, run here against a fake systemd.

`systemctl` and `journalctl` are shell stand-ins on PATH: each `is-active`/`show` answer is the next
line of a file, so a test can script a unit that fails, never listens, or dies while settling.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from deploy.daemons import Daemon, postcondition_script

FAKE_SYSTEMCTL = """#!/bin/sh
# is-active UNIT | show -p NRestarts --value UNIT: the next line of $FAKE/UNIT.<states|restarts>
case "$1" in
  is-active) f="$FAKE/$2.states" ;;
  *) for u; do :; done; f="$FAKE/$u.restarts" ;;
esac
head -n 1 "$f"
[ "$(wc -l < "$f")" -gt 1 ] && sed -i 1d "$f"
exit 0
"""
FAKE_JOURNALCTL = """#!/bin/sh
echo "Dec 01 09:45:44 cp1 systemd[1]: $2.service: Main process exited, code=exited, status=1/FAILURE"
echo "Dec 01 09:45:44 cp1 systemd[1]: $2.service: Failed with result 'exit-code'."
"""


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("systemctl", FAKE_SYSTEMCTL), ("journalctl", FAKE_JOURNALCTL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def unit(fake: Path, name: str, states: list[str], restarts: list[str]) -> None:
    (fake / f"{name}.states").write_text("\n".join(states) + "\n")
    (fake / f"{name}.restarts").write_text("\n".join(restarts) + "\n")


def run(fake: Path, daemons: list[Daemon]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAKE": str(fake), "PATH": f"{fake / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(
        ["sh", "-c", postcondition_script("cp1", daemons, settle_s=0.1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_active_daemon_passes(fake: Path) -> None:
    unit(fake, "munge", ["active"], ["0"])
    proc = run(fake, [Daemon("munge")])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_failed_daemon_fails_naming_host_unit_journal_and_log(fake: Path) -> None:
    log = fake / "slurmctld.log"
    log.write_text("fatal: You are running with a database but for some reason we have no TRES\n")
    unit(fake, "slurmctld", ["failed"], ["0"])
    proc = run(fake, [Daemon("slurmctld", log_file=str(log), timeout_s=5)])
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == (
        "cp1: slurmctld is failed after its start (waited 0 of 5 s); last 15 journal lines:"
    )
    assert "slurmctld.service: Main process exited, code=exited, status=1/FAILURE" in lines[1]
    assert f"  last lines of {log}:" in lines
    assert lines[-1].strip().startswith("fatal: You are running with a database")


def test_active_but_not_listening_fails_after_the_bound(fake: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    unit(fake, "slurmdbd", ["active"], ["0"])
    proc = run(fake, [Daemon("slurmdbd", port=port, timeout_s=1)])
    assert proc.returncode == 1
    assert (
        f"slurmdbd is active but not listening on port {port} after its start (waited 1 of 1 s)"
        in proc.stderr
    )


def test_listening_daemon_passes(fake: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        unit(fake, "slurmdbd", ["activating", "active"], ["0"])
        proc = run(fake, [Daemon("slurmdbd", port=s.getsockname()[1], timeout_s=10)])
    assert proc.returncode == 0, proc.stderr


def test_daemon_that_dies_while_settling_fails(fake: Path) -> None:
    unit(fake, "slurmd", ["active", "failed"], ["0"])
    proc = run(fake, [Daemon("slurmd")])
    assert proc.returncode == 1
    assert (
        "cp1: slurmd was active, then failed (systemd restarts 0 -> 0) within 0.1 s" in proc.stderr
    )


def test_daemon_restarted_by_systemd_while_settling_fails(fake: Path) -> None:
    """Restart=on-failure brings a crashed daemon back: active again, but it did not stay up."""
    unit(fake, "nvidia-dcgm", ["active"], ["0", "1"])
    proc = run(fake, [Daemon("nvidia-dcgm")])
    assert proc.returncode == 1
    assert "cp1: nvidia-dcgm was active, then active (systemd restarts 0 -> 1)" in proc.stderr


def test_every_failure_is_reported_not_only_the_first(fake: Path) -> None:
    unit(fake, "nvidia-fabricmanager", ["failed"], ["0"])
    unit(fake, "nvidia-persistenced", ["active"], ["0"])
    unit(fake, "nvidia-dcgm", ["inactive"], ["0"])
    proc = run(
        fake,
        [Daemon("nvidia-fabricmanager"), Daemon("nvidia-persistenced"), Daemon("nvidia-dcgm")],
    )
    assert proc.returncode == 1
    assert "cp1: nvidia-fabricmanager is failed" in proc.stderr
    assert "cp1: nvidia-dcgm is inactive" in proc.stderr
    assert "nvidia-persistenced" not in proc.stderr
