"""What a role needs about the current host: its validated inventory and its compiled catalog.

Nothing here computes configuration: the inventory comes from the library's loader and the
catalog from `trainbed.catalog`, cached per host for the whole pyinfra run.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from pyinfra import host
from pyinfra import inventory as pyinfra_inventory
from pyinfra.api import FactBase
from pyinfra.api.host import Host
from pyinfra.context import ctx_host

from deploy import secrets
from trainbed.catalog import CATALOG_PATH, Catalog, compile_catalog
from trainbed.catalog.compile import SLURMDBD_CONF
from trainbed.catalog.model import File
from trainbed.inventory import Inventory, load_inventory
from trainbed.inventory.model import Node
from trainbed.render import render_host

T = TypeVar("T")

_facts: WeakKeyDictionary[Host, dict[type[FactBase[Any]], Any]] = WeakKeyDictionary()


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


def catalog() -> Catalog:
    """The current host's whole catalog."""
    return _catalog(host.data.get("trainbed_inventory"), hostname())


def role(name: str) -> Catalog:
    """The resources deploy role `name` applies on the current host."""
    return catalog().of(name)


def catalog_file() -> File:
    """The catalog's own JSON, installed for node-local tools (no secret in it)."""
    return File(CATALOG_PATH, "base", catalog().to_json())


@cache
def _catalog(path: str, hostname: str) -> Catalog:
    return compile_catalog(_inventory(path), hostname)


def slurmdbd_conf() -> File:
    """slurmdbd.conf with the real password; only on the accounting host."""
    inv = inventory()
    spec = catalog().file(SLURMDBD_CONF)
    content = render_host(inv, hostname(), secrets.slurmdbd_password(inv))[spec.path].content
    return File(spec.path, spec.role, content, spec.mode, spec.owner, spec.group, secret=True)


def fact(cls: type[FactBase[T]]) -> T:
    """The current host's fact `cls` (one without arguments), read once per host and run.

    Deploy code runs while pyinfra prepares, before any operation changes the host, so every read
    would answer alike; a role must not change the value it gets.
    """
    read = _facts.setdefault(ctx_host.get(), {})
    if cls not in read:
        read[cls] = host.get_fact(cls)
    return read[cls]
