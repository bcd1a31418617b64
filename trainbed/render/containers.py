"""Containers on the nodes: enroot's configuration and the pyxis SPANK plugin in plugstack.conf."""

from __future__ import annotations

from trainbed.errors import TrainbedError
from trainbed.inventory.model import ComputeNode, Containers, Inventory
from trainbed.render.shared import per_inventory
from trainbed.render.templates import render

PLUGSTACK_PATH = "/etc/slurm/plugstack.conf"
PLUGSTACK_DIR = "/etc/slurm/plugstack.conf.d"
PYXIS_CONF_PATH = f"{PLUGSTACK_DIR}/pyxis.conf"
ENROOT_CONF_PATH = "/etc/enroot/enroot.conf"
#: Where nvslurm-plugin-pyxis installs the plugin on amd64 (its debian/rules: libdir=/usr/lib/$(DEB_HOST_MULTIARCH)).
PYXIS_PLUGIN = "/usr/lib/x86_64-linux-gnu/slurm/spank_pyxis.so"
#: Every setting written out so the file says what runs, whatever the pyxis version's defaults:
#: per-node runtime state under /run, no image entrypoint, `#SBATCH --container-*`, and
#: containers named by the user reusable across jobs (container_scope=global: trainbed's choice;
#: pyxis 0.16.x defaults to `job`).
PYXIS_ARGS = {
    "runtime_path": "/run/pyxis",
    "execute_entrypoint": "0",
    "container_scope": "global",
    "sbatch_support": "1",
}


def require_containers(inventory: Inventory) -> Containers:
    """The inventory's containers section, or a clear error when it has none."""
    if inventory.containers is None:
        raise TrainbedError(f"{inventory.source.name}: no containers section (enroot, pyxis, NeMo)")
    return inventory.containers


def enroot_conf(inventory: Inventory, node: ComputeNode) -> str:
    containers = require_containers(inventory)
    paths = containers.enroot_paths(node.profile)
    if paths is None:
        raise TrainbedError(f"{node.hostname}: no local_scratch and no containers.enroot paths")
    return render(
        "enroot.conf.j2", profile=node.profile.name, source=inventory.source.name, paths=paths
    )


@per_inventory
def plugstack_conf(inventory: Inventory) -> str:
    return render("plugstack.conf.j2", source=inventory.source.name, conf_dir=PLUGSTACK_DIR)


@per_inventory
def pyxis_conf(inventory: Inventory) -> str:
    containers = require_containers(inventory)
    return render(
        "pyxis.conf.j2",
        source=inventory.source.name,
        version=containers.pyxis.upstream_version,
        plugin=PYXIS_PLUGIN,
        args=PYXIS_ARGS,
    )


def pyxis_image(image: str) -> str:
    """`nvcr.io/nvidia/nemo:23.11` → `nvcr.io#nvidia/nemo:23.11`, the form enroot and pyxis parse.

    enroot reads `[USER@][REGISTRY#]IMAGE[:TAG]`; without `#` the whole reference would be taken
    as an image on Docker Hub.
    """
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return f"{first}#{rest}"
    return image


def enroot_directories(inventory: Inventory, node: ComputeNode) -> tuple[str, ...]:
    """Directories the deploy creates (mode 1777, like /tmp) so enroot can make per-user ones.

    Each enroot path up to its first per-user part (`$(id -u)`, `${HOME}`, ...): enroot creates
    the rest itself, as the user.
    """
    paths = require_containers(inventory).enroot_paths(node.profile)
    if paths is None:
        return ()
    out = []
    for path in (paths.data, paths.cache, paths.runtime, paths.temp):
        fixed = []
        for part in path.split("/")[1:]:
            if "$" in part:
                break
            fixed.append(part)
        if fixed:
            out.append("/" + "/".join(fixed))
    return tuple(dict.fromkeys(out))
