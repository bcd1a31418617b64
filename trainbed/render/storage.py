"""systemd mount (and automount) units for the PowerScale exports."""

from __future__ import annotations

from trainbed.inventory.model import Inventory, Mount
from trainbed.render.templates import render


def unit_name(mount_point: str, suffix: str = "mount") -> str:
    """systemd's escaped unit name for a path (`systemd-escape --path --suffix=mount`)."""
    path = mount_point.strip("/")
    if not path:
        return f"-.{suffix}"
    out = []
    for i, char in enumerate(path):
        if char == "/":
            out.append("-")
        elif char.isalnum() or char in ":_" or (char == "." and i > 0):
            out.append(char)
        else:
            out.append(f"\\x{ord(char):02x}")
    return "".join(out) + f".{suffix}"


def mount_options(mount: Mount) -> str:
    return ",".join((f"vers={mount.nfs_version}", *mount.options))


def mount_unit(inventory: Inventory, mount: Mount) -> str:
    return render("nfs.mount.j2", inv=inventory, mount=mount, options=mount_options(mount))


def automount_unit(mount: Mount) -> str:
    return render("nfs.automount.j2", mount=mount)
