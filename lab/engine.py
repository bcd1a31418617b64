"""The Docker engine: install it if absent, start dockerd if no daemon answers, run the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from lab.log import log

APT_PACKAGES = (
    "docker.io",
    "debootstrap",
    "iptables",
    "apt-utils",
    "gnupg",
    "openssh-client",
    "gcc",
    "libc6-dev",
    "libslurm-dev",
)
DAEMON_WAIT_S = 60


class MockError(RuntimeError):
    """A bring-up step failed; the message says which and why."""


def run(
    args: list[str],
    *,
    check: bool = True,
    input: str | bytes | None = None,
    timeout: float | None = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture text output; raise MockError with its stderr when it fails."""
    data = input.decode() if isinstance(input, bytes) else input
    try:
        proc = subprocess.run(
            args,
            input=data,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **env} if env else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise MockError(f"timed out after {timeout} s: {' '.join(args)}") from exc
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise MockError(f"command failed ({proc.returncode}): {' '.join(args)}\n{tail}")
    return proc


def docker(
    *args: str, check: bool = True, input: str | None = None, timeout: float | None = 600
) -> str:
    """Run ``docker ARGS`` and return its stdout, stripped."""
    return run(["docker", *args], check=check, input=input, timeout=timeout).stdout.strip()


def missing_tools() -> list[str]:
    """Host programs bring-up needs that are not installed."""
    wanted = {
        "dockerd": "docker.io",
        "debootstrap": "debootstrap",
        "iptables": "iptables",
        "apt-ftparchive": "apt-utils",
        "gpg": "gnupg",
        "ssh-keygen": "openssh-client",
        "dpkg-deb": "dpkg",
        "gcc": "gcc",
    }
    missing = {pkg for tool, pkg in wanted.items() if shutil.which(tool) is None}
    # the simulated pyxis is a real SPANK plugin, compiled against the host's Slurm headers
    if not Path("/usr/include/slurm/spank.h").exists():
        missing.add("libslurm-dev")
    if not Path("/usr/include/stdio.h").exists():
        missing.add("libc6-dev")
    return sorted(missing)


def ensure_tools() -> None:
    """apt-get install what is missing (Docker engine, debootstrap, ...)."""
    missing = missing_tools()
    if not missing:
        return
    log(f"installing host packages: {' '.join(missing)}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env, timeout=600)
    run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        env=env,
        timeout=900,
    )


def daemon_answers() -> bool:
    """True when ``docker info`` gets an answer from a daemon."""
    if shutil.which("docker") is None:
        return False
    proc = run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False, timeout=20)
    return proc.returncode == 0 and bool(proc.stdout.strip())


#: systemd in every node holds several inotify instances; the kernel's default of 128 per user runs
#: out at about twenty nodes on one host, and PID 1 then exits with 255 at once.
MIN_INOTIFY_INSTANCES = 1024
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")


def ensure_inotify(minimum: int = MIN_INOTIFY_INSTANCES) -> None:
    """Raise the host's inotify instance limit when it is below what systemd nodes need."""
    try:
        current = int(INOTIFY_INSTANCES.read_text())
    except (OSError, ValueError):
        return
    if current < minimum:
        log(f"raising fs.inotify.max_user_instances from {current} to {minimum} for systemd nodes")
        INOTIFY_INSTANCES.write_text(f"{minimum}\n")


def ensure_daemon(log_dir: Path, wait_s: float = DAEMON_WAIT_S) -> None:
    """Start /usr/sbin/dockerd in the background (log in ``log_dir``) unless a daemon answers."""
    if daemon_answers():
        return
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    log_dir.mkdir(parents=True, exist_ok=True)
    logfile = log_dir / "dockerd.log"
    log(f"starting {dockerd} in the background (log: {logfile})")
    with open(logfile, "ab") as out:
        subprocess.Popen(
            [dockerd], stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if daemon_answers():
            return
        time.sleep(0.5)
    raise MockError(f"dockerd did not answer within {wait_s:.0f} s; see {logfile}")


def inspect(kind: str, name: str) -> dict | None:
    """``docker <kind> inspect NAME`` as a dict, or None when it does not exist."""
    proc = run(["docker", kind, "inspect", name], check=False, timeout=60)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def labelled(kind: str, label: str) -> list[str]:
    """Names (containers, networks, volumes) or ids (images) carrying ``label`` (k or k=v)."""
    if kind == "container":
        out = docker("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}")
    elif kind == "network":
        out = docker("network", "ls", "--filter", f"label={label}", "--format", "{{.Name}}")
    elif kind == "volume":
        out = docker("volume", "ls", "--filter", f"label={label}", "--format", "{{.Name}}")
    elif kind == "image":
        out = docker("images", "--filter", f"label={label}", "--format", "{{.Repository}}:{{.Tag}}")
    else:
        raise ValueError(kind)
    return [line for line in out.splitlines() if line]
