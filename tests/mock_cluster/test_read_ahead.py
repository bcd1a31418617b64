"""Reading ahead over real SSH: a node's reads of the check modules in one round trip, each
result what running the command alone gives (issue 17), before a deploy (most tools missing:
"command not found" must read the same too) and after it."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from tests.conftest import REPO
from trainbed.inventory import load_inventory
from trainbed.remote import Remote

pytestmark = pytest.mark.mock

#: Reads whose output carries the time or a live counter (a timestamp, the SM's activity
#: count, a process's context switches): their stdout is compared with the numbers masked.
LIVE = ("sminfo ", "nvidia-smi -q", "scontrol show config", "cat /proc/1/status")


def _seen(read: str, result: Any) -> tuple[int, str, str]:
    out = re.sub(r"\d+", "N", result.stdout) if read.startswith(LIVE) else result.stdout
    return result.rc, out, result.stderr


CHECK_MODULES = sorted(p.stem for p in (REPO / "trainbed" / "checks").glob("test_*.py"))
EXTRA = ["echo hi", "printf 'x'", "echo e >&2; exit 4", "cat /nonexistent", "exit 255"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")  # the checks' marks
@pytest.mark.parametrize("kind", ["compute", "control"])
def test_read_ahead_gives_what_each_command_alone_gives(cluster: dict[str, Any], kind: str) -> None:
    # The check modules register their reads when imported (only here: outside a check run
    # their marks are unknown), as in a check run; the node's first check reads them all ahead.
    for module in CHECK_MODULES:
        importlib.import_module(f"trainbed.checks.{module}")
    from trainbed.checks.reads import node_reads

    inv = load_inventory(cluster["inventory"]).inventory
    node = (inv.compute if kind == "compute" else inv.control_plane)[0]
    reads = list(dict.fromkeys([*EXTRA, *node_reads(inv, node)]))
    alone = Remote.connect(inv, node.hostname)
    want = {r: alone.run(r, cache=False) for r in reads}
    batched = Remote.connect(inv, node.hostname)
    sent: list[str] = []
    run = batched.host.run
    batched.host.run = lambda c: (sent.append(c), run(c))[1]
    batched.prefetch("all", reads)
    got = {r: batched.run(r, cache=False) for r in reads}
    assert len(sent) == 1
    differ = {
        r: (_seen(r, got[r]), _seen(r, want[r]))
        for r in reads
        if _seen(r, got[r]) != _seen(r, want[r])
    }
    assert not differ, differ
