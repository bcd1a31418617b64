"""Create ``/dev/nvidia0..N-1`` and ``/dev/nvidiactl`` for the GPUs present (as the driver's
nvidia-modprobe would) and remove nodes of GPUs that fell off the bus. Stdlib only."""

from __future__ import annotations

import os
import stat
import sys

import hwdesc

MAJOR = 195


def wanted(hw: dict) -> dict[str, int]:
    """Device path -> minor number."""
    nodes = {f"/dev/nvidia{g['minor']}": g["minor"] for g in hwdesc.present_gpus(hw)}
    if nodes:
        nodes["/dev/nvidiactl"] = 255
    return nodes


def sync(dev_root: str = "") -> list[str]:
    """Make the device nodes match the description; return what changed."""
    hw = hwdesc.load()
    want = wanted(hw)
    changes = []
    for path, minor in want.items():
        full = dev_root + path
        try:
            st = os.stat(full)
            if stat.S_ISCHR(st.st_mode) and os.minor(st.st_rdev) == minor:
                continue
            os.unlink(full)
        except FileNotFoundError:
            pass
        os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(MAJOR, minor))
        os.chmod(full, 0o666)
        changes.append(f"created {path}")
    directory = dev_root + "/dev"
    for name in sorted(os.listdir(directory)):
        if name.startswith("nvidia") and name[6:].isdigit() and f"/dev/{name}" not in want:
            os.unlink(os.path.join(directory, name))
            changes.append(f"removed /dev/{name}")
    return changes


def main() -> int:
    """Entry point."""
    for line in sync(os.environ.get("TRAINBED_SIM_DEV_ROOT", "")):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
