"""The simulated enroot (a CLI over directories and a simulated registry) and the training fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import fault, hardware, inventory
from lab.config import REPO_ROOT
from lab.simhw import packages
from lab.simhw.simload import sim_env

SIM = REPO_ROOT / "lab/simhw/sim"


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """The enroot package's registry tree, as packages.py lays it out."""
    root = tmp_path / "registry"
    spec = packages.PACKAGES["enroot"]
    for path, text in spec["files"].items():
        if path.startswith(packages.REGISTRY):
            target = root / path[len(packages.REGISTRY) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    for path, source in spec["copy"].items():
        target = root / path[len(packages.REGISTRY) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((SIM / source).read_bytes())
    return root


def enroot(tmp_path: Path, registry: Path, *args: str) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "etc"
    conf.mkdir(exist_ok=True)
    (conf / "enroot.conf").write_text(
        f"ENROOT_DATA_PATH {tmp_path}/data/user-$(id -u)\n"
        f"ENROOT_CACHE_PATH {tmp_path}/cache/group-$(id -g)\n"
        f"ENROOT_RUNTIME_PATH {tmp_path}/run\nENROOT_TEMP_PATH {tmp_path}/tmp\n"
    )
    env = {
        **sim_env(),
        "ENROOT_SYSCONF_PATH": str(conf),
        "TRAINBED_SIM_REGISTRY": str(registry),
    }
    code = "import sys; from enroot import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=30
    )


def test_import_create_start_remove(tmp_path: Path, registry: Path) -> None:
    sqsh = tmp_path / "nemo.sqsh"
    out = enroot(
        tmp_path, registry, "import", "--output", str(sqsh), "docker://nvcr.io#nvidia/nemo:23.11"
    )
    assert out.returncode == 0, out.stderr
    assert "[INFO] Downloading 47 missing layers..." in out.stderr
    assert list((tmp_path / "cache").glob("group-*/*.layers"))
    again = enroot(
        tmp_path,
        registry,
        "import",
        "-o",
        str(tmp_path / "b.sqsh"),
        "docker://nvcr.io#nvidia/nemo:23.11",
    )
    assert "Found all layers in cache" in again.stderr
    assert enroot(tmp_path, registry, "create", "--name", "pyxis_1.0", str(sqsh)).returncode == 0
    data = next((tmp_path / "data").glob("user-*"))
    entry = data / "pyxis_1.0/opt/NeMo/examples/nlp/language_modeling/megatron_gpt_pretraining.py"
    assert entry.is_file()
    assert enroot(tmp_path, registry, "list").stdout.split() == ["pyxis_1.0"]
    exists = enroot(tmp_path, registry, "create", "--name", "pyxis_1.0", str(sqsh))
    assert exists.returncode == 1 and "already exists" in exists.stderr
    assert enroot(tmp_path, registry, "remove", "-f", "pyxis_1.0").returncode == 0
    assert enroot(tmp_path, registry, "list").stdout == ""


@pytest.mark.skipif(
    os.getuid() == 0, reason="as root, start also enters a mount namespace: the live tests cover it"
)
def test_start_runs_in_the_container_rootfs(tmp_path: Path, registry: Path) -> None:
    sqsh = tmp_path / "nemo.sqsh"
    image = "docker://nvcr.io#nvidia/nemo:23.11"
    assert enroot(tmp_path, registry, "import", "-o", str(sqsh), image).returncode == 0
    assert enroot(tmp_path, registry, "create", "--name", "pyxis_1.0", str(sqsh)).returncode == 0
    started = enroot(tmp_path, registry, "start", "pyxis_1.0", "printenv", "ENROOT_ROOTFS")
    data = next((tmp_path / "data").glob("user-*"))
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == str(data / "pyxis_1.0")


def test_unknown_image_is_a_registry_404(tmp_path: Path, registry: Path) -> None:
    out = enroot(tmp_path, registry, "import", "docker://nvcr.io#nvidia/nope:1")
    assert out.returncode == 1
    assert (
        "[ERROR] URL https://nvcr.io/v2/nvidia/nope/manifests/1 returned error code: 404 Not Found"
        in out.stderr
    )
    assert enroot(tmp_path, registry, "version").stdout.strip() == packages.ENROOT


def test_training_slow_fault() -> None:
    inv = inventory.load(REPO_ROOT / "inventory/mock.yaml")
    hw = hardware.describe(inv, inventory.nodes(inv)[1])
    assert hw["training"] == {"slowdown": 1.0}
    slowed, actions = fault.apply(json.loads(json.dumps(hw)), ["training", "slow", "1.2"])
    assert slowed["training"]["slowdown"] == 1.2 and actions == []
    with pytest.raises(ValueError):
        fault.apply(hw, ["training", "slow", "0"])
