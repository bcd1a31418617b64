"""slurm: munge with one cluster key, MariaDB and slurmdbd, slurmctld, slurmd, configs from the catalog.

A change to the lines of slurm.conf that Slurm cannot reconfigure (the restart signature the renderer
writes beside it) restarts the daemons; any other change is applied with `scontrol reconfigure`, so
slurmd keeps running on nodes the change does not concern (both are the catalog's triggers).

Order across hosts (ordering points every host shares): the primary's munge key exists before any
other host copies it; MariaDB and slurmdbd are configured, started and answering before slurmctld
starts on any host (a first slurmctld without its database exits: "we have no TRES from it"); the
controllers are up before slurmd starts. Every daemon started or restarted is proved active.
"""

from __future__ import annotations

import io

from gevent.lock import Semaphore
from pyinfra import host
from pyinfra.api import OperationError, deploy
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import File, Sha256File
from pyinfra.operations import files, python, server, systemd

from deploy import context, secrets, triggers
from deploy.base import daemon_of, install_locked
from deploy.daemons import daemon, ordering_point, prove
from deploy.facts import SystemdUnitFiles
from deploy.push import push
from trainbed.catalog.compile import GRANT_SQL, MUNGE_KEY
from trainbed.catalog.model import Catalog, Unit
from trainbed.inventory.roles import is_slurmdbd_host
from trainbed.render.slurm import slurmdbd_grant_sql

_key_lock = Semaphore()
_key_cache: dict[str, secrets.Secret] = {}


def _primary() -> str:
    return context.inventory().slurmctld_hosts[0].hostname


def _cluster_key(primary: Host) -> secrets.Secret:
    """The primary controller's munge key, fetched once per run into memory only."""
    with _key_lock:
        if primary.name not in _key_cache:
            buffer = io.BytesIO()
            if not primary.get_file(MUNGE_KEY, buffer):
                raise OperationError(f"cannot read the cluster key from {primary.name}")
            _key_cache[primary.name] = secrets.Secret(buffer.getvalue())
        return _key_cache[primary.name]


def _install_cluster_key(primary_name: str) -> None:
    key = _cluster_key(context.pyinfra_host(primary_name))
    if not host.put_file(io.BytesIO(key.reveal()), MUNGE_KEY):
        raise OperationError("upload of the cluster key failed")


def _primary_key_digest(primary_name: str) -> str | None:
    try:
        return context.pyinfra_host(primary_name).get_fact(Sha256File, path=MUNGE_KEY)
    except Exception:  # the primary is down: its own failure is reported; keep this node's key
        return None


def _stage(catalog: Catalog, stage: str) -> Unit | None:
    """The role's unit at this stage of the order across hosts, if the host runs one."""
    return next((u for u in catalog.units if u.stage == stage), None)


def _start_stage(catalog: Catalog, stage: str, pushed: triggers.Ops) -> Unit | None:
    """Start (restart on a changed file it watches) the role's unit at ``stage``; that unit."""
    unit = _stage(catalog, stage)
    if unit is not None:
        daemon(
            daemon_of(unit),
            name=unit.name,
            restart_when=triggers.restart_when(catalog, unit.name, pushed),
        )
    return unit


@deploy("slurm: cluster key")
def munge(catalog: Catalog) -> None:
    """One key for the cluster: the primary controller's, made there if absent, copied everywhere."""
    key = catalog.file(MUNGE_KEY)
    unit = _stage(catalog, "key")
    assert unit is not None
    primary = _primary()
    ops: dict[str, OperationMeta | None] = {}
    if key.create and not host.get_fact(File, path=key.path):
        ops[key.path] = server.shell(
            name=f"Create the cluster {unit.name} key", commands=[key.create]
        )
    ordering_point(name=f"Order: the cluster {unit.name} key exists")
    if context.hostname() != primary:
        mine = host.get_fact(Sha256File, path=key.path)
        theirs = _primary_key_digest(primary)
        if theirs is None or mine != theirs:
            ops[key.path] = python.call(
                name=f"Copy the cluster {unit.name} key from {primary}",
                function=_install_cluster_key,
                primary_name=primary,
            )
    files.file(
        name=f"{key.path} mode", path=key.path, user=key.owner, group=key.group, mode=key.mode
    )
    daemon(
        daemon_of(unit),
        name=f"{unit.name} running",
        restart_name=f"Restart {unit.name} (new key)",
        restart_when=triggers.restart_when(catalog, unit.name, ops),
    )


