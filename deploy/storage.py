"""storage: NFS client and a systemd mount (or automount) unit per PowerScale export."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, systemd

from deploy import context
from deploy.push import changed, push
from trainbed.render.storage import unit_name


@deploy("storage")
def storage() -> None:
    inv = context.inventory()
    node = context.node()
    mounts = [m for m in inv.mounts if node.kind in m.on]
    if not mounts:
        return
    apt.packages(name="NFS client", packages=["nfs-common"])
    pushed = push(context.files("storage"))
    systemd.daemon_reload(name="Reload units", _if=lambda: changed(*pushed.values()))
    for mount in mounts:
        if not mount.mount_now:
            continue
        unit = unit_name(mount.mount_point, "automount" if mount.automount else "mount")
        systemd.service(name=f"Mount {mount.mount_point}", service=unit, running=True, enabled=True)
