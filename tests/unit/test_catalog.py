"""The compiled catalog: one decision per fact, secrets out of its JSON, triggers on its own files."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from tests.conftest import PROD_YAML
from trainbed.catalog import compile_catalog, compile_cluster
from trainbed.catalog.compile import GRANT_SQL, MUNGE_KEY, SLURMDBD_CONF
from trainbed.checks import expected
from trainbed.inventory import load_inventory

#: Units systemd itself ships, which triggers may restart without the catalog managing them.
SYSTEM_UNITS = {"systemd-sysctl", "systemd-modules-load"}


@pytest.fixture(scope="module")
def prod():
    return load_inventory(PROD_YAML).inventory


def no_nvswitch(tmp: Path):
    """prod.yaml with `gpus.nvswitch: false` in every profile (beside its keys, as the deploy needs)."""
    site = tmp / "prod.yaml"
    text = PROD_YAML.read_text()
    assert "nvswitch: true" in text
    site.write_text(text.replace("nvswitch: true", "nvswitch: false"))
    (tmp / "keys").mkdir(exist_ok=True)
    for key in (PROD_YAML.parent / "keys").glob("*"):
        shutil.copy(key, tmp / "keys" / key.name)
    return site


def test_every_host_compiles_and_is_frozen(prod) -> None:
    catalogs = compile_cluster(prod)
    assert list(catalogs) == [n.hostname for n in prod.nodes]
    with pytest.raises(FrozenInstanceError):
        catalogs["cp1"].hostname = "x"  # type: ignore[misc]
    assert compile_catalog(prod, "gpu01") == compile_catalog(prod, "gpu01")  # pure


def test_slurmdbd_host_alone_gets_accounting(prod) -> None:
    for hostname, catalog in compile_cluster(prod).items():
        dbd = hostname == "cp3"
        assert catalog.has_unit("slurmdbd") is dbd and catalog.has_unit("mariadb") is dbd
        assert any(f.path == SLURMDBD_CONF for f in catalog.files) is dbd
        assert any(f.path == GRANT_SQL for f in catalog.files) is dbd
        assert any(p.name == "slurm-smd-slurmdbd" for p in catalog.packages) is dbd


def test_only_the_primary_makes_the_munge_key(prod) -> None:
    makers = [h for h, c in compile_cluster(prod).items() if c.file(MUNGE_KEY).create]
    assert makers == [prod.slurmctld_hosts[0].hostname]


def test_json_has_no_secret_and_no_content(prod) -> None:
    for hostname, catalog in compile_cluster(prod).items():
        text = catalog.to_json()
        doc = json.loads(text)
        assert doc["hostname"] == hostname
        assert "StoragePass" not in text and "IDENTIFIED BY" not in text
        assert all("content" not in f for f in doc["files"])
        for f in doc["files"]:
            if f["secret"]:
                assert f["sha256"] is None
    dbd = {f["path"]: f for f in json.loads(compile_catalog(prod, "cp3").to_json())["files"]}
    assert dbd[SLURMDBD_CONF] == {
        "path": SLURMDBD_CONF,
        "role": "slurm",
        "mode": "0600",
        "owner": "slurm",
        "group": "slurm",
        "secret": True,
        "sha256": None,
    }


def test_triggers_watch_catalog_files_and_restart_known_units(prod) -> None:
    for catalog in compile_cluster(prod).values():
        paths = {f.path for f in catalog.files}
        units = {u.name for u in catalog.units} | SYSTEM_UNITS
        for trigger in catalog.triggers:
            assert trigger.on and set(trigger.on) <= paths, trigger
            assert set(trigger.unless) <= paths, trigger
            if trigger.action == "restart":
                assert trigger.unit in units, trigger
            assert (trigger.action == "command") == (trigger.command is not None), trigger


def test_reconfigure_on_the_primary_unless_a_restart_is_due(prod) -> None:
    cp1 = {t.name: t for t in compile_catalog(prod, "cp1").triggers}["scontrol reconfigure"]
    assert "/etc/slurm/slurm.conf" in cp1.on
    assert cp1.unless == ("/etc/slurm/.trainbed-restart-signature",)
    assert not [t for t in compile_catalog(prod, "cp2").triggers if t.command == cp1.command]


def test_containers_role_restarts_slurmd_on_compute_only(prod) -> None:
    def spank(host: str) -> list[str]:
        return [t.unit for t in compile_catalog(prod, host).triggers if t.role == "containers"]

    assert spank("gpu01") == ["slurmd"]
    assert spank("cp1") == []


def test_without_nvswitch_no_fabric_manager_anywhere(tmp_path: Path) -> None:
    """With `nvswitch: false` the catalog (so the deploy) and the checks agree: no fabric manager."""
    inv = load_inventory(no_nvswitch(tmp_path)).inventory
    gpu = compile_catalog(inv, "gpu01")
    fm = inv.software.nvidia.fabricmanager.name
    assert not gpu.has_unit("nvidia-fabricmanager")
    assert fm not in {p.name for p in gpu.packages}
    assert "nvidia-fabricmanager" not in expected.units(inv, inv.node("gpu01"))
    assert fm not in expected.packages(inv, inv.node("gpu01"))


def test_with_nvswitch_the_fabric_manager_is_managed(prod) -> None:
    gpu = compile_catalog(prod, "gpu01")
    assert gpu.unit("nvidia-fabricmanager").running
    assert prod.software.nvidia.fabricmanager.name in {p.name for p in gpu.packages}


def test_control_nodes_run_the_health_program_from_a_timer_and_compute_nodes_from_slurm(
    prod,
) -> None:
    cp1, gpu = compile_catalog(prod, "cp1"), compile_catalog(prod, "gpu01")
    assert cp1.health is not None and gpu.health is not None
    assert (cp1.health.gpus, gpu.health.gpus) == (0, 8)
    # What each watches: the controller's daemons and subnet managers; never an SM on a GPU node.
    assert {"slurmctld", "munge", "chrony", "opensm@rail0"} <= set(cp1.health.units)
    assert not [u for u in gpu.health.units if u.startswith("opensm")]
    assert "trainbed-health.timer" not in cp1.health.units
    timer = cp1.file("/etc/systemd/system/trainbed-health.timer").content
    assert timer is not None and f"OnUnitActiveSec={prod.health.interval_s}\n" in timer
    service = cp1.file("/etc/systemd/system/trainbed-health.service").content
    assert service is not None and "--level passive --no-slurm" in service
    assert cp1.unit("trainbed-health.timer").enabled
    assert not gpu.has_unit("trainbed-health.timer")
    assert "/etc/slurm/trainbed-prolog" in {f.path for f in gpu.files}
    # A changed program or timer is no reason to reconfigure Slurm.
    reconfigure = {t.name: t for t in cp1.triggers}["scontrol reconfigure"]
    assert all(p.startswith("/etc/slurm/") for p in reconfigure.on)


def test_no_timer_when_the_interval_is_zero(prod) -> None:
    unwired = dataclasses.replace(prod, health=dataclasses.replace(prod.health, interval_s=0))
    cp1 = compile_catalog(unwired, "cp1")
    off = cp1.unit("trainbed-health.timer")  # switched off where an earlier deploy left it
    assert (off.enabled, off.running, off.only_if_present) == (False, False, True)
    assert "/usr/local/sbin/trainbed-health" in {f.path for f in cp1.files}
    assert "/etc/systemd/system/trainbed-health.timer" not in {f.path for f in cp1.files}
