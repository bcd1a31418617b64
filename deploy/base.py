"""base: every node we log in to — hosts, time, apt sources and pins, RDMA limits, service users."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from deploy import context
from deploy.daemons import daemon
from deploy.facts import HeldPackages
from deploy.push import changed, push
from trainbed.inventory.model import ComputeNode, Package
from trainbed.render.system import keyring_path

#: Sources and keys rarely change; refresh the package lists at most daily otherwise.
APT_CACHE_SECONDS = 86400


@deploy("base: system users with fixed IDs")
def service_users() -> None:
    """munge and slurm users exist with the inventory's IDs before any package creates them."""
    slurm = context.inventory().slurm
    for name, uid, home in (
        ("munge", slurm.munge_uid, "/nonexistent"),
        ("slurm", slurm.slurm_uid, "/var/lib/slurm"),
    ):
        server.group(name=f"Group {name}", group=name, gid=uid, system=True)
        server.user(
            name=f"User {name}",
            user=name,
            uid=uid,
            group=name,
            home=home,
            shell="/usr/sbin/nologin",
            system=True,
            ensure_home=False,
        )


@deploy("base: system files")
def system_files() -> None:
    inv = context.inventory()
    pushed = push(context.files("base"))
    files.link(
        name="Time zone",
        path="/etc/localtime",
        target=f"/usr/share/zoneinfo/{inv.cluster.timezone}",
    )
    sysctl = pushed["/etc/sysctl.d/90-trainbed-rdma.conf"]
    # systemd-sysctl skips itself where /proc/sys is read-only (containers): no special case here.
    systemd.service(
        name="Apply sysctl settings",
        service="systemd-sysctl",
        restarted=True,
        _if=lambda: changed(sysctl),
    )
    if inv.cluster.time_sync == "chrony":
        apt.packages(name="chrony", packages=["chrony"], update=True, cache_time=APT_CACHE_SECONDS)
        chrony = pushed["/etc/chrony/chrony.conf"]
        daemon("chrony", name="chrony running", restart_when=lambda: changed(chrony))


@deploy("base: apt repositories and locked versions")
def apt_sources() -> None:
    inv = context.inventory()
    node = context.node()
    key_ops = [
        files.put(
            name=f"Signing key of {repo.name}",
            src=str(repo.signed_by),
            dest=keyring_path(repo),
            mode="0644",
            create_remote_dir=True,
        )
        for repo in inv.software.repositories
        if node.kind in repo.on
    ]
    source_ops = [
        op
        for path, op in push(context.files("apt")).items()
        if path.startswith("/etc/apt/sources.list.d/")
    ]
    apt.update(
        name="Refresh package lists (sources changed)", _if=lambda: changed(*key_ops, *source_ops)
    )
    apt.update(name="Refresh package lists", cache_time=APT_CACHE_SECONDS)
    install_locked(list(inv.software.kernel), "Kernel")
    if isinstance(node, ComputeNode):
        apt.packages(
            name="No unattended upgrades on compute nodes",
            packages=["unattended-upgrades"],
            present=False,
        )


def install_locked(packages: list[Package], what: str) -> None:
    """Install exact versions (downgrading if needed) and hold them."""
    if not packages:
        return
    apt.packages(
        name=f"{what}: exact versions",
        packages=[p.spec for p in packages],
        allow_downgrades=True,
        extra_install_args="--allow-change-held-packages",
    )
    held = host.get_fact(HeldPackages)
    to_hold = sorted(p.name for p in packages if p.name not in held)
    if to_hold:
        server.shell(name=f"{what}: hold", commands=[f"apt-mark hold {' '.join(to_hold)}"])


@deploy("base")
def base() -> None:
    service_users()
    system_files()
    apt_sources()
