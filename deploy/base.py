"""base: every node we log in to — users, hosts, time, apt sources and pins, RDMA limits, the catalog."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.facts.server import Groups, Users
from pyinfra.operations import apt, files, server

from deploy import context, triggers
from deploy.daemons import Daemon, daemon, prove, service
from deploy.facts import HeldPackages
from deploy.push import push
from trainbed.catalog.model import Catalog, Package, Unit

#: Sources and keys rarely change; refresh the package lists at most daily otherwise.
APT_CACHE_SECONDS = 86400


@deploy("base: system users with fixed IDs")
def service_users() -> None:
    """The catalog's users exist with their IDs before any package creates them.

    An account already as server.group and server.user would leave it (a group that exists; a
    user with the catalog's home, shell and primary group) adds no operation: two facts in all
    instead of three per group and five per user.
    """
    catalog = context.role("base")
    gids = {g.name: g.gid for g in catalog.groups}
    groups, users = context.fact(Groups), context.fact(Users)
    for user in catalog.users:
        if user.group not in groups:
            server.group(
                name=f"Group {user.group}", group=user.group, gid=gids[user.group], system=True
            )
        there = users.get(user.name)
        if there is None or (there["home"], there["shell"], there["group"]) != (
            user.home,
            user.shell,
            user.group,
        ):
            server.user(
                name=f"User {user.name}",
                user=user.name,
                uid=user.uid,
                group=user.group,
                home=user.home,
                shell=user.shell,
                system=True,
                ensure_home=False,
            )


@deploy("base: system files")
def system_files() -> None:
    catalog = context.role("base")
    pushed = push((*catalog.files, context.catalog_file()))
    for link in catalog.links:
        files.link(name=f"Link {link.path}", path=link.path, target=link.target)
    managed = {u.name for u in catalog.units}
    # systemd-sysctl skips itself where /proc/sys is read-only (containers): no special case here.
    for trigger in catalog.triggers:
        if trigger.action != "restart" or trigger.unit not in managed:
            triggers.apply(trigger, pushed)
    unlocked(catalog, update=True)
    for unit in catalog.units:
        daemon(
            daemon_of(unit),
            name=f"{unit.name} running",
            restart_when=triggers.restart_when(catalog, unit.name, pushed),
        )


@deploy("base: apt repositories and locked versions")
def apt_sources() -> None:
    catalog = context.role("apt")
    ops = push(catalog.files)  # the signing keys (local files) and the rendered sources and pins
    for trigger in catalog.triggers:
        triggers.apply(trigger, ops)
    apt.update(name="Refresh package lists", cache_time=APT_CACHE_SECONDS)
    install_locked(catalog.packages, "Kernel")
    unlocked(catalog)


def daemon_of(unit: Unit) -> Daemon:
    """The post-condition's view of a catalog unit."""
    if unit.start_timeout_s is None:
        return Daemon(unit.name, unit.port, unit.log_file)
    return Daemon(unit.name, unit.port, unit.log_file, unit.start_timeout_s)


def start_proved(catalog: Catalog, ops: triggers.Ops, name: str) -> None:
    """Every unit of the role enabled and running, restarted on its triggers; then one
    post-condition for those that started or restarted."""
    started = [
        (
            daemon_of(unit),
            service(
                unit.name,
                f"{unit.name} running",
                restart_name=f"Restart {unit.name}",
                restart_when=triggers.restart_when(catalog, unit.name, ops),
            ),
        )
        for unit in catalog.units
        if unit.running
    ]
    if started:
        prove(started, name)


def unlocked(catalog: Catalog, update: bool = False) -> None:
    """The role's packages of any version (present) and those that must be absent."""
    for package in catalog.packages:
        if package.version is not None:
            continue
        if package.present:
            apt.packages(
                name=f"{package.name} installed",
                packages=[package.name],
                update=update,
                cache_time=APT_CACHE_SECONDS if update else None,
            )
        else:
            apt.packages(name=f"{package.name} absent", packages=[package.name], present=False)


def install_locked(packages: tuple[Package, ...], what: str) -> None:
    """Install exact versions (downgrading if needed) and hold them."""
    locked = [p for p in packages if p.version is not None]
    if not locked:
        return
    apt.packages(
        name=f"{what}: exact versions",
        packages=[p.spec for p in locked],
        allow_downgrades=True,
        extra_install_args="--allow-change-held-packages",
    )
    held = context.fact(HeldPackages)
    to_hold = sorted(p.name for p in locked if p.held and p.name not in held)
    if to_hold:
        server.shell(name=f"{what}: hold", commands=[f"apt-mark hold {' '.join(to_hold)}"])


@deploy("base")
def base() -> None:
    service_users()
    system_files()
    apt_sources()
