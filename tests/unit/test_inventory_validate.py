"""Validation of the inventory: every semantic rule and every bad-input kind fails with FILE:LINE: PATH."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROD_YAML
from trainbed.inventory import InventoryError, load_inventory

Doc = dict[str, Any]


def write(tmp_path: Path, doc: Doc) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line of the `occurrence`-th line containing `needle`."""
    hits = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    return hits[occurrence - 1]


def errors_of(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    return [str(m) for m in caught.value.errors]


def test_prod_inventory_is_valid() -> None:
    result = load_inventory(PROD_YAML)
    inv = result.inventory
    assert len(inv.compute) == 6 and len(inv.control_plane) == 3
    assert inv.networks.infiniband.network_config == 1
    assert all(len(node.hcas) == 8 for node in inv.compute)
    assert inv.software.slurm.version == "23.02.4"
    assert inv.storage.model == "F710"
    assert result.warnings == []
    assert PROD_YAML.read_text().startswith("# yaml-language-server: $schema=")


# Each case: a mutation, a text that occurs on the offending line of the dumped file (and which
# occurrence of it), the expected path, and a fragment of the message.
Mutation = Callable[[Doc], None]
CASES: list[tuple[str, Mutation, str, int, str, str]] = [
    (
        "duplicate hostname",
        lambda d: d["compute"][1].update(hostname="gpu01"),
        "hostname: gpu01",
        2,
        "compute[1].hostname",
        "duplicate hostname 'gpu01' (also at compute[0].hostname)",
    ),
    (
        "duplicate IP",
        lambda d: d["compute"][2].update(address="10.10.1.1"),
        "address: 10.10.1.1",
        2,
        "compute[2].address",
        "duplicate IP address",
    ),
    (
        "duplicate port GUID",
        lambda d: d["compute"][3]["hcas"][5].update(
            port_guid=d["compute"][0]["hcas"][0]["port_guid"]
        ),
        "port_guid: '0xa088c20300001000'",
        2,
        "compute[3].hcas[5].port_guid",
        "duplicate port GUID",
    ),
    (
        "switch port beyond the leaf's ports",
        lambda d: d["compute"][2]["hcas"][1].update(switch_port=65),
        "switch_port: 65",
        1,
        "compute[2].hcas[1].switch_port",
        "ib-rail1 (QM9790) has ports 1-64, not 65",
    ),
    (
        "two HCAs on one switch port",
        lambda d: (
            d["compute"][0]["hcas"][3].update(switch_port=7),
            d["compute"][4]["hcas"][3].update(switch_port=7),
        ),
        "switch_port: 7",
        2,
        "compute[4].hcas[3].switch_port",
        "gpu05 mlx5_5 and gpu01 mlx5_5 are both cabled to ib-rail3 port 7 "
        "(also at compute[0].hcas[3].switch_port)",
    ),
    (
        "address outside subnet",
        lambda d: d["compute"][4].update(address="192.168.7.7"),
        "192.168.7.7",
        1,
        "compute[4].address",
        "outside the management subnet 10.10.0.0/16",
    ),
    (
        "ethernet address outside subnet",
        lambda d: d["compute"][0].update(ethernet_address="10.10.9.9"),
        "10.10.9.9",
        1,
        "compute[0].ethernet_address",
        "outside the ethernet subnet",
    ),
    (
        "HCA count",
        lambda d: d["compute"][2]["hcas"].pop(),
        "hcas:",
        5,  # cp1, cp2, gpu01, gpu02, then gpu03's
        "compute[2].hcas",
        "7 HCAs, but network configuration 1 has 8 per compute node",
    ),
    (
        "unknown rail",
        lambda d: d["compute"][3]["hcas"][2].update(rail="rail42"),
        "rail: rail42",
        1,
        "compute[3].hcas[2].rail",
        "unknown rail 'rail42'",
    ),
    (
        "rail without switch",
        lambda d: d["networks"]["infiniband"]["rails"][1].update(switch="ib-nowhere"),
        "switch: ib-nowhere",
        1,
        "networks.infiniband.rails[1].switch",
        "unknown switch 'ib-nowhere'",
    ),
    (
        "externally managed switch with one SM",
        lambda d: d["networks"]["infiniband"]["rails"][2]["subnet_managers"].pop(),
        "subnet_managers:",
        3,
        "networks.infiniband.rails[2].subnet_managers",
        "needs a primary and a standby OpenSM on two distinct hosts",
    ),
    (
        "SMs on the same host",
        lambda d: d["networks"]["infiniband"]["rails"][0]["subnet_managers"][1].update(host="cp1"),
        "subnet_managers:",
        1,
        "networks.infiniband.rails[0].subnet_managers",
        "two distinct hosts",
    ),
    (
        "two primaries",
        lambda d: d["control_plane"][1]["roles"].append("slurmctld_primary"),
        "control_plane:",
        1,
        "control_plane",
        "exactly one node needs the slurmctld_primary role (found 2)",
    ),
    (
        "no primary",
        lambda d: d["control_plane"][0]["roles"].remove("slurmctld_primary"),
        "control_plane:",
        1,
        "control_plane",
        "(found 0)",
    ),
    (
        "two backups",
        lambda d: d["control_plane"][2]["roles"].append("slurmctld_backup"),
        "control_plane:",
        1,
        "control_plane",
        "at most one node may have the slurmctld_backup role (found 2)",
    ),
    (
        "GPU count vs model",
        lambda d: d["profiles"]["xe9680-h100"]["gpus"].update(
            count=4, bus_ids=["00000000:19:00.0"] * 4
        ),
        "count: 4",
        1,
        "profiles.xe9680-h100.gpus.count",
        "a XE9680 has 8 GPUs, not 4",
    ),
    (
        "fabric manager version",
        lambda d: d["software"]["nvidia"].update(fabricmanager_version="535.161.08"),
        "fabricmanager_version: 535.161.08",
        1,
        "software.nvidia.fabricmanager_version",
        "must equal the driver version 535.183.01",
    ),
    (
        "mount of an unknown export",
        lambda d: d["mounts"][1].update(export="scratchy"),
        "export: scratchy",
        1,
        "mounts[1].export",
        "unknown export 'scratchy'",
    ),
    (
        "unsupported Slurm",
        lambda d: d["software"]["slurm"].update(version="20.11.9"),
        "version: 20.11.9",
        1,
        "software.slurm.version",
        "not supported by the templates",
    ),
    (
        "unknown profile",
        lambda d: d["compute"][5].update(profile="xe8640-h100"),
        "profile: xe8640-h100",
        1,
        "compute[5].profile",
        "unknown profile 'xe8640-h100'",
    ),
    (
        "partition of an unknown node",
        lambda d: d["slurm"]["partitions"][0].update(nodes=["gpu01", "gpu99"]),
        "- gpu99",
        1,
        "slurm.partitions[0].nodes[1]",
        "'gpu99' is not a compute node",
    ),
    (
        "accounting without password source",
        lambda d: d["slurm"]["accounting"].pop("database_password_env"),
        "accounting:",
        1,
        "slurm.accounting",
        "exactly one of database_password_file or database_password_env",
    ),
    (
        "nearest GPU out of range",
        lambda d: d["compute"][0]["hcas"][0].update(nearest_gpu=9),
        "nearest_gpu: 9",
        1,
        "compute[0].hcas[0].nearest_gpu",
        "GPU 9 does not exist",
    ),
    (
        "containers from an unknown repository",
        lambda d: d["containers"].update(repository="nope"),
        "repository: nope",
        1,
        "containers.repository",
        "unknown repository 'nope' (declared: cuda, doca, site-slurm)",
    ),
    (
        "containers without local NVMe for enroot",
        lambda d: d["profiles"]["xe9680-h100"].pop("local_scratch"),
        "xe9680-h100:",
        1,
        "profiles.xe9680-h100",
        "containers need local_scratch",
    ),
    (
        "containers from a repository compute nodes lack",
        lambda d: (
            d["containers"].update(repository="cuda")
            or d["software"]["repositories"][0].update(on=["control_plane"])
        ),
        "repository: cuda",
        1,
        "containers.repository",
        "repository 'cuda' is not configured on compute nodes",
    ),
]


SCHEMA_CASES: list[tuple[str, Mutation, str, int, str, str]] = [
    (
        "typo in a field name",
        lambda d: d["compute"][2].update(adress="10.10.1.3"),
        "adress:",
        1,
        "compute[2].adress",
        "unknown field 'adress'",
    ),
    (
        "wrong type",
        lambda d: d["networks"]["infiniband"].update(network_config="one"),
        "network_config: one",
        1,
        "networks.infiniband.network_config",
        "'one' is not one of [1, 2]",
    ),
    (
        "missing field",
        lambda d: d["compute"][1].pop("profile"),
        "hostname: gpu02",
        1,
        "compute[1]",
        "missing required field 'profile'",
    ),
    (
        "bad IP",
        lambda d: d["compute"][1].update(address="10.10.1.300"),
        "10.10.1.300",
        1,
        "compute[1].address",
        "does not match the expected form",
    ),
    (
        "HCA firmware lock not a version",
        lambda d: d["profiles"]["xe9680-h100"].update(firmware={"hca": "28.39"}),
        "hca: '28.39'",
        1,
        "profiles.xe9680-h100.firmware.hca",
        "'28.39' does not match the expected form ^[0-9]+\\.[0-9]+\\.[0-9]+$ (HCA firmware as "
        "ibstat prints it",
    ),
    (
        "VBIOS lock not a VBIOS version",
        lambda d: d["profiles"]["xe9680-h100"].update(firmware={"vbios": "96.0.74"}),
        "vbios: 96.0.74",
        1,
        "profiles.xe9680-h100.firmware.vbios",
        "(GPU VBIOS as nvidia-smi -q prints it",
    ),
    (
        "unknown firmware lock",
        lambda d: d["profiles"]["xe9680-h100"].update(firmware={"bmc": "7.10.30.00"}),
        "bmc: 7.10.30.00",
        1,
        "profiles.xe9680-h100.firmware.bmc",
        "unknown field 'bmc' (allowed: hca, vbios)",
    ),
    (
        "BER warning bound not below the error bound",
        lambda d: d.update(health={"thresholds": {"ber_warn": 2e-11}}),
        "ber_warn: 2.0e-11",
        1,
        "health.thresholds.ber_warn",
        "ber_warn 2e-11 must be below ber_error 1e-11",
    ),
    (
        "unknown health threshold",
        lambda d: d.update(health={"thresholds": {"xid_window": 24}}),
        "xid_window: 24",
        1,
        "health.thresholds.xid_window",
        "unknown field 'xid_window'",
    ),
    (
        "PCIe width not a lane count",
        lambda d: d["profiles"]["xe9680-h100"].update(pcie={"gpu": {"width": 12}}),
        "width: 12",
        1,
        "profiles.xe9680-h100.pcie.gpu.width",
        "",
    ),
    (
        "health tool listed twice",
        lambda d: d["software"]["health_tools"].append({"name": "pciutils", "version": "1"}),
        "name: pciutils",
        1,
        "software.health_tools[0].name",
        "'pciutils' is listed more than once",
    ),
    (
        "partition nodes neither ALL nor list",
        lambda d: d["slurm"]["partitions"][0].update(nodes="some"),
        "nodes: some",
        1,
        "slurm.partitions[0].nodes",
        "",
    ),
    (
        "storage suite model unknown",
        lambda d: d["probes"].update(storage={"model": "llama3-8b"}),
        "model: llama3-8b",
        1,
        "probes.storage.model",
        "",
    ),
    (
        "storage suite node floor not positive",
        lambda d: d["probes"].update(storage={"node_min_read_gbs": 0}),
        "node_min_read_gbs: 0",
        1,
        "probes.storage.node_min_read_gbs",
        "",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "needle", "occurrence", "path", "fragment"),
    [c[1:] for c in CASES + SCHEMA_CASES],
    ids=[c[0] for c in CASES + SCHEMA_CASES],
)
def test_error_names_file_line_and_path(
    tmp_path: Path,
    prod_doc: Doc,
    mutate: Mutation,
    needle: str,
    occurrence: int,
    path: str,
    fragment: str,
) -> None:
    mutate(prod_doc)
    file = write(tmp_path, prod_doc)
    line = line_of(file, needle, occurrence)
    errors = errors_of(file)
    prefix = f"{file}:{line}: {path}: "
    matching = [e for e in errors if e.startswith(prefix) and fragment in e]
    assert matching, f"no error {prefix!r}…{fragment!r} in:\n" + "\n".join(errors)


def test_every_error_at_once(tmp_path: Path, prod_doc: Doc) -> None:
    prod_doc["compute"][1]["hostname"] = "gpu01"
    prod_doc["mounts"][0]["export"] = "nope"
    prod_doc["software"]["nvidia"]["fabricmanager_version"] = "535.1.1"
    errors = errors_of(write(tmp_path, prod_doc))
    paths = [e.split(": ")[1] for e in errors]
    assert sorted(paths) == sorted(
        [
            "compute[1].hostname",
            "mounts[0].export",
            "software.nvidia.fabricmanager_version",
            "software.nvidia.packages.fabricmanager.version",
        ]
    )
    assert [int(e.split(":")[1]) for e in errors] == sorted(int(e.split(":")[1]) for e in errors)


def test_warnings_do_not_fail(tmp_path: Path, prod_doc: Doc) -> None:
    prod_doc["control_plane"] = prod_doc["control_plane"][:2]
    prod_doc["control_plane"][0]["roles"].append("slurmdbd")
    file = write(tmp_path, prod_doc)
    result = load_inventory(file)
    texts = [str(w) for w in result.warnings]
    line = line_of(file, "control_plane:")
    assert (
        f"{file}:{line}: warning: control_plane: 2 control-plane node(s); the reference design has 3"
        in texts[0]
    )


def test_health_thresholds_and_pcie_reach_the_model(tmp_path: Path, prod_doc: Doc) -> None:
    prod_doc["health"] = {
        "thresholds": {
            "critical_xids": [79],
            "ib_link_downed_growth": 2,
            "dcgm_timeout_s": {"quick": 5},
        }
    }
    prod_doc["profiles"]["xe9680-h100"]["pcie"] = {"hca": {"gen": 4}}
    inventory = load_inventory(write(tmp_path, prod_doc)).inventory
    thresholds = inventory.health.thresholds
    assert (thresholds.critical_xids, thresholds.ib_link_downed_growth) == ((79,), 2)
    assert thresholds.dcgm_timeout_s == {"quick": 5, "standard": 900, "burn-in": 3600}
    assert thresholds.ber_error == 1e-11
    pcie = inventory.compute[0].profile.pcie
    assert (pcie.gpu.gen, pcie.gpu.width, pcie.hca.gen, pcie.hca.width) == (5, 16, 4, 16)
    assert [(p.name, p.version) for p in inventory.software.health_tools] == [
        ("pciutils", "1:3.7.0-6")
    ]


def test_storage_suite_settings_reach_the_model(tmp_path: Path, prod_doc: Doc) -> None:
    prod_doc["probes"]["storage"] = {"model": "gpt3-175b", "file_mib": 512, "node_min_write_gbs": 2}
    storage = load_inventory(write(tmp_path, prod_doc)).inventory.probes.storage
    assert (storage.model, storage.file_mib, storage.checkpoint_minutes) == ("gpt3-175b", 512, 5)
    assert (storage.node_min_write_gbs, storage.node_min_read_gbs) == (2, None)


def test_storage_suite_without_a_checkpoint_mount_warns(tmp_path: Path, prod_doc: Doc) -> None:
    prod_doc["mounts"] = [m for m in prod_doc["mounts"] if m["export"] != "checkpoints"]
    file = write(tmp_path, prod_doc)
    texts = [str(w) for w in load_inventory(file).warnings]
    assert any(
        "warning: probes.storage: no mount of an export with purpose 'checkpoints'" in t
        for t in texts
    ), texts


def test_firmware_lock_reaches_the_model(tmp_path: Path, prod_doc: Doc) -> None:
    prod_doc["profiles"]["xe9680-h100"]["firmware"] = {
        "hca": "28.39.1002",
        "vbios": "96.00.74.00.0d",
    }
    result = load_inventory(write(tmp_path, prod_doc))
    profile = result.inventory.compute[0].profile
    assert (profile.firmware.hca, profile.firmware.vbios) == ("28.39.1002", "96.00.74.00.0D")
    assert profile.lock_path("hca") == "profiles.xe9680-h100.firmware.hca"
    assert result.warnings == []
    unlocked = load_inventory(PROD_YAML).inventory.compute[0].profile.firmware
    assert (unlocked.hca, unlocked.vbios) == (None, None)


def test_firmware_lock_off_the_reference_hardware_warns(tmp_path: Path, prod_doc: Doc) -> None:
    prod_doc["profiles"]["xe9680-h100"]["firmware"] = {
        "hca": "22.39.1002",
        "vbios": "92.00.45.00.06",
    }
    file = write(tmp_path, prod_doc)
    texts = [str(w) for w in load_inventory(file).warnings]
    assert texts == [
        f"{file}:{line_of(file, 'hca: 22.39.1002')}: warning: profiles.xe9680-h100.firmware.hca: "
        "22.39.1002 is not ConnectX-7 firmware (28.x), the reference design's HCA",
        f"{file}:{line_of(file, 'vbios: 92.00.45.00.06')}: warning: "
        "profiles.xe9680-h100.firmware.vbios: 92.00.45.00.06 is not an H100 VBIOS (96.00.xx.xx.xx), "
        "but the profile's GPUs are NVIDIA H100 80GB HBM3",
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("cluster:\n  name: a\n  name: b\n", 3, "duplicate key 'name' (first defined on line 2)"),
        (
            "cluster: [1, 2\nssh: {}\n",
            1,
            "flow sequence did not find expected ',' or ']' (noticed on line 2)",
        ),
        (
            "cluster:\n  name: a\n  bogus line\n  ssh: {}\n",
            3,
            "could not find expected ':' (noticed on line 4)",
        ),
        ('cluster:\n  name: "a\n  ssh: {}\n', 2, "while scanning a quoted scalar"),
        ("cluster:\n  name: a\n nodes: 2\n", 3, "did not find expected key"),
        ("cluster: {nodes: !!int eight}\n", 1, "invalid YAML value: tag:yaml.org,2002:int"),
        ("", 0, "the file is empty"),
        ("# only a comment\n", 0, "the file is empty"),
        ("- a\n- b\n", 1, "the top level must be a mapping, not a list"),
        ("cluster: {name: x}\n", 1, "missing required field 'ssh'"),
        ("key: @bad\n", 1, "invalid YAML"),
    ],
    ids=[
        "duplicate key",
        "unclosed flow",
        "key without colon",
        "unclosed quote",
        "bad indentation",
        "bad tagged value",
        "empty",
        "comment only",
        "list at top",
        "missing sections",
        "reserved char",
    ],
)
def test_bad_yaml(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    errors = errors_of(file)
    where = f"{file}:{line}:" if line else f"{file}:"
    assert any(e.startswith(where) and fragment in e for e in errors), errors


def test_duplicate_key_deep_in_the_file(tmp_path: Path) -> None:
    text = PROD_YAML.read_text().replace(
        "  profile: xe9680-h100\n", "  profile: xe9680-h100\n  profile: other\n", 1
    )
    file = tmp_path / "dup.yaml"
    file.write_text(text)
    line = line_of(file, "profile: other")
    assert errors_of(file) == [
        f"{file}:{line}: duplicate key 'profile' (first defined on line {line - 1})"
    ]


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    from trainbed.inventory.source import parse_yaml

    data, _ = parse_yaml("base: &b {x: 1, y: 2}\nnode:\n  <<: *b\n  y: 3\n", "m.yaml")
    assert data["node"] == {"x": 1, "y": 3}


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "absent.yaml") == [f"{tmp_path / 'absent.yaml'}: no such file"]
    assert "is a directory" in errors_of(tmp_path)[0]


