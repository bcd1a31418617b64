"""nvidia (compute): driver, fabric manager of the same version, persistence daemon, DCGM, peermem."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd

from deploy import context
from deploy.base import install_locked
from deploy.push import changed, push
from trainbed.render.packages import nvidia_packages


@deploy("nvidia")
def nvidia() -> None:
    inv = context.inventory()
    install_locked(nvidia_packages(inv), "NVIDIA driver stack")
    # An NVSwitch baseboard cannot run CUDA until the fabric manager has configured the fabric.
    systemd.service(
        name="Fabric manager", service="nvidia-fabricmanager", running=True, enabled=True
    )
    systemd.service(
        name="Persistence daemon", service="nvidia-persistenced", running=True, enabled=True
    )
    if inv.software.nvidia.dcgm is not None:
        systemd.service(name="DCGM host engine", service="nvidia-dcgm", running=True, enabled=True)
    pushed = push(context.files("nvidia"))
    for op in pushed.values():
        # systemd-modules-load loads /etc/modules-load.d now and at every boot (it skips itself
        # where modules cannot be loaded, as in containers).
        systemd.service(
            name="Load nvidia-peermem",
            service="systemd-modules-load",
            restarted=True,
            _if=lambda op=op: changed(op),
        )
