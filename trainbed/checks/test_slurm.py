"""slurm: munge with one key, the daemons, Slurm's view of each compute node, the running config
against the rendered slurm.conf, and the plugins the inventory relies on."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from trainbed.checks import expected, reads, slurm_config
from trainbed.inventory.model import ComputeNode, Inventory, Node
from trainbed.parse.slurm import parse_scontrol_show_node
from trainbed.remote import Remote, command
from trainbed.render.slurm import slurm_conf
from trainbed.verdicts import check, mismatch

pytestmark = pytest.mark.nodes("slurm")

MUNGE_KEY = "/etc/munge/munge.key"
VERSION = "scontrol --version"
SHOW_CONFIG = "scontrol show config"
#: Node states in which a node takes jobs (`scontrol show node`), flags aside.
SCHEDULABLE = frozenset({"IDLE", "ALLOCATED", "MIXED", "COMPLETING"})
BAD_FLAGS = frozenset({"DRAIN", "NOT_RESPONDING", "FAIL", "MAINTENANCE", "REBOOT_REQUESTED"})
#: Slurm's PluginDir where `scontrol show config` names none (and the one read ahead).
PLUGIN_DIR = "/usr/lib/slurm"


@reads.register("slurm")
def _reads(inventory: Inventory, node: Node) -> list[str]:
    """The node's Slurm version, configuration and munge key digest (a check reading Slurm's
    state asks it alone)."""
    return [VERSION, SHOW_CONFIG, command("sha256sum %s", MUNGE_KEY)]


def _plugin_reads(needed: Iterable[str], plugin_dir: str) -> dict[str, str]:
    """Each needed plugin's listing in `plugin_dir`, and the PMIx library's where PMIx is."""
    listings = {pattern: command("ls %s/" + pattern, plugin_dir) for pattern in needed}
    if any(p.startswith("mpi_pmix") for p in listings):
        listings[PMIX] = command(expected.PMIX_LIBRARY_COMMAND, plugin_dir)
    return listings


#: `_plugin_reads`'s key of the PMIx library's check (no plugin glob reads so).
PMIX = "libpmix"


@reads.register("compute")
def _plugins_ahead(inventory: Inventory, node: Node) -> list[str]:
    """The plugin reads of `test_slurm_plugins` in the usual PluginDir (the check reads them
    alone where the running configuration names another)."""
    return list(_plugin_reads(expected.slurm_plugins(inventory), PLUGIN_DIR).values())


def test_slurm_version(remote: Remote, inventory: Inventory) -> None:
    want = inventory.software.slurm.version
    got = remote.output(VERSION).split()[-1]
    assert got == want, mismatch(f"{remote.hostname} Slurm version", want, got)


def _key_digest(remote: Remote) -> str:
    """sha256 of the munge key: compared across nodes, the key itself never leaves the node."""
    return remote.output("sha256sum %s", MUNGE_KEY).split()[0]


@pytest.mark.nodes.with_args(expected.munge_peers)
def test_munge_key_identical(remote: Remote, controller: Remote) -> None:
    """The node's munge key is the primary controller's (the deploy copies it from there)."""
    want, got = _key_digest(controller), _key_digest(remote)
    assert got == want, mismatch(
        f"{remote.hostname} munge key sha256",
        f"{want[:12]}… ({controller.hostname}'s)",
        f"{got[:12]}…",
    )


UNMUNGE = "echo %s | unmunge"


def _unmunge_status(credential: str, decoder: Remote) -> str:
    result = decoder.run(UNMUNGE, credential, cache=False)
    for line in (result.stdout + "\n" + result.stderr).splitlines():
        if line.startswith("STATUS:"):
            return " ".join(line.split()[1:])
    return " ".join(result.stderr.split()) or f"exit {result.rc}"


@pytest.mark.nodes.with_args(expected.munge_peers)
def test_munge_credential(remote: Remote, controller: Remote) -> None:
    """A credential made on the controller decodes here, and one made here decodes there."""
    problems = []
    for maker, decoder in ((controller, remote), (remote, controller)):
        credential = maker.output("munge -n", cache=False).strip()
        if decoder is remote:  # the node decodes it and makes its own in one round trip
            remote.prefetch(f"munge {credential}", [command(UNMUNGE, credential), "munge -n"])
        status = _unmunge_status(credential, decoder)
        if not status.startswith("Success"):
            problems.append(
                mismatch(
                    f"{decoder.hostname} unmunge of a credential made on {maker.hostname}",
                    "Success",
                    status,
                )
            )
    check(problems)


SHOW_NODE = "scontrol show node %s"
#: Compute nodes whose `scontrol show node` the controller reads in one round trip (the batch's
#: script, one argument of the remote shell, stays far below Linux's 128 KiB for one).
SHOW_NODE_CHUNK = 128


@pytest.fixture(scope="session")
def show_node_chunks(inventory: Inventory, selected: tuple[str, ...]) -> dict[str, list[str]]:
    """hostname → the selected compute nodes whose Slurm state is read ahead with its own."""
    compute = {n.hostname for n in inventory.compute}
    hosts = [h for h in selected if h in compute]
    chunks = [hosts[i : i + SHOW_NODE_CHUNK] for i in range(0, len(hosts), SHOW_NODE_CHUNK)]
    return {h: chunk for chunk in chunks for h in chunk}


@pytest.mark.nodes("compute")
def test_slurm_node(
    remote: Remote,
    node: ComputeNode,
    controller: Remote,
    show_node_chunks: dict[str, list[str]],
) -> None:
    """The controller knows the node, schedulable (idle or allocated), with all its GPUs."""
    chunk = show_node_chunks.get(node.hostname, [])
    if chunk:  # the first node of the chunk asks for all of it
        controller.prefetch(f"show node {chunk[0]}", (command(SHOW_NODE, h) for h in chunk))
    result = controller.run(SHOW_NODE, node.hostname, cache=False)
    seen = parse_scontrol_show_node(result.stdout)
    what = f"{node.hostname} in Slurm ({controller.hostname})"
    assert result.rc == 0 and seen, mismatch(
        what, "a known node", " ".join(result.stderr.split()) or "not listed"
    )
    slurm_node = seen[0]
    state = "+".join((slurm_node.state or "unknown", *slurm_node.state_flags))
    want_gres = f"gpu:{node.profile.gpus.count}"
    check(
        [
            mismatch(f"{what} state", "IDLE or ALLOCATED (no DRAIN/DOWN flags)", state)
            if slurm_node.state not in SCHEDULABLE or BAD_FLAGS & set(slurm_node.state_flags)
            else None,
            mismatch(f"{what} Gres", want_gres, slurm_node.gres)
            if slurm_node.gres != want_gres
            else None,
        ]
    )


@pytest.mark.nodes("slurmctld")
def test_running_config(remote: Remote, inventory: Inventory) -> None:
    """`scontrol show config` agrees with the rendered slurm.conf on every key trainbed sets."""
    shown = remote.output(SHOW_CONFIG, cache=False)
    check(
        f"{remote.hostname} running {m}" for m in slurm_config.compare(slurm_conf(inventory), shown)
    )


@pytest.mark.nodes("compute")
def test_slurm_plugins(remote: Remote, inventory: Inventory, node: Node) -> None:
    """Slurm's build has the plugins the inventory relies on (NVML, cgroup v2, PMIx)."""
    needed = expected.slurm_plugins(inventory)
    if not needed:
        pytest.skip(
            "the inventory relies on no optional Slurm plugin (gres autodetect "
            f"{inventory.slurm.gres_autodetect}, {inventory.slurm.proctrack_type}, "
            f"MpiDefault={inventory.slurm.mpi_default})"
        )
    shown = slurm_config.parse_show_config(remote.output(SHOW_CONFIG))
    plugin_dir = (shown.get("PluginDir") or [PLUGIN_DIR])[0]
    listings = _plugin_reads(needed, plugin_dir)
    remote.prefetch("plugins", listings.values())
    problems = []
    for pattern, why in needed.items():
        found = remote.run(listings[pattern]).rc == 0
        if not found:
            problems.append(
                mismatch(f"{remote.hostname} {plugin_dir}/{pattern} ({why})", "present", "absent")
            )
        elif pattern.startswith("mpi_pmix") and remote.run(listings[PMIX]).rc:
            problems.append(
                mismatch(
                    f"{remote.hostname} the PMIx library {plugin_dir}/{pattern} loads ({why})",
                    "present",
                    "absent",
                )
            )
    check(problems)