def test_not_utf8(tmp_path: Path) -> None:
    file = tmp_path / "latin1.yaml"
    file.write_bytes(b"cluster: caf\xe9\n")
    assert "not UTF-8" in errors_of(file)[0]


def test_subnet_manager_on_a_compute_node_needs_its_port_guid(
    tmp_path: Path, prod_doc: Doc
) -> None:
    rail = prod_doc["networks"]["infiniband"]["rails"][0]
    rail["subnet_managers"][1]["host"] = "gpu02"
    del prod_doc["compute"][1]["hcas"][0]["port_guid"]
    file = write(tmp_path, prod_doc)
    errors = errors_of(file)
    assert any(
        "networks.infiniband.rails[0].subnet_managers[1].host: gpu02's HCA mlx5_0 on rail 'rail0' needs a port_guid"
        in e
        for e in errors
    ), errors


def test_switch_port_reaches_the_model(tmp_path: Path, prod_doc: Doc) -> None:
    """One port number on every rail's leaf is no clash: (leaf, port) is what must be unique."""
    for hca in prod_doc["compute"][0]["hcas"]:
        hca["switch_port"] = 3
    inv = load_inventory(write(tmp_path, prod_doc)).inventory
    assert {h.switch_port for h in inv.compute[0].hcas} == {3}
    assert {h.switch_port for h in inv.compute[1].hcas} == {None}
