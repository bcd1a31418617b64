"""How the acceptance suite spreads over pytest-xdist workers: by host, and only when it pays.

Every check of a host runs on one worker, so the host is read once in the run (its read-ahead,
`trainbed.checks.reads`), not once by every worker that happened to draw one of its checks:
with xdist's default distribution each of W workers reads every node, W times the SSH round
trips and the node-side commands. `-n auto` starts a worker per `HOSTS_PER_WORKER` selected
hosts (at most one per CPU), and none below two: on a handful of hosts a worker's start-up
(importing and collecting the suite) costs more than it saves.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from collections.abc import Set as AbstractSet

from xdist.scheduler import LoadScopeScheduling

#: Selected hosts that justify one worker of `-n auto`.
HOSTS_PER_WORKER = 16


def auto_workers(hosts: int, cpus: int | None) -> int:
    """Workers for `-n auto`: one per `HOSTS_PER_WORKER` hosts, at most `cpus`; 0 (no xdist)
    when that is fewer than two."""
    workers = min(cpus or 1, -(-hosts // HOSTS_PER_WORKER))
    return workers if workers >= 2 else 0


def cpu_count() -> int | None:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count()


def host_of(nodeid: str, hostnames: AbstractSet[str]) -> str | None:
    """The host a check's node id names (its parameter id is the host, or ``HOST-ITEM``);
    None for a check of no host. The longest matching hostname wins (``gpu1`` and ``gpu1-a``).
    Set lookups of the id's prefixes: the cost is the id's length, not the host count."""
    name = nodeid.rpartition("::")[2]
    if not name.endswith("]") or "[" not in name:
        return None
    param = name[name.index("[") + 1 : -1]
    cut = len(param)
    while cut > 0:
        if param[:cut] in hostnames:
            return param[:cut]
        cut = param.rfind("-", 0, cut)
    return None


class HostScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with a host as the scope: a worker is sent all of a host's
    checks at once, in collection order (so a host's `late` checks still come after its
    others). A check of no host is a scope of its own."""

    def __init__(self, config: object, log: object, hostnames: Collection[str]) -> None:
        super().__init__(config, log)
        self.hostnames = frozenset(hostnames)

    def _split_scope(self, nodeid: str) -> str:
        return host_of(nodeid, self.hostnames) or nodeid
