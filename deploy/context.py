"""What a role needs about the current host: its validated inventory and its rendered files.

Nothing here computes configuration: the inventory comes from the library's loader and the files
from its renderer, cached per inventory file for the whole pyinfra run.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pyinfra import host
from pyinfra import inventory as pyinfra_inventory
from pyinfra.api.host import Host

from deploy import secrets
from trainbed.inventory import Inventory, load_inventory
from trainbed.inventory.model import Node
from trainbed.render import RenderedFile, render_host


@cache
def _inventory(path: str) -> Inventory:
    return load_inventory(Path(path)).inventory


def inventory() -> Inventory:
    return _inventory(host.data.get("trainbed_inventory"))


def hostname() -> str:
    """The inventory's name for the current host (pyinfra's may carry a connector prefix)."""
    return host.data.get("trainbed_hostname")


def pyinfra_host(name: str) -> Host:
    """The pyinfra host object of inventory host `name`."""
    for candidate in pyinfra_inventory:
        if candidate.data.get("trainbed_hostname") == name:
            return candidate
    raise KeyError(name)


def node() -> Node:
    return inventory().node(hostname())


def files(role: str) -> list[RenderedFile]:
    """The current host's rendered files that `role` pushes (secrets excluded)."""
    return [f for f in _host_files(hostname()) if f.role == role and not secrets.is_secret(f.path)]


@cache
def _host_files(hostname: str) -> tuple[RenderedFile, ...]:
    return tuple(render_host(inventory(), hostname).values())


def slurmdbd_conf() -> RenderedFile:
    """slurmdbd.conf with the real password; only on the accounting host."""
    inv = inventory()
    return render_host(inv, hostname(), secrets.slurmdbd_password(inv))[secrets.SLURMDBD_CONF]
