"""storage: NFS client and a systemd mount (or automount) unit per PowerScale export."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd

from deploy import context, triggers
from deploy.base import unlocked
from deploy.push import push


@deploy("storage")
def storage() -> None:
    catalog = context.role("storage")
    if not catalog.units:
        return
    unlocked(catalog)
    pushed = push(catalog.files)
    for trigger in catalog.triggers:
        triggers.apply(trigger, pushed)
    for unit in catalog.units:
        if unit.running:
            systemd.service(
                name=f"Mount {unit.name}", service=unit.name, running=True, enabled=True
            )
