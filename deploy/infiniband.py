"""infiniband: the OFED flavour and diagnostics; one OpenSM per rail on its subnet-manager hosts."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import systemd

from deploy import context
from deploy.base import install_locked
from deploy.daemons import Daemon, prove, service
from deploy.facts import SystemdUnitFiles
from deploy.push import changed, push
from trainbed.render.fabric import opensm_rails
from trainbed.render.packages import infiniband_packages


@deploy("infiniband")
def infiniband() -> None:
    inv = context.inventory()
    node = context.node()
    install_locked(infiniband_packages(inv, node), "InfiniBand stack")
    pushed = push(context.files("infiniband"))
    rails = opensm_rails(inv, node.hostname)
    if not rails:
        return
    # The distribution's single opensm.service binds the first port it finds; trainbed runs one
    # instance per rail instead.
    if "opensm.service" in host.get_fact(SystemdUnitFiles):
        systemd.service(
            name="Distribution OpenSM off", service="opensm", running=False, enabled=False
        )
    unit = pushed["/etc/systemd/system/opensm@.service"]
    systemd.daemon_reload(name="Reload units", _if=lambda: changed(unit))
    started = []
    for rail, _priority in rails:
        conf = pushed[f"/etc/opensm/opensm-{rail.name}.conf"]
        instance = f"opensm@{rail.name}"
        ops = service(
            instance,
            f"OpenSM {rail.name}",
            restart_name=f"Restart OpenSM {rail.name}",
            restart_when=lambda conf=conf: changed(conf, unit),
        )
        started.append((Daemon(instance), ops))
    prove(started, "OpenSM instances active")
