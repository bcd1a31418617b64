"""Shared by every simulator: the node's hardware description and the little runtime state.

Stdlib only: this file ships inside each simulated package and runs on the nodes.

* ``/etc/trainbed-sim/hardware.json`` (``$TRAINBED_SIM_HARDWARE``): what hardware the node has;
  read on every call, so a fault injected there shows at once.
* ``/run/trainbed-sim`` (``$TRAINBED_SIM_RUN``): volatile state (pid files, persistence mode);
  lost at reboot like the real driver state.
* ``/var/lib/trainbed-sim/fabric`` (``$TRAINBED_SIM_FABRIC``): shared by all nodes, it plays the
  InfiniBand fabric (subnet-manager registrations, NCCL job rendezvous).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

SM_HEARTBEAT_S = 2.0
#: The driver a description without a ``driver`` entry has.
DEFAULT_DRIVER = "535.183.01"
SM_STALE_S = 8.0


def hardware_path() -> Path:
    """The description file."""
    return Path(os.environ.get("TRAINBED_SIM_HARDWARE", "/etc/trainbed-sim/hardware.json"))


def run_dir() -> Path:
    """Volatile state directory."""
    return Path(os.environ.get("TRAINBED_SIM_RUN", "/run/trainbed-sim"))


def fabric_dir() -> Path:
    """The shared fabric directory."""
    return Path(os.environ.get("TRAINBED_SIM_FABRIC", "/var/lib/trainbed-sim/fabric"))


def load() -> dict[str, Any]:
    """The hardware description; an empty machine when the file is absent."""
    try:
        with open(hardware_path()) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {"hostname": socket.gethostname(), "gpus": [], "hcas": []}


def hostname(hw: dict[str, Any]) -> str:
    """The node's short host name."""
    return os.environ.get("TRAINBED_SIM_HOSTNAME") or hw.get("hostname") or socket.gethostname()


def present_gpus(hw: dict[str, Any]) -> list[dict[str, Any]]:
    """GPUs that answer on the bus, renumbered 0.. like the driver does after a GPU falls off."""
    gpus = [dict(g) for g in hw.get("gpus", []) if g.get("present", True)]
    for minor, gpu in enumerate(gpus):
        gpu["minor"] = minor
    return gpus


def driver(hw: dict[str, Any]) -> dict[str, str]:
    """Driver and CUDA versions."""
    return {"version": DEFAULT_DRIVER, "cuda_version": "12.2", **hw.get("driver", {})}


def pid_alive(pid_file: Path) -> bool:
    """True when ``pid_file`` names a live process."""
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def fabricmanager_pid_file() -> Path:
    """Where nv-fabricmanager writes its pid (the real path, under /run)."""
    return Path(
        os.environ.get("TRAINBED_SIM_FM_PID", "/run/nvidia-fabricmanager/nv-fabricmanager.pid")
    )


def fabric_ready(hw: dict[str, Any]) -> bool:
    """NVSwitch fabric is trained: the fabric manager runs and no fault is injected."""
    if hw.get("fabric_manager", {}).get("fault"):
        return False
    if os.environ.get("TRAINBED_SIM_FM_ASSUME_RUNNING") == "1":
        return True
    return pid_alive(fabricmanager_pid_file())


def persistenced_pid_file() -> Path:
    """nvidia-persistenced's pid file (the real path)."""
    return Path(
        os.environ.get(
            "TRAINBED_SIM_PERSISTENCED_PID", "/run/nvidia-persistenced/nvidia-persistenced.pid"
        )
    )


def persistence_file() -> Path:
    """Per-GPU persistence mode set by ``nvidia-smi -pm``."""
    return run_dir() / "persistence.json"


def persistence(bus_id: str) -> bool:
    """Persistence mode of one GPU (nvidia-smi -pm, or nvidia-persistenced running)."""
    if pid_alive(persistenced_pid_file()):
        try:
            if (run_dir() / "persistenced-mode").read_text().strip() == "1":
                return True
        except OSError:
            pass
    try:
        return bool(json.loads(persistence_file().read_text()).get(bus_id, False))
    except (OSError, ValueError):
        return False


def set_persistence(bus_ids: list[str], enabled: bool) -> None:
    """Record persistence mode for GPUs."""
    path = persistence_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = {}
    state.update({b: enabled for b in bus_ids})
    path.write_text(json.dumps(state))


def lid_of(guid: str) -> int:
    """A stable unicast LID (1..0xBFFF) for a port GUID, as an SM would hand out."""
    return int(hashlib.sha256(guid.encode()).hexdigest(), 16) % 0xBFFE + 1


def sm_dir(rail: str) -> Path:
    """Registrations of subnet managers of one rail (one fabric)."""
    return fabric_dir() / "sm" / rail


def live_sms(rail: str) -> list[dict[str, Any]]:
    """Subnet managers of ``rail`` whose heartbeat is fresh, master first."""
    sms = []
    directory = sm_dir(rail)
    if not directory.is_dir():
        return []
    now = time.time()
    for path in directory.glob("*.json"):
        try:
            if now - path.stat().st_mtime > SM_STALE_S:
                continue
            sms.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    sms.sort(key=lambda s: (-int(s.get("priority", 0)), int(s["guid"], 16)))
    return sms


