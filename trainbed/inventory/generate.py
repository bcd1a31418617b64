"""`trainbed init`: a consistent reference-design inventory for N compute nodes, for a user to edit."""

from __future__ import annotations

import ipaddress
import math
from typing import Any

import yaml

from trainbed.inventory.model import HCAS_PER_CONFIG

SCHEMA_COMMENT = "# yaml-language-server: $schema=../trainbed/schemas/inventory.schema.json\n"
#: QM9790 has 64 NDR ports: a rail leaf with 1:1 subscription serves 32 nodes and keeps 32 uplinks.
LEAF_DOWNLINKS = 32
SWITCH_PORTS = 64
#: ConnectX-7 devices of an XE9680 with 8 HCAs, in GPU order (the gaps are the Ethernet and BlueField ports).
XE9680_HCA_DEVICES = (
    "mlx5_0",
    "mlx5_3",
    "mlx5_4",
    "mlx5_5",
    "mlx5_6",
    "mlx5_9",
    "mlx5_10",
    "mlx5_11",
)
XE9680_GPU_BUS_IDS = tuple(
    f"00000000:{bus}:00.0" for bus in ("19", "3B", "4C", "5D", "9B", "BB", "CB", "DB")
)
#: Port GUIDs as real ConnectX-7 ones read: a Mellanox OUI (a0:88:c2), 0x0300, then 24 bits.
GUID_BASE = 0xA088C20300000000
#: OpenSM priority of a rail's first subnet manager (the master); each standby one lower.
SM_TOP_PRIORITY = 15
_CONTROL_ROLES = (
    ["cluster_manager", "slurmctld_primary", "opensm", "login"],
    ["slurmctld_backup", "opensm"],
    ["slurmdbd"],
)


def _guid(host_index: int, port_index: int) -> str:
    return f"0x{GUID_BASE + host_index * 256 + port_index:016x}"


def subnet_managers(hosts: list[str]) -> list[dict[str, Any]]:
    """A rail's subnet managers on `hosts`: the first is the master, the others standby in order."""
    return [{"host": host, "priority": SM_TOP_PRIORITY - i} for i, host in enumerate(hosts)]


