"""The fabric manager and the loaded driver must be of one version.

nv-fabricmanager refuses to start, and so never trains the NVSwitch fabric, when the driver's
version differs from its own ("fabric manager NVIDIA GPU driver interface version A don't match
with driver version B", NVIDIA/gpu-operator#544); a driver upgraded without its fabric manager
(or the reverse) leaves the node unable to run CUDA. The check reads both versions on the node;
this module is the one place that judges them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: `nv-fabricmanager --version` prints `Fabric Manager version is : 535.183.01`.
VERSION_LINE = re.compile(r"Fabric Manager version is\s*:\s*(\S+)", re.IGNORECASE)
VERSION_COMMAND = "nv-fabricmanager --version"
DRIVER_COMMAND = "nvidia-smi --query-gpu=driver_version --format=csv,noheader"


def fabric_manager_version(output: str) -> str | None:
    """The version `nv-fabricmanager --version` reports, or None when it reports none."""
    match = VERSION_LINE.search(output)
    return match.group(1) if match else None


def driver_versions(output: str) -> set[str]:
    """The driver versions nvidia-smi's `driver_version` query lists (one line per GPU)."""
    return {line.strip() for line in output.splitlines() if line.strip()}


def version_problem(
    hostname: str, fabric_manager: str | None, drivers: Iterable[str]
) -> str | None:
    """`HOST: fabric manager X, driver Y` when they are not one version; None when they are."""
    found = sorted(set(drivers))
    if fabric_manager is None:
        return f"{hostname}: fabric manager version unreadable (`{VERSION_COMMAND}`)"
    if not found:
        return (
            f"{hostname}: fabric manager {fabric_manager}, driver unknown (nvidia-smi lists no GPU)"
        )
    if found == [fabric_manager]:
        return None
    return (
        f"{hostname}: fabric manager {fabric_manager}, driver {', '.join(found)}: "
        "the fabric manager refuses a driver of another version (NVSwitch fabric not trained)"
    )
