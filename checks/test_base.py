"""base: every node — reachable over SSH, OS release, locked packages, managed files, limits, time."""

from __future__ import annotations

import hashlib
import shlex
import time

import pytest

from trainbed.checks import expected
from trainbed.checks.remote import Remote
from trainbed.checks.verdict import check, mismatch, service_problem, service_state
from trainbed.inventory.model import Inventory, Node, Package

pytestmark = pytest.mark.nodes(expected.ALL)

LIMITS_PATH = "/etc/security/limits.d/90-trainbed-rdma.conf"
#: The most a node's clock may differ from the admin machine's.
CLOCK_TOLERANCE_S = 1.0


def test_ssh(hostname: str, unreachable: dict[str, str]) -> None:
    """The node answered `true` over SSH with its host key verified (the inventory's known_hosts).

    Asked once before the suite (conftest); when it fails, this is the node's one finding and its
    other checks could not run.
    """
    why = unreachable.get(hostname)
    if why:
        pytest.fail(why, pytrace=False)


def test_os_release(remote: Remote, inventory: Inventory) -> None:
    actual = remote.output('. /etc/os-release && echo "$ID-$VERSION_ID"').strip()
    want = inventory.cluster.os_release
    assert actual == want, mismatch(f"{remote.hostname} OS release", want, actual)


def _dpkg(remote: Remote, names: list[str]) -> dict[str, tuple[str, str]]:
    """name → (version, status abbreviation) of the installed packages among `names`."""
    out = remote.run(
        "dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' "
        + " ".join(shlex.quote(n) for n in names)
    ).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            found[parts[0]] = (parts[1], parts[2].strip())
    return found


@pytest.mark.each("package", expected.packages)
def test_locked_package(remote: Remote, inventory: Inventory, node: Node, package: Package) -> None:
    """Installed at exactly the inventory's version, and on hold."""
    names = list(expected.packages(inventory, node))
    installed = _dpkg(remote, names)
    held = set(remote.output("apt-mark showhold").split())
    what = f"{remote.hostname} {package.name}"
    version, status = installed.get(package.name, ("not installed", ""))
    # db:Status-Abbrev: wanted (h = hold, i = install), state (i = installed), error flag
    if status[1:2] != "i" and version != "not installed":
        version = f"{version} (dpkg status {status})"
    check(
        [
            mismatch(f"{what} version", package.version, version)
            if version != package.version
            else None,
            mismatch(f"{what} apt hold", "held", "not held") if package.name not in held else None,
        ]
    )


def _managed_paths(inventory: Inventory, node: Node) -> dict[str, str]:
    return {path: path for path in expected.managed_files(inventory, node)}


@pytest.mark.each("path", _managed_paths)
def test_managed_file(remote: Remote, inventory: Inventory, node: Node, path: str) -> None:
    """Each file the deploy pushed still has the content rendered from the inventory."""
    files = expected.managed_files(inventory, node)
    listed = " ".join(shlex.quote(p) for p in files)
    sums = {}
    for line in remote.run(f"sha256sum {listed} 2>/dev/null").stdout.splitlines():
        digest, _, name = line.partition("  ")
        sums[name] = digest
    want = hashlib.sha256(files[path].encode()).hexdigest()
    got = sums.get(path)
    assert got == want, mismatch(
        f"{remote.hostname} {path}",
        f"the rendered content (sha256 {want[:12]})",
        f"sha256 {got[:12]}" if got else "missing",
    )


def test_limits(remote: Remote, inventory: Inventory, node: Node) -> None:
    """memlock/nofile for RDMA are configured.

    The limits.d file is read rather than `ulimit`: a container cannot raise its hard limits, and
    on a real node the values apply to new sessions only.
    """
    want = expected.limits(expected.managed_files(inventory, node)[LIMITS_PATH])
    result = remote.run(f"cat {LIMITS_PATH}")
    if result.rc != 0:
        raise AssertionError(mismatch(f"{remote.hostname} {LIMITS_PATH}", "present", "missing"))
    got = expected.limits(result.stdout)
    check(
        mismatch(f"{remote.hostname} limit {' '.join(key)}", value, got.get(key, "not set"))
        for key, value in want.items()
        if got.get(key) != value
    )


def test_time_synchronised(remote: Remote, inventory: Inventory) -> None:
    """With `time_sync: chrony`, chronyd runs and tracks a source with a normal leap status."""
    if inventory.cluster.time_sync != "chrony":
        pytest.skip(
            f"time_sync: {inventory.cluster.time_sync} — the inventory says the host keeps the "
            "clock; the offset to the admin machine is checked by test_clock_offset"
        )
    check([service_problem(remote.hostname, "chrony", *service_state(remote, "chrony"))])
    out = remote.output("chronyc tracking", cache=False)
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in out.splitlines())
    )
    leap = fields.get("Leap status", "missing")
    reference = fields.get("Reference ID", "missing")
    check(
        [
            mismatch(f"{remote.hostname} chrony leap status", "Normal", leap)
            if leap != "Normal"
            else None,
            mismatch(f"{remote.hostname} chrony reference", "a time source", reference)
            if reference.startswith("00000000")
            else None,
        ]
    )


def test_clock_offset(remote: Remote) -> None:
    """The node's clock is within a second of this (the admin) machine's."""
    remote.run("true", cache=False)  # the connection is up, so the round trip is one command
    before = time.time()
    out = remote.output("date +%s.%N", cache=False)
    after = time.time()
    offset = float(out.strip()) - (before + after) / 2
    allowed = CLOCK_TOLERANCE_S + (after - before) / 2
    assert abs(offset) <= allowed, mismatch(
        f"{remote.hostname} clock offset to the admin machine",
        f"within {CLOCK_TOLERANCE_S:.0f} s",
        f"{offset:+.3f} s",
    )
