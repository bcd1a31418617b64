"""The simulated fabric manager refuses a driver of another version than its own, as the real one.

Real message (nv-fabricmanager 525-550; NVIDIA/gpu-operator#544, siderolabs/pkgs#720,
NVIDIA/gpu-driver-container#735): "fabric manager NVIDIA GPU driver interface version A don't
match with driver version B. Please update with matching NVIDIA driver package.", then exit 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import hardware, inventory
from lab.config import REPO_ROOT
from lab.simhw.packages import DRIVER, PACKAGES
from lab.simhw.simload import sim_env

SIM = REPO_ROOT / "lab/simhw/sim"
REFUSAL = "fabric manager NVIDIA GPU driver interface version {own} don't match with driver version {driver}."


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    inv = inventory.load(REPO_ROOT / "inventory/mock.yaml")
    hw = hardware.describe(inv, inventory.nodes(inv)[1])
    (tmp_path / "hardware.json").write_text(json.dumps(hw))
    (tmp_path / "fabricmanager.cfg").write_text("LOG_LEVEL=4\n")
    return {
        **sim_env(),
        "TRAINBED_SIM_HARDWARE": str(tmp_path / "hardware.json"),
        "TRAINBED_SIM_RUN": str(tmp_path / "run"),
        "TRAINBED_SIM_FM_PID": str(tmp_path / "fm.pid"),
        "TRAINBED_SIM_FM_LOG": str(tmp_path / "fabricmanager.log"),
        "TRAINBED_SIM_FM_VERSION": DRIVER,
    }


def set_driver(env: dict[str, str], version: str) -> None:
    path = Path(env["TRAINBED_SIM_HARDWARE"])
    path.write_text(
        json.dumps(hardware.fault_driver_version(json.loads(path.read_text()), version))
    )


def fm(env: dict[str, str], *args: str, **kw) -> subprocess.Popen[str]:
    code = "import sys; from nvidia_daemons import main; "
    code += f"sys.exit(main({list(args)!r}, prog='nv-fabricmanager'))"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def cfg(env: dict[str, str]) -> str:
    return str(Path(env["TRAINBED_SIM_FM_LOG"]).with_name("fabricmanager.cfg"))


def test_version_is_its_own_not_the_drivers(env: dict[str, str]) -> None:
    set_driver(env, "535.999.99")
    out, _ = fm(env, "--version").communicate(timeout=30)
    assert out.strip() == f"Fabric Manager version is : {DRIVER}"


def test_refuses_to_start_with_a_driver_of_another_version(env: dict[str, str]) -> None:
    set_driver(env, "535.999.99")
    proc = fm(env, "-c", cfg(env), "--foreground")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert REFUSAL.format(own=DRIVER, driver="535.999.99") in err
    assert not Path(env["TRAINBED_SIM_FM_PID"]).exists()


def wait_started(proc: subprocess.Popen[str], env: dict[str, str]) -> None:
    """Bounded (20 s): until the fabric manager wrote its pid file; fails if it exited first."""
    deadline = time.monotonic() + 20
    while not Path(env["TRAINBED_SIM_FM_PID"]).exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
        time.sleep(0.1)


def test_a_running_one_stops_when_the_driver_changes_under_it(env: dict[str, str]) -> None:
    proc = fm(env, "-c", cfg(env), "--foreground")
    try:
        wait_started(proc, env)
        set_driver(env, "550.90.07")
        assert proc.wait(timeout=20) == 1
    finally:
        proc.kill()
        proc.communicate()
    log = Path(env["TRAINBED_SIM_FM_LOG"]).read_text()
    assert REFUSAL.format(own=DRIVER, driver="550.90.07") in log


def test_matching_driver_starts(env: dict[str, str]) -> None:
    proc = fm(env, "-c", cfg(env), "--foreground")
    try:
        wait_started(proc, env)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_the_package_carries_its_own_version() -> None:
    files = PACKAGES["nvidia-fabricmanager-535"]["files"]
    assert files["/usr/lib/trainbed-sim/nvidia-fabricmanager-535/fabricmanager-version"] == (
        f"{DRIVER}\n"
    )
    assert PACKAGES["nvidia-fabricmanager-535"]["version"].startswith(f"{DRIVER}-")
