"""Base system files: /etc/hosts, chrony, sysctl and limits for RDMA, apt sources and pins."""

from __future__ import annotations

from trainbed.inventory.model import Inventory, Package, Repository
from trainbed.render.shared import per_inventory
from trainbed.render.templates import render

KEYRING_DIR = "/etc/apt/keyrings"


@per_inventory
def hosts(inventory: Inventory) -> str:
    return render("hosts.j2", inv=inventory, source=inventory.source.name)


@per_inventory
def chrony_conf(inventory: Inventory) -> str:
    return render("chrony.conf.j2", inv=inventory, source=inventory.source.name)


def sysctl_rdma() -> str:
    return render("sysctl-rdma.conf.j2")


def limits_rdma() -> str:
    return render("limits-rdma.conf.j2")


def keyring_path(repo: Repository) -> str:
    """Where the repository's key lands; armoured keys keep .asc so apt reads them as such."""
    suffix = ".asc" if repo.signed_by.suffix == ".asc" else ".gpg"
    return f"{KEYRING_DIR}/trainbed-{repo.name}{suffix}"


def apt_source(inventory: Inventory, repo: Repository) -> str:
    return render(
        "apt.sources.j2", repo=repo, source=inventory.source.name, keyring=keyring_path(repo)
    )


def apt_preferences(inventory: Inventory, packages: list[Package]) -> str:
    return render("apt.preferences.j2", packages=packages, source=inventory.source.name)
