"""Pure logic of the mock bring-up: apt sources, inventory variants, hardware descriptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import aptsources, hardware, inventory, sshkeys, storage
from lab.config import REPO_ROOT
from lab.simhw import packages
from trainbed.inventory.generate import XE9680_HCA_DEVICES

DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
"""


def test_deb822_mirror_is_the_suite_itself() -> None:
    sources = aptsources.parse_deb822(DEB822)
    assert len(sources) == 2
    assert aptsources.debian_mirror(sources, "bookworm") == "http://mirror.example/debian"


def test_one_line_format_with_options() -> None:
    text = (
        "# comment\ndeb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main contrib\n"
    )
    sources = aptsources.parse_one_line(text)
    assert aptsources.debian_mirror(sources, "bookworm") == "http://one.example/debian"
    assert sources[1].options == {"arch": "amd64", "signed-by": "/k.gpg"}


def test_no_mirror_is_an_error() -> None:
    with pytest.raises(LookupError):
        aptsources.debian_mirror(aptsources.parse_deb822(DEB822), "trixie")


def test_host_files_read_from_a_root(tmp_path: Path) -> None:
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/apt/apt.conf.d").mkdir(parents=True)
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(DEB822)
    (tmp_path / "etc/apt/apt.conf.d/99valid").write_text('Acquire::Check-Valid-Until "false";\n')
    (tmp_path / "etc/apt/apt.conf.d/docker-clean").write_text('Dir::Cache::pkgcache "";\n')
    assert list(aptsources.host_source_files(tmp_path)) == ["etc/apt/sources.list.d/debian.sources"]
    assert list(aptsources.host_acquire_conf(tmp_path)) == ["etc/apt/apt.conf.d/99valid"]
    assert aptsources.debian_mirror(aptsources.host_sources(tmp_path), "bookworm").startswith(
        "http://mirror.example"
    )


def test_repository_names_no_mirror() -> None:
    lab = REPO_ROOT / "lab"
    for path in lab.rglob("*.py"):
        if path.is_relative_to(lab / "tests"):  # this test names the mirrors it forbids
            continue
        text = path.read_text()
        assert "deb.debian.org" not in text and "ftp.debian" not in text, path


@pytest.fixture
def inv() -> dict:
    return inventory.load(REPO_ROOT / "inventory/mock.yaml")


def test_default_plan(inv: dict) -> None:
    nodes = inventory.nodes(inv)
    assert [(n.hostname, n.address, n.kind) for n in nodes] == [
        ("cp1", "172.31.250.11", "control"),
        ("gpu01", "172.31.250.21", "compute"),
        ("gpu02", "172.31.250.22", "compute"),
        ("ps1", "172.31.250.31", "storage"),
    ]
    assert nodes[-1].aliases == ("ps1.mock.internal",)


def test_variant_adds_compute_and_control_nodes(inv: dict) -> None:
    big = inventory.variant(inv, compute=8, control_plane=3)
    nodes = inventory.nodes(big)
    names = [n.hostname for n in nodes]
    assert names == ["cp1", "cp2", "cp3", *[f"gpu{i:02d}" for i in range(1, 9)], "ps1"]
    assert [n.address for n in nodes if n.kind == "compute"][-1] == "172.31.250.28"
    assert [n.address for n in nodes if n.kind == "control"] == [
        "172.31.250.11",
        "172.31.250.12",
        "172.31.250.13",
    ]
    guids = [h["port_guid"] for n in nodes for h in n.hcas]
    assert len(guids) == len(set(guids))
    assert nodes[1].roles == ("slurmctld_backup", "opensm", "login")
    assert inventory.nodes(inventory.variant(inv, compute=1))[1:3][1].kind == "storage"


def test_variant_bounds(inv: dict) -> None:
    with pytest.raises(ValueError):
        inventory.variant(inv, compute=9)
    with pytest.raises(ValueError):
        inventory.variant(inv, control_plane=2)


def test_subnet_remap_keeps_offsets(inv: dict) -> None:
    moved = inventory.remap_subnet(inv, "10.77.5.0/24")
    assert [n.address for n in inventory.nodes(moved)] == [
        "10.77.5.11",
        "10.77.5.21",
        "10.77.5.22",
        "10.77.5.31",
    ]
    with pytest.raises(ValueError):
        inventory.remap_subnet(inv, "10.77.0.0/16")


def test_port_guid_is_node_specific() -> None:
    assert inventory.port_guid("172.31.250.21", 3) == "0xa088c20300fa1503"


