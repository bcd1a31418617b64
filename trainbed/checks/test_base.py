"""base: every node — reachable over SSH, OS release, RDMA limits, time (the catalog's resources:
test_catalog.py)."""

from __future__ import annotations

import time

import pytest

from trainbed.checks import expected
from trainbed.inventory.model import Inventory, Node
from trainbed.remote import Remote
from trainbed.verdicts import check, mismatch, service

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


def test_limits(remote: Remote, inventory: Inventory, node: Node) -> None:
    """memlock/nofile for RDMA are configured.

    The limits.d file is read rather than `ulimit`: a container cannot raise its hard limits, and
    on a real node the values apply to new sessions only.
    """
    want = expected.limits(expected.managed_files(inventory, node)[LIMITS_PATH])
    result = remote.run("cat %s", LIMITS_PATH)
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
    check([service.problem(remote.hostname, "chrony", *remote.unit_state("chrony"))])
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
