"""Constants and paths shared by the mock-cluster tooling (one place, no logic)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INVENTORY = REPO_ROOT / "inventory" / "mock.yaml"
DEFAULT_STATE_DIR = REPO_ROOT / ".mock"

#: Every container, network and volume that bring-up creates carries this label = cluster name.
LABEL = "trainbed.mock"
#: Cached images carry this label (and the content hash in LABEL_HASH); they outlive a cluster.
IMAGE_LABEL = "trainbed.mock.image"
LABEL_HASH = "trainbed.mock.hash"

DEFAULT_SUBNET = "172.31.250.0/24"
SUITE = "bookworm"
#: Debian releases the lab builds nodes from: suite -> the inventory's ``cluster.os_release``.
#: The host's apt sources serve SUITE; another release is read from the same mirror.
RELEASES = {"bookworm": "debian-12", "trixie": "debian-13"}

#: Mount points inside every node.
SIM_REPO_MOUNT = "/srv/trainbed-sim-repo"
SIM_HARDWARE_PATH = "/etc/trainbed-sim/hardware.json"
FABRIC_MOUNT = "/var/lib/trainbed-sim/fabric"
SHARED_MOUNT = "/shared"
IFS_MOUNT = "/ifs"

ENV_STATE_DIR = "TRAINBED_MOCK_STATE_DIR"
ENV_SUBNET = "TRAINBED_MOCK_SUBNET"


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The state directory: explicit argument, else $TRAINBED_MOCK_STATE_DIR, else <repo>/.mock."""
    if explicit:
        return Path(explicit).resolve()
    env = os.environ.get(ENV_STATE_DIR)
    return Path(env).resolve() if env else DEFAULT_STATE_DIR
