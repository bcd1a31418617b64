"""base: every node — reachable over SSH, OS release, RDMA limits, time (the catalog's resources:
test_catalog.py)."""

from __future__ import annotations

import time

import pytest

from trainbed.checks import expected, reads
from trainbed.health.judge import TRACKING_ARGV
from trainbed.inventory.model import Inventory, Node
from trainbed.parse.chrony import parse_tracking
from trainbed.remote import Remote, command
from trainbed.verdicts import check, mismatch, service, time_sync

pytestmark = pytest.mark.nodes(expected.ALL)

LIMITS_PATH = "/etc/security/limits.d/90-trainbed-rdma.conf"
OS_RELEASE = '. /etc/os-release && echo "$ID-$VERSION_ID"'
TRACKING = " ".join(TRACKING_ARGV)


@reads.register(expected.ALL)
def _reads(inventory: Inventory, node: Node) -> list[str]:
    """This module's reads that no timing depends on (the clock offset's run alone)."""
    chrony = inventory.cluster.time_sync == "chrony"
    state, args = service.state_command("chrony")
    return [
        OS_RELEASE,
        command("cat %s", LIMITS_PATH),
        *([command(state, *args), TRACKING] if chrony else []),
    ]


def test_ssh(hostname: str, unreachable: dict[str, str]) -> None:
    """The node answered `true` over SSH with its host key verified (the inventory's known_hosts).

    Asked once before the suite (conftest); when it fails, this is the node's one finding and its
    other checks could not run.
    """
    why = unreachable.get(hostname)
    if why:
        pytest.fail(why, pytrace=False)


def test_os_release(remote: Remote, inventory: Inventory) -> None:
    actual = remote.output(OS_RELEASE).strip()
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
    """With `time_sync: chrony`, chronyd runs, follows a source with a normal leap status, and
    the clock is within `health.thresholds.clock_offset_s` of it."""
    if inventory.cluster.time_sync != "chrony":
        pytest.skip(
            f"time_sync: {inventory.cluster.time_sync} — the inventory says the host keeps the "
            "clock; the offset to the admin machine is checked by test_clock_offset"
        )
    check([service.problem(remote.hostname, "chrony", *remote.unit_state("chrony"))])
    tracking = parse_tracking(remote.output(TRACKING, cache=False))
    bar = inventory.health.thresholds.clock_offset_s
    check(time_sync.problems(remote.hostname, tracking, bar).failures)


def test_clock_offset(remote: Remote, inventory: Inventory) -> None:
    """The node's clock is within `health.thresholds.clock_offset_s` of this (the admin)
    machine's."""
    remote.run("true", cache=False)  # the connection is up, so the round trip is one command
    before = time.time()
    out = remote.output("date +%s.%N", cache=False)
    after = time.time()
    offset = float(out.strip()) - (before + after) / 2
    bar = inventory.health.thresholds.clock_offset_s
    allowed = bar + (after - before) / 2
    assert abs(offset) <= allowed, mismatch(
        f"{remote.hostname} clock offset to the admin machine",
        f"within {bar:g} s",
        f"{offset:+.3f} s",
    )