@deploy("slurm: accounting")
def accounting(catalog: Catalog, pushed: triggers.Ops) -> None:
    inv = context.inventory()
    database, dbd = _stage(catalog, "database"), _stage(catalog, "accounting")
    assert database is not None and dbd is not None
    # The package starts MariaDB before its settings file exists: restart on that file's change,
    # before slurmdbd first connects (slurmdbd checks the InnoDB settings at each start).
    daemon(
        daemon_of(database),
        name=database.name,
        restart_when=triggers.restart_when(catalog, database.name, pushed),
    )
    password = secrets.slurmdbd_password(inv)
    grant = catalog.file(GRANT_SQL)
    ops: dict[str, OperationMeta | None] = {
        grant.path: secrets.put_secret(
            grant.path,
            slurmdbd_grant_sql(inv, password).encode(),
            mode=grant.mode,
            name="Database grant (secret)",
        )
    }
    for trigger in catalog.triggers:
        if trigger.action == "command" and grant.path in trigger.on:
            triggers.apply(trigger, ops)
    conf = context.slurmdbd_conf()
    assert conf.content is not None
    ops[conf.path] = secrets.put_secret(
        conf.path,
        conf.content.encode(),
        mode=conf.mode,
        user=conf.owner,
        group=conf.group,
        name=f"{conf.path} (holds the database password)",
    )
    # The first start creates the accounting tables: it answers on its port only after that.
    daemon(
        daemon_of(dbd), name=dbd.name, restart_when=triggers.restart_when(catalog, dbd.name, ops)
    )


def scheduled(catalog: Catalog, pushed: triggers.Ops) -> None:
    """The role's units outside the daemons' order (the health program's timer on control-plane
    nodes): units reloaded when their files changed, then enabled, started, restarted on a
    changed file; a unit switched off (`only_if_present`) stopped and disabled where it is."""
    for trigger in catalog.triggers:
        if trigger.action == "daemon-reload":
            triggers.apply(trigger, pushed)
    for unit in catalog.units:
        if unit.stage is None and unit.only_if_present:
            if unit.file_name in context.fact(SystemdUnitFiles):
                systemd.service(
                    name=f"{unit.name} off",
                    service=unit.name,
                    running=bool(unit.running),
                    enabled=bool(unit.enabled),
                )
        elif unit.stage is None and unit.running:
            systemd.service(
                name=f"{unit.name} enabled and active",
                service=unit.name,
                running=True,
                enabled=True,
            )
            restart = triggers.restart_when(catalog, unit.name, pushed)
            if restart is not None:
                systemd.service(
                    name=f"Restart {unit.name}", service=unit.name, restarted=True, _if=restart
                )


@deploy("slurm")
def slurm() -> None:
    inv = context.inventory()
    node = context.node()
    catalog = context.role("slurm")
    install_locked(catalog.packages, "Slurm")
    munge(catalog=catalog)
    # The health program too, built from the installed package.
    pushed = push(catalog.files, catalog.directories)
    scheduled(catalog, pushed)
    if is_slurmdbd_host(inv, node):
        accounting(catalog=catalog, pushed=pushed)
    ordering_point(name="Order: accounting answers before any controller")
    controller = _start_stage(catalog, "controller", pushed)
    ordering_point(name="Order: controllers up before any worker")
    _start_stage(catalog, "worker", pushed)
    for trigger in catalog.triggers:
        if trigger.action == "command" and trigger.unless:  # scontrol reconfigure, on the primary
            reconfigure = triggers.apply(trigger, pushed)
            if controller is not None:
                prove(
                    [(daemon_of(controller), [reconfigure])],
                    f"{controller.name} active after the reconfigure",
                )