def test_hardware_description(inv: dict) -> None:
    gpu01 = inventory.nodes(inv)[1]
    hw = hardware.describe(inv, gpu01)
    assert [g["bus_id"] for g in hw["gpus"]] == [
        f"00000000:{b}:00.0" for b in ("19", "3B", "4C", "5D", "9B", "BB", "CB", "DB")
    ]
    assert {g["name"] for g in hw["gpus"]} == {"NVIDIA H100 80GB HBM3"}
    assert len({g["uuid"] for g in hw["gpus"]}) == 8
    assert [h["device"] for h in hw["hcas"]] == list(XE9680_HCA_DEVICES)
    assert {(h["rate_gbps"], h["state"], h["link_layer"]) for h in hw["hcas"]} == {
        (400, "Active", "InfiniBand")
    }
    assert hw == hardware.describe(inv, gpu01)  # deterministic
    assert hardware.describe(inv, inventory.nodes(inv)[0])["gpus"] == []


def test_faults_are_pure_edits(inv: dict) -> None:
    hw = hardware.describe(inv, inventory.nodes(inv)[1])
    hardware.fault_hca_rate(hw, "mlx5_5", 200)
    hardware.fault_hca_down(hw, "mlx5_6")
    hardware.fault_gpu_remove(hw, 5)
    hardware.fault_fabricmanager(hw)
    hardware.fault_nccl_wrong(hw)
    assert hw["hcas"][3]["rate_gbps"] == 200 and hw["hcas"][4]["state"] == "Down"
    assert hw["gpus"][5]["present"] is False
    assert hw["fabric_manager"]["fault"] and hw["nccl"]["wrong"]
    with pytest.raises(KeyError):
        hardware.fault_hca_down(hw, "mlx5_99")


def test_fault_words() -> None:
    from lab import fault

    hw = {"hostname": "x", "hcas": [{"device": "mlx5_3", "rate_gbps": 400}], "gpus": []}
    out, actions = fault.apply(hw, ["hca", "mlx5_3", "rate", "200"])
    assert out["hcas"][0]["rate_gbps"] == 200 and actions == []
    assert fault.apply(hw, ["fabricmanager", "stop"])[1] == ["stop-fm"]
    out, _ = fault.apply(hw, ["hca", "all", "firmware", "28.37.1014"])
    assert out["hcas"][0]["firmware"] == "28.37.1014"
    with pytest.raises(ValueError):
        fault.apply(hw, ["gpu", "5", "explode"])


def test_ssh_material() -> None:
    nodes = [inventory.Node("gpu01", "172.31.250.21", "compute")]
    line = sshkeys.known_hosts(nodes, {"gpu01": "ssh-ed25519 AAAAC3Nz root@gpu01\n"})
    assert line == "gpu01,172.31.250.21 ssh-ed25519 AAAAC3Nz\n"
    conf = sshkeys.ssh_config(nodes, Path("/s/id"), Path("/s/known_hosts"))
    assert "StrictHostKeyChecking yes" in conf and "UserKnownHostsFile /s/known_hosts" in conf


def test_ganesha_exports(inv: dict) -> None:
    conf = storage.ganesha_conf(inv, "172.31.250.0/24")
    for path in ("/ifs/data/datasets", "/ifs/data/checkpoints", "/ifs/home"):
        assert f"Path = {path};" in conf
    assert conf.count("Name = VFS;") == 3
    assert "d /ifs/home 0755 root root -" in storage.tmpfiles_conf(inv)


def test_package_versions_are_marked_sim() -> None:
    versions = packages.versions()
    assert {
        "nvidia-driver-535-server",
        "nvidia-fabricmanager-535",
        "datacenter-gpu-manager",
        "infiniband-diags",
        "ibverbs-utils",
        "opensm",
        "perftest",
        "nccl-tests",
        "enroot",
        "enroot+caps",
        "nvslurm-plugin-pyxis",
        "pciutils",
        "nvbandwidth",
    } == set(versions)
    assert all(v.endswith("sim1") for v in versions.values())
    assert versions["nvidia-fabricmanager-535"].startswith(packages.DRIVER)


def test_mock_inventory_pins_the_simulated_container_packages() -> None:
    from trainbed.inventory import load_inventory

    containers = load_inventory(REPO_ROOT / "inventory/mock.yaml").inventory.containers
    assert containers is not None
    versions = packages.versions()
    for package in (*containers.enroot_packages, containers.pyxis):
        assert versions[package.name] == package.version


def test_down_touches_only_its_own_cluster(tmp_path: Path) -> None:
    from lab import down

    # A state dir with nothing in it names no cluster: nothing is removed.
    assert down.cluster_names(tmp_path, None) == []
    (tmp_path / "inventory.yaml").write_text("cluster: {name: tb-other}\n")
    assert down.cluster_names(tmp_path, None) == ["tb-other"]
    (tmp_path / "cluster.json").write_text('{"cluster": "tb-mine"}')
    assert down.cluster_names(tmp_path, None) == ["tb-mine"]
    assert down.cluster_names(tmp_path, "explicit") == ["explicit"]
