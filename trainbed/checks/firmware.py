"""One firmware (or VBIOS) version on every device of the compute nodes of a profile: the verdicts.

With a lock in the hardware profile (`profiles.P.firmware.hca`, `.vbios`) every device off it
fails. Without one, the version that more than half of the nodes run is the reference and the
devices off it fail; when no version has such a majority the nodes are split, and every node of
the split fails with the same message naming each side: nothing says which side is right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

#: node → device → version, for the nodes that answered.
Observed = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Reference:
    """What each device must run: `version` and why, or (`version` None) the split found."""

    version: str | None
    how: str
    split: str | None = None


def node_version(devices: Mapping[str, str]) -> str | None:
    """The version more than half of a node's devices run; None when there is none."""
    counts = Counter(devices.values())
    if not counts:
        return None
    version, count = counts.most_common(1)[0]
    return version if count * 2 > len(devices) else None


def sides(observed: Observed) -> dict[str, list[str]]:
    """version → nodes with a device on it, versions in the order their first node comes."""
    found: dict[str, list[str]] = {}
    for node, devices in observed.items():
        for version in dict.fromkeys(devices.values()):
            found.setdefault(version, []).append(node)
    return found


def reference(observed: Observed, what: str, lock: str | None, lock_path: str) -> Reference:
    """The version every device of `observed` must run.

    `what` names the devices' version (`HCA firmware`); `lock_path` is where a lock goes.
    """
    if lock is not None:
        return Reference(lock, f"locked in {lock_path}")
    if not observed:
        return Reference(None, "no compute node answered")
    votes = Counter(v for v in map(node_version, observed.values()) if v is not None)
    total = len(observed)
    if votes:
        version, count = votes.most_common(1)[0]
        if count * 2 > total:
            return Reference(version, f"as on {count} of {total} compute nodes")
    split = "; ".join(f"{v} on {', '.join(nodes)}" for v, nodes in sides(observed).items())
    return Reference(
        None,
        "no version on most nodes",
        f"{what} split across compute nodes: {split} "
        f"(no version on most of them; lock one in {lock_path})",
    )


def problems(node: str, devices: Mapping[str, str], ref: Reference, what: str) -> list[str]:
    """One line per version off the reference on `node`: its devices, expected and got.

    In a split, the split itself when this node is part of it (every node with a device is).
    """
    if ref.version is None:
        return [ref.split] if ref.split and devices else []
    off: dict[str, list[str]] = {}
    for device, version in devices.items():
        if version != ref.version:
            off.setdefault(version, []).append(device)
    return [
        f"{node} {', '.join(names)} {what}: expected {ref.version} ({ref.how}), got {version}"
        for version, names in off.items()
    ]


def observe(
    hosts: Iterable[str], read: Callable[[str], Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """host → device → version for each host `read` answers for.

    A host whose `read` fails (AssertionError: unreachable, a failed command) is left out: its own
    checks report it.
    """
    observed = {}
    for host in hosts:
        try:
            observed[host] = dict(read(host))
        except AssertionError:
            continue
    return observed


def node_problems(
    hostname: str,
    mine: Mapping[str, str],
    peers: Observed,
    what: str,
    lock: str | None,
    lock_path: str,
) -> list[str]:
    """The verdict on one node's devices (`mine`, read now) among its profile's `peers`."""
    observed = {**peers, hostname: mine}
    return problems(hostname, mine, reference(observed, what, lock, lock_path), what)
