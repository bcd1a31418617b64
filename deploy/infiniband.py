"""infiniband: the OFED flavour and diagnostics; one OpenSM per rail on its subnet-manager hosts."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd

from deploy import context, triggers
from deploy.base import install_locked, start_proved
from deploy.facts import SystemdUnitFiles
from deploy.push import push


@deploy("infiniband")
def infiniband() -> None:
    catalog = context.role("infiniband")
    install_locked(catalog.packages, "InfiniBand stack")
    pushed = push(catalog.files)
    if not catalog.units:
        return
    # The distribution's single opensm.service binds the first port it finds; trainbed runs one
    # instance per rail instead.
    present = context.fact(SystemdUnitFiles)
    for unit in catalog.units:
        if unit.only_if_present and unit.file_name in present:
            systemd.service(
                name=f"{unit.name} off",
                service=unit.name,
                running=bool(unit.running),
                enabled=bool(unit.enabled),
            )
    for trigger in catalog.triggers:
        if trigger.action != "restart":
            triggers.apply(trigger, pushed)
    start_proved(catalog, pushed, "OpenSM instances active")
