"""storage: each PowerScale export mounted with the inventory's options, or, where the inventory
installs the unit without mounting (`mount_now: false`), the unit right and the export answering."""

from __future__ import annotations

import pytest

from trainbed.checks import expected, reads
from trainbed.inventory.model import Inventory, Mount, Node
from trainbed.remote import Remote, command
from trainbed.verdicts import check, mismatch

pytestmark = [pytest.mark.nodes(expected.ALL), pytest.mark.each("mount", expected.mounts)]

#: RPC program names rpcinfo prints for an NFS server, by NFS version.
RPC_PROGRAMS = {"3": ("nfs", "mountd"), "4": ("nfs",), "4.1": ("nfs",), "4.2": ("nfs",)}


def _unit(text: str) -> dict[str, str]:
    return {
        key.strip(): value.strip()
        for key, _, value in (line.partition("=") for line in text.splitlines())
        if value and not key.startswith(("#", ";", "["))
    }


FINDMNT = "findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint %s"


@reads.register(expected.ALL)
def _reads(inventory: Inventory, node: Node) -> list[str]:
    """This module's reads on `node`: each mount's unit and mount table entry, the storage's
    RPC programs and (NFSv3) its exports."""
    mounts = expected.mounts(inventory, node).values()
    zone = inventory.storage.smartconnect_zone
    return [
        *(command("cat %s", expected.mount_unit_path(m)) for m in mounts),
        *(command(FINDMNT, m.mount_point) for m in mounts if m.mount_now),
        *([command("rpcinfo -p %s", zone)] if mounts else []),
        *([command("showmount -e %s", zone)] if any(m.nfs_version == "3" for m in mounts) else []),
    ]


def test_mount_unit(remote: Remote, inventory: Inventory, mount: Mount) -> None:
    """The systemd mount unit names the export and carries the inventory's options."""
    path = expected.mount_unit_path(mount)
    result = remote.run("cat %s", path)
    assert result.rc == 0, mismatch(f"{remote.hostname} {path}", "present", "missing")
    unit = _unit(result.stdout)
    what = f"{remote.hostname} {mount.mount_point}"
    source = f"{inventory.storage.smartconnect_zone}:{mount.export.path}"
    options = ",".join(expected.expected_mount_options(mount))
    check(
        [
            mismatch(f"{what} source", source, unit.get("What"))
            if unit.get("What") != source
            else None,
            mismatch(f"{what} options", options, unit.get("Options"))
            if unit.get("Options") != options
            else None,
        ]
    )


def test_mounted(remote: Remote, inventory: Inventory, mount: Mount) -> None:
    """Mounted from the export with the inventory's options (those the kernel reports)."""
    if not mount.mount_now:
        pytest.skip(
            f"mount_now: false for {mount.mount_point}: the inventory installs the unit without "
            "mounting it; the unit and the export's answer are checked instead"
        )
    out = remote.run(FINDMNT, mount.mount_point)
    what = f"{remote.hostname} {mount.mount_point}"
    assert out.rc == 0 and out.stdout.strip(), mismatch(what, "mounted", "not mounted")
    source, fstype, options = out.stdout.split()[:3]
    want_source = f"{inventory.storage.smartconnect_zone}:{mount.export.path}"
    have = options.split(",")
    missing = [opt for opt in expected.kernel_mount_options(mount) if opt not in have]
    check(
        [
            mismatch(f"{what} source", want_source, source) if source != want_source else None,
            mismatch(f"{what} type", "nfs", fstype) if not fstype.startswith("nfs") else None,
            mismatch(f"{what} options", ",".join(missing), options) if missing else None,
        ]
    )


def test_export_answers(remote: Remote, inventory: Inventory, mount: Mount) -> None:
    """From this node the storage answers RPC for NFS and (v3) lists the export."""
    zone = inventory.storage.smartconnect_zone
    what = f"{remote.hostname} {zone}"
    rpc = remote.run("rpcinfo -p %s", zone)
    programs = {line.split()[-1] for line in rpc.stdout.splitlines()[1:] if line.split()}
    wanted = RPC_PROGRAMS.get(mount.nfs_version, ("nfs",))
    missing = [p for p in wanted if p not in programs]
    problems = [
        mismatch(
            f"{what} rpcinfo",
            "+".join(wanted),
            " ".join(rpc.stderr.split())[:200] if rpc.rc else f"no {', '.join(missing)}",
        )
        if rpc.rc or missing
        else None
    ]
    if mount.nfs_version == "3":
        shown = remote.run("showmount -e %s", zone)
        exports = {line.split()[0] for line in shown.stdout.splitlines()[1:] if line.split()}
        if mount.export.path not in exports:
            got = " ".join(shown.stderr.split())[:200] if shown.rc else ", ".join(sorted(exports))
            problems.append(
                mismatch(f"{what} showmount -e", mount.export.path, got or "no exports")
            )
    check(problems)
