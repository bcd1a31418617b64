"""The cluster plan derived from an inventory YAML (only the fields the mock needs).

Pure functions: load/transform dicts, no Docker, no files written here.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trainbed.inventory.generate import GUID_BASE, subnet_managers

MAX_COMPUTE = 8
CONTROL_OFFSET, COMPUTE_OFFSET, STORAGE_OFFSET = 11, 21, 31
GUID_PREFIX = GUID_BASE >> 24  # the library's OUI + 0x0300; then address octets and index

#: Roles of the control-plane nodes for 1 and for 3 nodes.
CONTROL_ROLES = {
    1: [["cluster_manager", "slurmctld_primary", "slurmdbd", "opensm", "login"]],
    3: [
        ["cluster_manager", "slurmctld_primary", "opensm"],
        ["slurmctld_backup", "opensm", "login"],
        ["slurmdbd"],
    ],
}


@dataclass(frozen=True)
class Node:
    """One container of the mock cluster."""

    hostname: str
    address: str
    kind: str  # "control" | "compute" | "storage"
    roles: tuple[str, ...] = ()
    hcas: tuple[dict[str, Any], ...] = ()
    profile: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    aliases: tuple[str, ...] = ()


def load(path: Path) -> dict[str, Any]:
    """Read an inventory YAML file."""
    with open(path) as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


def cluster_name(inv: dict[str, Any]) -> str:
    """The cluster's name (also the Docker label value)."""
    return str(inv["cluster"]["name"])


def subnet(inv: dict[str, Any]) -> str:
    """The management subnet (the Docker network's subnet)."""
    return str(inv["networks"]["management"]["subnet"])


def nodes(inv: dict[str, Any]) -> list[Node]:
    """Control-plane, compute and storage nodes, in that order."""
    result = [
        Node(
            n["hostname"],
            n["address"],
            "control",
            tuple(n.get("roles", ())),
            tuple(n.get("hcas", ())),
        )
        for n in inv.get("control_plane", [])
    ]
    profiles = inv.get("profiles", {})
    for n in inv.get("compute", []):
        result.append(
            Node(
                n["hostname"],
                n["address"],
                "compute",
                (),
                tuple(n.get("hcas", ())),
                profiles.get(n.get("profile"), {}),
            )
        )
    ps = inv.get("storage", {}).get("powerscale")
    if ps:
        zone = ps.get("smartconnect_zone")
        result.append(Node(ps["name"], ps["address"], "storage", aliases=(zone,) if zone else ()))
    return result


def port_guid(address: str, index: int) -> str:
    """A GUID unique per HCA: Mellanox-style prefix + the address's last two octets + index."""
    octets = ipaddress.IPv4Address(address).packed
    return f"0x{GUID_PREFIX:010x}{octets[2]:02x}{octets[3]:02x}{index:02x}"


def switch_port(address: str) -> int:
    """A node's port on each rail's leaf: its address's last octet (the mock's nodes sit at host
    offsets 11.., 21.., 31..: unique, and within a QM9790's 64 ports)."""
    return ipaddress.IPv4Address(address).packed[3]


def _address(net: ipaddress.IPv4Network, offset: int) -> str:
    return str(net.network_address + offset)


def _regen_hcas(hcas: list[dict[str, Any]], address: str) -> list[dict[str, Any]]:
    out = []
    for i, hca in enumerate(hcas):
        new = dict(hca)
        if "port_guid" in new:
            new["port_guid"] = port_guid(address, i)
        if "switch_port" in new:
            new["switch_port"] = switch_port(address)
        out.append(new)
    return out


def remap_subnet(inv: dict[str, Any], new_subnet: str) -> dict[str, Any]:
    """Move every address to ``new_subnet`` keeping its host offset (for a subnet override)."""
    old = ipaddress.IPv4Network(subnet(inv))
    new = ipaddress.IPv4Network(new_subnet)
    if old.prefixlen != new.prefixlen:
        raise ValueError(f"subnet override {new} must have the prefix length of {old}")
    out = copy.deepcopy(inv)

    def move(addr: str) -> str:
        return str(
            new.network_address + (int(ipaddress.IPv4Address(addr)) - int(old.network_address))
        )

    for network in out["networks"].values():
        if network.get("subnet") == str(old):
            network["subnet"] = str(new)
            if "gateway" in network:
                network["gateway"] = move(network["gateway"])
    for group in ("control_plane", "compute"):
        for n in out.get(group, []):
            for key in ("address", "ethernet_address", "bmc_address"):
                if key in n:
                    n[key] = move(n[key])
    ps = out.get("storage", {}).get("powerscale")
    if ps and "address" in ps:
        ps["address"] = move(ps["address"])
    return out


