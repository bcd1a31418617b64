"""Take the mock cluster down: ``lab/down [--images] [--state-dir DIR]``.

Removes exactly what bring-up created, found by the label ``trainbed.mock=<cluster>``: containers,
the network, volumes; then the state directory's runtime files. Cached images stay unless
``--images``. Nothing else on the machine is touched.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from lab import engine, inventory
from lab.config import DEFAULT_INVENTORY, DEFAULT_STATE_DIR, IMAGE_LABEL, LABEL, state_dir
from lab.engine import MockError, docker
from lab.log import log

#: Runtime files of a cluster in the state dir (the image cache lives in Docker, not here).
RUNTIME = (
    "cluster.json",
    "known_hosts",
    "ssh_config",
    "ssh",
    "hardware",
    "stage",
    "repo",
    "gnupg",
    "inventory.yaml",
)


def cluster_names(state: Path, explicit: str | None, every: bool = False) -> list[str]:
    """Which clusters to remove: --cluster, --all, else the state dir's own cluster.

    The state dir names its cluster in cluster.json, or (when bring-up stopped before writing it)
    in the variant inventory it holds, or, for the default state dir, in inventory/mock.yaml.
    Without any of these nothing is removed: other clusters on the machine are never touched.
    """
    if explicit:
        return [explicit]
    if every:
        return _every_cluster()
    try:
        return [json.loads((state / "cluster.json").read_text())["cluster"]]
    except (OSError, ValueError, KeyError):
        pass
    for candidate in (
        state / "inventory.yaml",
        DEFAULT_INVENTORY if state == DEFAULT_STATE_DIR else None,
    ):
        if candidate is not None and candidate.exists():
            return [inventory.cluster_name(inventory.load(candidate))]
    return []


def _every_cluster() -> list[str]:
    found = set()
    for kind in ("container", "network", "volume"):
        for name in engine.labelled(kind, LABEL):
            fmt = (
                '{{index .Config.Labels "%s"}}' if kind == "container" else '{{index .Labels "%s"}}'
            )
            found.add(docker(kind, "inspect", "--format", fmt % LABEL, name))
    return sorted(f for f in found if f)


def remove_cluster(cluster: str) -> dict[str, list[str]]:
    """Remove the labelled containers, networks and volumes of one cluster."""
    label = f"{LABEL}={cluster}"
    removed: dict[str, list[str]] = {}
    containers = engine.labelled("container", label)
    if containers:
        docker("rm", "-f", "-v", *containers, timeout=180)
    removed["containers"] = containers
    networks = engine.labelled("network", label)
    for net in networks:
        docker("network", "rm", net)
    removed["networks"] = networks
    volumes = engine.labelled("volume", label)
    if volumes:
        docker("volume", "rm", *volumes)
    removed["volumes"] = volumes
    return removed


def remove_runtime_files(state: Path) -> None:
    """Delete the runtime files; keep logs and anything not ours."""
    for name in RUNTIME:
        path = state / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab/down", description=__doc__.splitlines()[0])
    p.add_argument("--images", action="store_true", help="also remove the cached images")
    p.add_argument("--cluster", help="cluster name (default: from the state dir)")
    p.add_argument("--state-dir", help="state directory (default <repo>/.mock)")
    p.add_argument("--all", action="store_true", help="every mock cluster on this machine")
    args = p.parse_args(argv)
    state = state_dir(args.state_dir)
    try:
        if engine.daemon_answers():
            for cluster in cluster_names(state, args.cluster, args.all):
                removed = remove_cluster(cluster)
                log(
                    f"cluster {cluster!r}: removed "
                    + ", ".join(f"{len(v)} {k}" for k, v in removed.items())
                )
            if args.images:
                imgs = engine.labelled("image", f"{IMAGE_LABEL}=1")
                if imgs:
                    docker("rmi", *imgs, timeout=300)
                log(f"removed {len(imgs)} cached images")
        else:
            log("no Docker daemon answers: nothing to remove in Docker")
        remove_runtime_files(state)
    except MockError as exc:
        log(f"tear-down failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
