"""The inventory as other tools want it: pyinfra groups and an Ansible script inventory.

Both carry the same groups (`Inventory.groups`) and the same per-host variables, so there is never
a second list of hosts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from trainbed.hostkeys import trust_digest
from trainbed.inventory.model import Inventory, Node
from trainbed.render.packages import locked_packages


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and paths as JSON-ready dicts, lists and strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def host_vars(inventory: Inventory, node: Node) -> dict[str, Any]:
    """Variables of one host: where to reach it, its validated model, the inventory it came from."""
    ssh = inventory.ssh
    return {
        "ssh_hostname": node.address,
        "ssh_user": ssh.user,
        "ssh_port": ssh.port,
        "ssh_key": str(ssh.key_file),
        "ssh_known_hosts_file": str(ssh.known_hosts_file),
        "ssh_strict_host_key_checking": ssh.strict_host_key_checking,
        "trainbed_inventory": str(inventory.source),
        "trainbed_hostname": node.hostname,
        "trainbed_kind": node.kind,
        "trainbed_roles": list(node.roles),
        "trainbed_node": _plain(node),
    }


def pyinfra_groups(inventory: Inventory) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Module-level names for a pyinfra inventory file: group → [(host, host data)]."""
    data = {node.hostname: host_vars(inventory, node) for node in inventory.nodes}
    return {
        group: [(host, data[host]) for host in hosts] for group, hosts in inventory.groups().items()
    }


def cluster_vars(inventory: Inventory) -> dict[str, Any]:
    """Cluster-wide variables for Ansible (group `all`): what the day-2 playbooks check against."""
    ib = inventory.networks.infiniband
    return {
        "trainbed_cluster_name": inventory.cluster.name,
        "trainbed_infiniband": {
            "network_config": ib.network_config,
            "link_rate_gbps": ib.link_rate_gbps,
            "link_layer": ib.link_layer,
        },
    }


def ansible_inventory(inventory: Inventory) -> dict[str, Any]:
    """The JSON an Ansible script inventory prints for `--list`."""
    hostvars = {}
    trust = trust_digest(inventory.ssh.known_hosts_file, inventory.ssh.strict_host_key_checking)
    for node in inventory.nodes:
        ssh_vars = host_vars(inventory, node)
        hostvars[node.hostname] = {
            "ansible_host": node.address,
            "ansible_user": inventory.ssh.user,
            "ansible_port": inventory.ssh.port,
            "ansible_ssh_private_key_file": str(inventory.ssh.key_file),
            "ansible_ssh_common_args": (
                f"-o UserKnownHostsFile={inventory.ssh.known_hosts_file} "
                f"-o StrictHostKeyChecking={inventory.ssh.strict_host_key_checking}"
            ),
            # Ansible's persistent masters (60 s) skip verification when reused: keep them apart
            # per known_hosts path, content and strictness, as the checks do.
            "ansible_control_path_dir": f"~/.ansible/cp/{trust}",
            **{k: v for k, v in ssh_vars.items() if k.startswith("trainbed_")},
            "trainbed_locked_packages": [
                {"name": p.name, "version": p.version} for p in locked_packages(inventory, node)
            ],
        }
    groups: dict[str, Any] = {
        group: {"hosts": hosts} for group, hosts in inventory.groups().items() if hosts
    }
    groups["all"] = {"children": ["ungrouped", *groups], "vars": cluster_vars(inventory)}
    groups["_meta"] = {"hostvars": hostvars}
    return groups