def variant(
    inv: dict[str, Any], compute: int | None = None, control_plane: int | None = None
) -> dict[str, Any]:
    """The inventory with ``compute`` compute nodes and ``control_plane`` control nodes.

    New nodes copy the first node of their group (profile, HCA layout) with fresh names
    (gpuNN, cpN), addresses at the fixed offsets and port GUIDs derived from the address.
    """
    out = copy.deepcopy(inv)
    net = ipaddress.IPv4Network(subnet(inv))
    if compute is not None:
        if not 1 <= compute <= MAX_COMPUTE:
            raise ValueError(f"--compute must be 1..{MAX_COMPUTE}, got {compute}")
        template = inv["compute"][0]
        nodes_out = []
        for i in range(compute):
            existing = inv["compute"][i] if i < len(inv["compute"]) else None
            if existing is not None:
                nodes_out.append(copy.deepcopy(existing))
                continue
            address = _address(net, COMPUTE_OFFSET + i)
            node = copy.deepcopy(template)
            node.update(
                hostname=f"gpu{i + 1:02d}",
                address=address,
                hcas=_regen_hcas(template.get("hcas", []), address),
            )
            nodes_out.append(node)
        out["compute"] = nodes_out
    if control_plane is not None:
        if control_plane not in CONTROL_ROLES:
            raise ValueError(f"--control-plane must be 1 or 3, got {control_plane}")
        template = inv["control_plane"][0]
        cps = []
        for i, roles in enumerate(CONTROL_ROLES[control_plane]):
            address = _address(net, CONTROL_OFFSET + i)
            node = (
                copy.deepcopy(inv["control_plane"][i])
                if i < len(inv["control_plane"])
                else copy.deepcopy(template)
            )
            hcas = (
                node.get("hcas", [])
                if i < len(inv["control_plane"])
                else _regen_hcas(template.get("hcas", []), address)
            )
            node.update(
                hostname=node["hostname"] if i < len(inv["control_plane"]) else f"cp{i + 1}",
                address=address if i >= len(inv["control_plane"]) else node["address"],
                roles=list(roles),
                hcas=hcas,
            )
            if "opensm" not in roles:
                node.pop("hcas", None)
            cps.append(node)
        out["control_plane"] = cps
        _place_subnet_managers(out)
    return out


def _place_subnet_managers(inv: dict[str, Any]) -> None:
    """Primary SM on the first opensm controller, standby on the second or else on gpu01."""
    hosts = [n["hostname"] for n in inv["control_plane"] if "opensm" in n["roles"]]
    if len(hosts) < 2:
        hosts.append(inv["compute"][0]["hostname"])
    for rail in inv["networks"]["infiniband"]["rails"]:
        rail["subnet_managers"] = subnet_managers(hosts[:2])


def relocate_state_paths(inv: dict[str, Any], inventory_dir: Path, state: Path) -> dict[str, Any]:
    """Point the inventory's paths into the default state dir (`.mock/`) at `state` instead.

    The variant is written inside `state`, so its relative paths are taken from there.
    """
    default = (inventory_dir / "../.mock").resolve()
    out = copy.deepcopy(inv)

    def move(value: str) -> str:
        path = (inventory_dir / value).resolve()
        if path == default or default in path.parents:
            return str(path.relative_to(default))
        return str(path)

    ssh = out["ssh"]
    ssh["key_file"] = move(ssh["key_file"])
    ssh["known_hosts_file"] = move(ssh["known_hosts_file"])
    accounting = out["slurm"]["accounting"]
    if "database_password_file" in accounting:
        accounting["database_password_file"] = move(accounting["database_password_file"])
    for repo in out["software"]["repositories"]:
        repo["signed_by"] = move(repo["signed_by"])
    return out


def dump(inv: dict[str, Any]) -> str:
    """YAML text of an inventory (block style, key order kept)."""
    return yaml.safe_dump(inv, sort_keys=False, default_flow_style=False)


def _debian_packages(inv: dict[str, Any], simulated: set[str]) -> list[dict[str, Any]]:
    """The inventory's package entries that Debian ships (not the simulated repository's)."""
    software = inv["software"]
    entries = [p for group in software["slurm"]["packages"].values() for p in group]
    entries += software.get("probe_tools", []) + software.get("health_tools", [])
    return [p for p in entries if p["name"] not in simulated]


def debian_package_names(inv: dict[str, Any], simulated: set[str]) -> list[str]:
    """Names of the Debian packages the inventory pins (what ``for_release`` asks versions of)."""
    return [p["name"] for p in _debian_packages(inv, simulated)] + ["rdma-core"]


def upstream(version: str) -> str:
    """``1:24.11.5-4+deb13u1`` -> ``24.11.5`` (no epoch, no Debian revision)."""
    return version.split(":", 1)[-1].rsplit("-", 1)[0]


def for_release(
    inv: dict[str, Any], os_release: str, versions: dict[str, str], simulated: set[str]
) -> dict[str, Any]:
    """The inventory for nodes of another Debian release: its ``os_release``, Debian's package
    versions there (``versions``: name -> version, as the release's apt offers them), the Slurm
    version of its slurmctld package. The simulated packages keep their versions."""
    out = copy.deepcopy(inv)
    out["cluster"]["os_release"] = os_release
    missing = [p["name"] for p in _debian_packages(out, simulated) if p["name"] not in versions]
    if missing:
        raise ValueError(f"{os_release} offers no version of {', '.join(sorted(set(missing)))}")
    for package in _debian_packages(out, simulated):
        package["version"] = versions[package["name"]]
    slurm = out["software"]["slurm"]
    slurm["version"] = upstream(versions[slurm["packages"]["controller"][0]["name"]])
    ofed = out["software"]["infiniband"]["ofed"]
    if ofed["flavour"] == "rdma-core" and "rdma-core" in versions:
        ofed["version"] = upstream(versions["rdma-core"])
    return out
