"""slurm: munge with one cluster key, MariaDB and slurmdbd, slurmctld, slurmd, configs from the renderer.

A change to the lines of slurm.conf that Slurm cannot reconfigure (the restart signature the renderer
writes beside it) restarts the daemons; any other change is applied with `scontrol reconfigure`, so
slurmd keeps running on nodes the change does not concern.
"""

from __future__ import annotations

import io

from gevent.lock import Semaphore
from pyinfra import host
from pyinfra.api import OperationError, deploy
from pyinfra.api.host import Host
from pyinfra.facts.files import File, Sha256File
from pyinfra.operations import files, python, server, systemd

from deploy import context, secrets
from deploy.base import install_locked
from deploy.push import changed, push
from trainbed.inventory.model import ComputeNode
from trainbed.render.packages import slurm_packages
from trainbed.render.slurm import RESTART_SIGNATURE_PATH, slurmdbd_grant_sql

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
    if context.hostname() == primary:
        if not host.get_fact(File, path=secrets.MUNGE_KEY):
            ops.append(
                server.shell(
                    name="Create the cluster munge key",
                    commands=[
                        "umask 077 && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none"
                    ],
                )
            )
    else:
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
    systemd.service(name="munge running", service="munge", running=True, enabled=True)
    systemd.service(
        name="Restart munge (new key)", service="munge", restarted=True, _if=lambda: changed(*ops)
    )


@deploy("slurm: accounting")
def accounting() -> None:
    inv = context.inventory()
    systemd.service(name="MariaDB", service="mariadb", running=True, enabled=True)
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
    systemd.service(name="slurmdbd", service="slurmdbd", running=True, enabled=True)
    systemd.service(
        name="Restart slurmdbd", service="slurmdbd", restarted=True, _if=lambda: changed(dbd_conf)
    )


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
    if node in inv.slurmctld_hosts:
        files.directory(
            name="slurmctld state",
            path=inv.slurm.state_save_location,
            user="slurm",
            group="slurm",
            mode="0755",
        )
        systemd.service(name="slurmctld", service="slurmctld", running=True, enabled=True)
        systemd.service(
            name="Restart slurmctld",
            service="slurmctld",
            restarted=True,
            _if=lambda: changed(signature),
        )
    if isinstance(node, ComputeNode):
        gres = pushed["/etc/slurm/gres.conf"]
        systemd.service(name="slurmd", service="slurmd", running=True, enabled=True)
        systemd.service(
            name="Restart slurmd",
            service="slurmd",
            restarted=True,
            _if=lambda: changed(signature, gres),
        )
    if node.hostname == _primary():
        server.shell(
            name="scontrol reconfigure",
            commands=["scontrol reconfigure"],
            _if=lambda: changed(*config) and not changed(signature),
        )