def _host_address(subnet: ipaddress.IPv4Network, block: int, index: int) -> str:
    """Address `index` (0-based) of block `block`: 250 hosts per /24-sized block, from .1."""
    return str(subnet.network_address + 256 * (block + index // 250) + index % 250 + 1)


def _rail_devices(config: int) -> list[str]:
    devices = list(XE9680_HCA_DEVICES)
    return devices if config == 1 else devices[::2]


def _fabric(nodes: int, rails: int) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """IB switches and, per rail, the leaf that serves each block of 32 nodes.

    Beyond 32 nodes each rail is a two-tier 1:1 fat tree of its own (rail-optimised, as
    NVIDIA's SuperPOD): L leaves, each with 32 node ports and 32 uplinks, and ⌈L/2⌉ spines whose
    64 ports take the L × 32 uplinks; every leaf reaches every spine of its rail, its 32 uplinks
    spread round-robin over them (32 / S cables a spine when S divides 32). ``uplinks`` lists
    each spine once. Two tiers of QM9790 reach 64 leaves (2,048 nodes) a rail.
    """
    if nodes <= SWITCH_PORTS // 2:
        leaves = [[f"ib-rail{r}"] for r in range(rails)]
        return [
            {
                "name": leaf[0],
                "model": "QM9790",
                "role": "rail",
                "fabric": "infiniband",
                "externally_managed": True,
            }
            for leaf in leaves
        ], leaves
    per_rail = math.ceil(nodes / LEAF_DOWNLINKS)
    if per_rail > SWITCH_PORTS:
        raise ValueError(
            f"{nodes} nodes need {per_rail} leaves a rail: a two-tier fat tree of QM9790 "
            f"reaches {SWITCH_PORTS} ({SWITCH_PORTS * LEAF_DOWNLINKS} nodes)"
        )
    leaves = [[f"ib-rail{r}-leaf{k}" for k in range(per_rail)] for r in range(rails)]
    spines = [
        [f"ib-rail{r}-spine{s}" for s in range(math.ceil(per_rail * LEAF_DOWNLINKS / SWITCH_PORTS))]
        for r in range(rails)
    ]
    switches: list[dict[str, Any]] = []
    for rail, names in enumerate(leaves):
        switches += [
            {
                "name": name,
                "model": "QM9790",
                "role": "leaf",
                "fabric": "infiniband",
                "externally_managed": True,
                "uplinks": list(spines[rail]),
            }
            for name in names
        ]
    switches += [
        {
            "name": s,
            "model": "QM9790",
            "role": "spine",
            "fabric": "infiniband",
            "externally_managed": True,
        }
        for group in spines
        for s in group
    ]
    return switches, leaves


def generate_inventory(
    compute_nodes: int, network_config: int, control_plane: int = 3, name: str = "trainbed"
) -> dict[str, Any]:
    """The inventory document (plain data) for a reference-design cluster of this size."""
    if compute_nodes < 1:
        raise ValueError("at least one compute node")
    if not 1 <= control_plane <= 3:
        raise ValueError("1 to 3 control-plane nodes")
    management = ipaddress.IPv4Network("10.10.0.0/16")
    ethernet = ipaddress.IPv4Network("10.20.0.0/16")
    rail_count = HCAS_PER_CONFIG[network_config]
    devices = _rail_devices(network_config)
    ib_switches, leaves = _fabric(compute_nodes, rail_count)
    width = max(2, len(str(compute_nodes)))
    # A standby SM needs a second host: the first compute node when there is one controller only.
    sm_hosts = ["cp1", "cp2"] if control_plane >= 2 else ["cp1", f"gpu{1:0{width}d}"]
    rails = [
        {
            "name": f"rail{r}",
            "switch": leaves[r][0],
            "subnet_prefix": f"0xfe800000000000{r:02x}",
            "subnet_managers": subnet_managers(sm_hosts),
        }
        for r in range(rail_count)
    ]
    roles = [list(r) for r in _CONTROL_ROLES[:control_plane]]
    if control_plane < 3:
        roles[0].append("slurmdbd")
    control = [
        {
            "hostname": f"cp{i + 1}",
            "address": _host_address(management, 0, 10 + i),
            "ethernet_address": _host_address(ethernet, 0, 10 + i),
            "roles": roles[i],
            **(
                {
                    "hcas": [
                        {"device": f"mlx5_{r}", "rail": f"rail{r}", "port_guid": _guid(i, r)}
                        for r in range(rail_count)
                    ]
                }
                if f"cp{i + 1}" in sm_hosts
                else {}
            ),
        }
        for i in range(control_plane)
    ]
    compute = [
        {
            "hostname": f"gpu{i + 1:0{width}d}",
            "address": _host_address(management, 1, i),
            "ethernet_address": _host_address(ethernet, 1, i),
            "profile": "xe9680-h100",
            "hcas": [
                {
                    "device": device,
                    "rail": f"rail{r}",
                    "port_guid": _guid(16 + i, r),
                    "nearest_gpu": r * (8 // rail_count),
                    **({"switch": leaves[r][i // LEAF_DOWNLINKS]} if len(leaves[r]) > 1 else {}),
                    # the leaf's downlinks are its first 32 ports, in node order
                    "switch_port": i % LEAF_DOWNLINKS + 1,
                }
                for r, device in enumerate(devices)
            ],
        }
        for i in range(compute_nodes)
    ]
    return {
        "cluster": {
            "name": name,
            "domain": f"{name}.example.com",
            "os_release": "ubuntu-22.04",
            "ntp_servers": ["ntp1.example.com", "ntp2.example.com"],
            "timezone": "UTC",
        },
        "ssh": {
            "user": "root",
            "port": 22,
            "key_file": "~/.ssh/id_ed25519",
            "known_hosts_file": "known_hosts",
            "strict_host_key_checking": "yes",
        },
        "networks": {
            "management": {
                "subnet": str(management),
                "gateway": str(management.network_address + 1),
            },
            "ethernet": {"subnet": str(ethernet), "mtu": 9000},
            "infiniband": {
                "network_config": network_config,
                "link_rate_gbps": 400,
                "link_layer": "InfiniBand",
                "gpudirect_rdma": True,
                "rails": rails,
            },
        },
        "switches": [
            *ib_switches,
            {"name": "eth-s5232f-1", "model": "S5232F-ON", "role": "leaf", "fabric": "ethernet"},
            {"name": "eth-s5232f-2", "model": "S5232F-ON", "role": "leaf", "fabric": "ethernet"},
        ],
        "control_plane": control,
        "profiles": {
            "xe9680-h100": {
                "model": "XE9680",
                "cpu": {"sockets": 2, "cores_per_socket": 56, "threads_per_core": 2},
                "real_memory_mb": 2_000_000,
                "gpus": {
                    "model": "NVIDIA H100 80GB HBM3",
                    "count": 8,
                    "memory_mib": 81559,
                    "nvswitch": True,
                    "bus_ids": list(XE9680_GPU_BUS_IDS),
                },
                "local_scratch": "/raid",
            }
        },
        "compute": compute,
        "storage": {
            "powerscale": {
                "name": "powerscale",
                "model": "F710",
                "onefs_version": "9.7.0.0",
                "smartconnect_zone": f"nfs.{name}.example.com",
                "exports": [
                    {"name": "datasets", "path": "/ifs/data/datasets", "purpose": "datasets"},
                    {
                        "name": "checkpoints",
                        "path": "/ifs/data/checkpoints",
                        "purpose": "checkpoints",
                    },
                    {"name": "home", "path": "/ifs/home", "purpose": "home"},
                    {
                        "name": "slurm-state",
                        "path": "/ifs/cluster/slurmctld",
                        "purpose": "software",
                    },
                ],
            }
        },
        "mounts": [
            {"export": "datasets", "mount_point": "/mnt/datasets", "nfs_version": "3"},
            {"export": "checkpoints", "mount_point": "/mnt/checkpoints", "nfs_version": "3"},
            {"export": "home", "mount_point": "/home", "nfs_version": "3", "automount": True},
            {
                "export": "slurm-state",
                "mount_point": "/var/spool/slurmctld",
                "nfs_version": "3",
                "options": ["hard", "proto=tcp", "_netdev"],
                "on": ["control_plane"],
            },
        ],
        "software": reference_software(),
        "slurm": {
            "partitions": [
                {"name": "gpu", "nodes": "ALL", "default": True, "max_time": "INFINITE"}
            ],
            "accounting": {"enabled": True, "database_password_env": "TRAINBED_SLURMDBD_PASSWORD"},
            "gres": {"autodetect": "nvml"},
            "proctrack_type": "proctrack/cgroup",
            "task_plugins": ["task/cgroup", "task/affinity"],
            "mpi_default": "pmix",
            "plugins": {"pmix": True, "nvml": True, "cgroup_v2": True},
        },
        "containers": reference_containers(),
        "probes": {"partition": "gpu"},
    }


def reference_containers() -> dict[str, Any]:
    """enroot + pyxis from the site repository and the NeMo image the white paper used."""
    return {
        "repository": "site-slurm",
        "packages": {
            "enroot": [
                {"name": "enroot", "version": "3.4.1-1"},
                {"name": "enroot+caps", "version": "3.4.1-1"},
            ],
            "pyxis": {"name": "nvslurm-plugin-pyxis", "version": "0.16.1-1"},
        },
        "nemo": {"image": "nvcr.io/nvidia/nemo:23.11"},
    }


def reference_software() -> dict[str, Any]:
    """Package sources and locked versions of the reference design on Ubuntu 22.04."""
    return {
        "repositories": [
            {
                "name": "cuda",
                "uris": ["https://repo.example.com/mirror/cuda/ubuntu2204/x86_64"],
                "suites": ["/"],
                "signed_by": "keys/cuda-archive-keyring.gpg",
                "on": ["compute"],
            },
            {
                "name": "doca",
                "uris": ["https://repo.example.com/mirror/doca/2.7.0/ubuntu22.04/x86_64"],
                "suites": ["./"],
                "signed_by": "keys/doca.asc",
            },
            {
                "name": "site-slurm",
                "uris": ["https://repo.example.com/site/slurm-23.02"],
                "suites": ["jammy"],
                "components": ["main"],
                "signed_by": "keys/site-slurm.asc",
            },
        ],
        # lspci for the PCIe link and ACS checks (Ubuntu 22.04's pciutils).
        "health_tools": [{"name": "pciutils", "version": "1:3.7.0-6"}],
        "probe_tools": [{"name": "fio", "version": "3.28-1"}],
        "kernel": {
            "packages": [
                {"name": "linux-image-5.15.0-105-generic", "version": "5.15.0-105.115"},
                {"name": "linux-headers-5.15.0-105-generic", "version": "5.15.0-105.115"},
            ]
        },
        "nvidia": {
            "driver_branch": "535",
            "driver_version": "535.183.01",
            "fabricmanager_version": "535.183.01",
            "packages": {
                "driver": {
                    "name": "nvidia-driver-535-server",
                    "version": "535.183.01-0ubuntu0.22.04.1",
                },
                "fabricmanager": {"name": "nvidia-fabricmanager-535", "version": "535.183.01-1"},
                "dcgm": {"name": "datacenter-gpu-manager", "version": "1:3.3.6"},
                "extra": [{"name": "libnvidia-nscq-535", "version": "535.183.01-1"}],
            },
        },
        "infiniband": {
            "ofed": {"flavour": "doca-ofed", "version": "24.04-0.7.0.0"},
            "packages": {
                "ofed": [{"name": "doca-ofed", "version": "2.7.0-0.0.1"}],
                "diagnostics": [
                    {"name": "infiniband-diags", "version": "2404mlnx51-1.2404066"},
                    {"name": "ibverbs-utils", "version": "2404mlnx51-1.2404066"},
                ],
                "subnet_manager": {
                    "name": "opensm",
                    "version": "5.19.0.MLNX20240517.c0a6c3c3-0.1.2404066",
                },
                "perftest": {"name": "perftest", "version": "24.04.0-0.41.g6f7ff39.2404066"},
                "nccl": [
                    {"name": "libnccl2", "version": "2.18.5-1+cuda12.2"},
                    {"name": "nccl-tests", "version": "2.13.9-1"},
                ],
            },
        },
        "slurm": {
            "version": "23.02.4",
            "packages": {
                "common": [
                    {"name": "munge", "version": "0.5.14-6"},
                    {"name": "slurm-smd", "version": "23.02.4-1"},
                    {"name": "slurm-smd-client", "version": "23.02.4-1"},
                ],
                "controller": [{"name": "slurm-smd-slurmctld", "version": "23.02.4-1"}],
                "database": [
                    {"name": "slurm-smd-slurmdbd", "version": "23.02.4-1"},
                    {"name": "mariadb-server", "version": "1:10.6.16-0ubuntu0.22.04.1"},
                ],
                "compute": [{"name": "slurm-smd-slurmd", "version": "23.02.4-1"}],
            },
        },
    }


def dump_inventory(doc: dict[str, Any]) -> str:
    """YAML text with the schema comment on top; leaf lists and maps in flow style to stay short."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    body = yaml.dump(doc, Dumper=dumper, sort_keys=False, default_flow_style=None, width=120)
    return SCHEMA_COMMENT + body
