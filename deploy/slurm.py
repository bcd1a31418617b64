"""slurm: munge with one cluster key, MariaDB and slurmdbd, slurmctld, slurmd, configs from the renderer.

A change to the lines of slurm.conf that Slurm cannot reconfigure (the restart signature the renderer
writes beside it) restarts the daemons; any other change is applied with `scontrol reconfigure`, so
slurmd keeps running on nodes the change does not concern.

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
from pyinfra.facts.files import File, Sha256File
from pyinfra.operations import files, python, server

from deploy import context, secrets
from deploy.base import install_locked
from deploy.daemons import Daemon, daemon, ordering_point, prove
from deploy.push import changed, push
from trainbed.inventory.model import ComputeNode
from trainbed.render.packages import slurm_packages
from trainbed.render.slurm import (
    DAEMON_LOG_FILES,
    DAEMON_PORTS,
    RESTART_SIGNATURE_PATH,
    slurmdbd_grant_sql,
)

GRANT_SQL = "/var/lib/trainbed/slurmdbd-grant.sql"
_key_lock = Semaphore()
_key_cache: dict[str, secrets.Secret] = {}


def _primary() -> str:
    return context.inventory().slurmctld_hosts[0].hostname


def _cluster_key(primary: Host) -> secrets.Secret:
    """The primary controller's munge key, fetched once per run into memory only."""
    with _key_lock:
        if primary.name not in _key_cache:
            buffer = io.BytesIO()
            if not primary.get_file(secrets.MUNGE_KEY, buffer):
                raise OperationError(f"cannot read the munge key from {primary.name}")
            _key_cache[primary.name] = secrets.Secret(buffer.getvalue())
        return _key_cache[primary.name]


def _install_cluster_key(primary_name: str) -> None:
    key = _cluster_key(context.pyinfra_host(primary_name))
    if not host.put_file(io.BytesIO(key.reveal()), secrets.MUNGE_KEY):
        raise OperationError("upload of the munge key failed")


def _primary_key_digest(primary_name: str) -> str | None:
    try:
        return context.pyinfra_host(primary_name).get_fact(Sha256File, path=secrets.MUNGE_KEY)
    except Exception:  # the primary is down: its own failure is reported; keep this node's key
        return None


@deploy("slurm: munge")
def munge() -> None:
    """One key for the cluster: the primary controller's, made there if absent, copied everywhere."""
    primary = _primary()
    ops = []
    if context.hostname() == primary and not host.get_fact(File, path=secrets.MUNGE_KEY):
        ops.append(
            server.shell(
                name="Create the cluster munge key",
                commands=[
                    "umask 077 && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none"
                ],
            )
        )
    ordering_point(name="Order: the cluster munge key exists")
    if context.hostname() != primary:
        mine = host.get_fact(Sha256File, path=secrets.MUNGE_KEY)
        theirs = _primary_key_digest(primary)
        if theirs is None or mine != theirs:
            ops.append(
                python.call(
                    name=f"Copy the cluster munge key from {primary}",
                    function=_install_cluster_key,
                    primary_name=primary,
                )
            )
    files.file(
        name="munge key mode", path=secrets.MUNGE_KEY, user="munge", group="munge", mode="0400"
    )
    daemon(
        "munge",
        name="munge running",
        restart_name="Restart munge (new key)",
        restart_when=lambda: changed(*ops),
    )


@deploy("slurm: accounting")
def accounting() -> None:
    inv = context.inventory()
    daemon("mariadb", name="MariaDB")
    password = secrets.slurmdbd_password(inv)
    files.directory(name="trainbed state", path="/var/lib/trainbed", mode="0700")
    grant = secrets.put_secret(
        GRANT_SQL,
        slurmdbd_grant_sql(inv, password).encode(),
        mode="0600",
        name="Database grant (secret)",
    )
    server.shell(
        name="Apply the database grant",
        commands=[f"mysql < {GRANT_SQL}"],
        _if=lambda: changed(grant),
    )
    conf = context.slurmdbd_conf()
    dbd_conf = secrets.put_secret(
        conf.path,
        conf.content.encode(),
        mode=conf.mode,
        user=conf.user,
        group=conf.group,
        name="slurmdbd.conf (holds the database password)",
    )
    # The first start creates the accounting tables: it answers on its port only after that.
    dbd = Daemon("slurmdbd", DAEMON_PORTS["slurmdbd"], DAEMON_LOG_FILES["slurmdbd"], 120)
    daemon(dbd, name="slurmdbd", restart_when=lambda: changed(dbd_conf))


@deploy("slurm")
def slurm() -> None:
    inv = context.inventory()
    node = context.node()
    install_locked(slurm_packages(inv, node), "Slurm")
    munge()
    for path, user in (("/var/log/slurm", "slurm"), ("/var/spool/slurmd", "root")):
        files.directory(name=f"{path}", path=path, user=user, group=user, mode="0755")
    pushed = push(context.files("slurm"))
    signature = pushed[RESTART_SIGNATURE_PATH]
    config = [op for path, op in pushed.items() if path != RESTART_SIGNATURE_PATH]
    if inv.slurmdbd_host is not None and node.hostname == inv.slurmdbd_host.hostname:
        accounting()
    ordering_point(name="Order: accounting answers before any slurmctld")
    controller = Daemon(
        "slurmctld", DAEMON_PORTS["slurmctld"], DAEMON_LOG_FILES["slurmctld"], timeout_s=60
    )
    if node in inv.slurmctld_hosts:
        files.directory(
            name="slurmctld state",
            path=inv.slurm.state_save_location,
            user="slurm",
            group="slurm",
            mode="0755",
        )
        daemon(controller, name="slurmctld", restart_when=lambda: changed(signature))
    ordering_point(name="Order: controllers up before any slurmd")
    if isinstance(node, ComputeNode):
        gres = pushed["/etc/slurm/gres.conf"]
        slurmd = Daemon("slurmd", DAEMON_PORTS["slurmd"], DAEMON_LOG_FILES["slurmd"])
        daemon(slurmd, name="slurmd", restart_when=lambda: changed(signature, gres))
    if node.hostname == _primary():
        reconfigure = server.shell(
            name="scontrol reconfigure",
            commands=["scontrol reconfigure"],
            _if=lambda: changed(*config) and not changed(signature),
        )
        prove([(controller, [reconfigure])], "slurmctld active after the reconfigure")