def hca(hw: dict[str, Any], device: str) -> dict[str, Any] | None:
    """One HCA by device name."""
    for h in hw.get("hcas", []):
        if h["device"] == device:
            return h
    return None


def port_view(h: dict[str, Any]) -> dict[str, Any]:
    """What the port looks like now: the description's link state combined with the fabric.

    A linked-up InfiniBand port stays ``Initializing`` (no LID) until a subnet manager of its rail
    brings it to ``Active``; a ``Down`` port reads Polling with the 10 Gb/s idle rate.
    """
    if h.get("state", "Active") != "Active":
        return {
            "state": "Down",
            "phys": "Polling",
            "rate": 10,
            "lid": 0,
            "sm_lid": 0,
            "active": False,
        }
    if h.get("link_layer", "InfiniBand") != "InfiniBand":
        return {
            "state": "Active",
            "phys": "LinkUp",
            "rate": h["rate_gbps"],
            "lid": 0,
            "sm_lid": 0,
            "active": True,
        }
    sms = live_sms(h.get("rail", ""))
    if not sms:
        return {
            "state": "Initializing",
            "phys": "LinkUp",
            "rate": h["rate_gbps"],
            "lid": 0,
            "sm_lid": 0,
            "active": False,
        }
    return {
        "state": "Active",
        "phys": "LinkUp",
        "rate": h["rate_gbps"],
        "lid": lid_of(h["port_guid"]),
        "sm_lid": lid_of(sms[0]["guid"]),
        "active": True,
    }


def sorted_hcas(hw: dict[str, Any]) -> list[dict[str, Any]]:
    """HCAs in the kernel's order (mlx5_2 before mlx5_10)."""
    return sorted(hw.get("hcas", []), key=lambda h: int(h["device"].rsplit("_", 1)[1]))


def daemonize(pid_file: Path) -> None:
    """Detach like a classic forking daemon; the parent exits once the pid file is written."""
    pid = os.fork()
    if pid > 0:
        # Reap the intermediate child first: systemd guesses a Type=forking unit's main pid
        # (no PIDFile=, as NVIDIA's unit) when this parent exits, and could pick that zombie,
        # then take the service for exited and stop the daemon ("Deactivated successfully").
        os.waitpid(pid, 0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not pid_file.exists():
            time.sleep(0.05)
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    write_pid(pid_file)


def write_pid(pid_file: Path) -> None:
    """Write this process's pid."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(pid_file)


def serve_until_signal(pid_file: Path | None, tick: float = 1.0, check: Any = None) -> int:
    """Sleep until SIGTERM/SIGINT (then remove ``pid_file``, return 0) or ``check()`` fails."""
    import signal

    stop = {"flag": False}

    def handler(signum: int, frame: Any) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    rc = 0
    try:
        while not stop["flag"]:
            if check is not None:
                rc = check()
                if rc:
                    break
            time.sleep(tick)
    finally:
        if pid_file is not None:
            try:
                if pid_file.read_text().split()[0] == str(os.getpid()):
                    pid_file.unlink()
            except (OSError, IndexError):
                pass
    return rc


def log_line(path: Path, message: str, level: str = "INFO") -> None:
    """Append a time-stamped line to a daemon's log file (best effort)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fh.write(
                f"[{time.strftime('%b %d %Y %H:%M:%S')}] [{level}] [tid {os.getpid()}] {message}\n"
            )
    except OSError:
        pass


#: Saturation value of each perfquery error counter (IBTA PortCounters widths); the lab's
#: descriptions (lab/hardware.py) read this table too.
PORT_COUNTER_MAX = {
    "SymbolErrorCounter": 0xFFFF,
    "LinkErrorRecoveryCounter": 0xFF,
    "LinkDownedCounter": 0xFF,
    "PortRcvErrors": 0xFFFF,
    "PortRcvRemotePhysicalErrors": 0xFFFF,
    "PortRcvSwitchRelayErrors": 0xFFFF,
    "PortXmitDiscards": 0xFFFF,
    "PortXmitConstraintErrors": 0xFF,
    "PortRcvConstraintErrors": 0xFF,
    "LocalLinkIntegrityErrors": 0xF,
    "ExcessiveBufferOverrunErrors": 0xF,
    "VL15Dropped": 0xFFFF,
}


def port_counter(h: dict[str, Any], name: str, now: float | None = None) -> int:
    """A port error counter now: the stored value plus its growth since a fault was injected
    (``growth``: ``since`` and ``per_s``), saturated like the real counters."""
    now = time.time() if now is None else now
    value = int(h.get("counters", {}).get(name, 0))
    growth = h.get("growth")
    if growth:
        value += int(max(0.0, now - float(growth["since"])) * float(growth["per_s"].get(name, 0)))
    return min(value, PORT_COUNTER_MAX.get(name, 0xFFFFFFFF))


#: A healthy Gen5 x16 link (H100 SXM5, ConnectX-7), for descriptions written before links were
#: described; the lab's descriptions start from it too.
GEN5_X16 = {"max_gen": 5, "gen": 5, "max_width": 16, "width": 16}


def pcie(device: dict[str, Any]) -> dict[str, Any]:
    """A GPU's or HCA's PCIe link and place in the tree (``pcie`` of the description)."""
    return {**GEN5_X16, **device.get("pcie", {})}
