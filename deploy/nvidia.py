"""nvidia (compute): driver, fabric manager of the same version, persistence daemon, DCGM, peermem."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd

from deploy import context
from deploy.base import install_locked
from deploy.daemons import Daemon, prove, service
from deploy.push import changed, push
from trainbed.render.packages import nvidia_packages


@deploy("nvidia")
def nvidia() -> None:
    inv = context.inventory()
    install_locked(nvidia_packages(inv, context.node()), "NVIDIA driver stack")
    # An NVSwitch baseboard cannot run CUDA until the fabric manager has configured the fabric;
    # it refuses a driver of another version than its own (both are locked to the inventory's).
    started = [
        (Daemon("nvidia-fabricmanager"), service("nvidia-fabricmanager", "Fabric manager")),
        (Daemon("nvidia-persistenced"), service("nvidia-persistenced", "Persistence daemon")),
    ]
    if inv.software.nvidia.dcgm is not None:
        started.append((Daemon("nvidia-dcgm"), service("nvidia-dcgm", "DCGM host engine")))
    prove(started, "NVIDIA daemons active")
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
