"""Names of the Docker objects of one mock cluster (all derived from the cluster name)."""

from __future__ import annotations

PREFIX = "tbmock"


def container(cluster: str, hostname: str) -> str:
    """Container name of a node."""
    return f"{PREFIX}-{cluster}-{hostname}"


def network(cluster: str) -> str:
    """The cluster's bridge network."""
    return f"{PREFIX}-{cluster}"


def volume(cluster: str, purpose: str) -> str:
    """A volume of the cluster (shared, fabric, ifs)."""
    return f"{PREFIX}-{cluster}-{purpose}"
