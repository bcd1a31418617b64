"""nvidia (compute): driver, fabric manager of the same version (with NVSwitch), persistence daemon,
DCGM, peermem — whichever the catalog lists for the node."""

from __future__ import annotations

from pyinfra.api import deploy

from deploy import context, triggers
from deploy.base import install_locked, start_proved
from deploy.push import push


@deploy("nvidia")
def nvidia() -> None:
    catalog = context.role("nvidia")
    install_locked(catalog.packages, "NVIDIA driver stack")
    # An NVSwitch baseboard cannot run CUDA until the fabric manager has configured the fabric;
    # it refuses a driver of another version than its own (both are locked to the inventory's).
    start_proved(catalog, {}, "NVIDIA daemons active")
    pushed = push(catalog.files)
    # systemd-modules-load loads /etc/modules-load.d now and at every boot (it skips itself
    # where modules cannot be loaded, as in containers).
    for trigger in catalog.triggers:
        triggers.apply(trigger, pushed)
