"""Every mock-cluster size that lab/up can build yields an inventory that validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab import inventory as mock_inventory
from lab.config import DEFAULT_INVENTORY
from trainbed.inventory import load_inventory

MOCK_YAML = DEFAULT_INVENTORY


@pytest.mark.parametrize("control_plane", [1, 3])
@pytest.mark.parametrize("compute", [1, 2, 4, 8])
def test_variant_validates(tmp_path: Path, compute: int, control_plane: int) -> None:
    doc = yaml.safe_load(MOCK_YAML.read_text())
    out = mock_inventory.variant(doc, compute=compute, control_plane=control_plane)
    # The variant lives in the state dir, one level below the repository like inventory/.
    path = tmp_path / "inventory.yaml"
    path.write_text(mock_inventory.dump(out))
    inv = load_inventory(path).inventory
    assert len(inv.compute) == compute and len(inv.control_plane) == control_plane
    sm_hosts = {sm.host for rail in inv.rails for sm in rail.subnet_managers}
    assert sm_hosts == ({"cp1", "cp2"} if control_plane == 3 else {"cp1", "gpu01"})


def test_subnet_override_moves_every_address(tmp_path: Path) -> None:
    doc = yaml.safe_load(MOCK_YAML.read_text())
    out = mock_inventory.remap_subnet(doc, "172.31.251.0/24")
    path = tmp_path / "inventory.yaml"
    path.write_text(mock_inventory.dump(out))
    inv = load_inventory(path).inventory
    assert inv.node("gpu02").address == "172.31.251.22"
    assert inv.networks.management.gateway == "172.31.251.1"
    assert inv.storage.address == "172.31.251.31"


def test_variant_in_another_state_dir_points_at_its_own_secrets(tmp_path: Path) -> None:
    doc = yaml.safe_load(MOCK_YAML.read_text())
    doc["cluster"]["name"] = "second"
    out = mock_inventory.relocate_state_paths(doc, MOCK_YAML.parent, tmp_path)
    path = tmp_path / "inventory.yaml"
    path.write_text(mock_inventory.dump(out))
    inv = load_inventory(path).inventory
    assert inv.ssh.key_file == tmp_path / "ssh" / "id_ed25519"
    assert inv.ssh.known_hosts_file == tmp_path / "known_hosts"
    assert inv.slurm.accounting.database_password_file == tmp_path / "secrets" / "slurmdbd-password"
    assert inv.software.repositories[0].signed_by == tmp_path / "repo" / "sim-archive-keyring.asc"
