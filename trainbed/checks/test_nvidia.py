"""nvidia (compute nodes): GPUs as the profile says, fabric manager, persistence, peermem; their
health: XIDs, memory errors, clock slowdowns, NVLinks, DCGM's diagnostic at the run's level."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import pytest

from trainbed.checks import fabric_manager, firmware, health, reads
from trainbed.inventory.model import ComputeNode, Inventory
from trainbed.parse.nvidia_smi import GpuInfo, normalize_bus_id, parse_csv_query, parse_query
from trainbed.remote import Remote
from trainbed.verdicts import Findings, check, clocks, gpu_count, gpudirect, mismatch, nvlink

pytestmark = pytest.mark.nodes("compute")

QUERY_FIELDS = ("index", "name", "pci.bus_id", "persistence_mode", "memory.total")
#: Bit of CAP_SYS_MODULE in /proc/<pid>/status capability masks (linux/capability.h).
CAP_SYS_MODULE = 16


GPU_QUERY = f"nvidia-smi --query-gpu={','.join(QUERY_FIELDS)} --format=csv,nounits"
PEERMEM = "test -d /sys/module/nvidia_peermem"
INIT_STATUS = "cat /proc/1/status"
KERNEL = "uname -r"


@reads.register("compute")
def _reads(inventory: Inventory, node: ComputeNode) -> list[str]:
    """This module's reads on `node` that no check decides at run time (the XID window's start,
    DCGM's level and nvbandwidth do: those run alone)."""
    return [
        GPU_QUERY,
        "nvidia-smi -q",
        *(
            [fabric_manager.VERSION_COMMAND, fabric_manager.DRIVER_COMMAND]
            if node.profile.gpus.nvswitch
            else []
        ),
        *([PEERMEM, INIT_STATUS] if inventory.networks.infiniband.gpudirect_rdma else []),
        *([KERNEL] if inventory.networks.infiniband.gpudirect_method == "dmabuf" else []),
        health.NVLINK_COMMAND,
    ]


def _gpus(remote: Remote) -> list[dict]:
    return parse_csv_query(remote.output(GPU_QUERY), QUERY_FIELDS)


def _query(remote: Remote) -> list[GpuInfo]:
    return parse_query(remote.output("nvidia-smi -q"))


def test_gpu_count(remote: Remote, node: ComputeNode) -> None:
    check([gpu_count.problem(remote.hostname, node.profile.gpus.count, len(_gpus(remote)))])


def test_gpu_model(remote: Remote, node: ComputeNode) -> None:
    want = node.profile.gpus.model
    check(
        mismatch(f"{remote.hostname} GPU {gpu['index']} model", want, gpu["name"])
        for gpu in _gpus(remote)
        if gpu["name"] != want
    )


def test_gpu_bus_ids(remote: Remote, node: ComputeNode) -> None:
    """The GPUs sit at the profile's PCI bus IDs: a GPU off the bus is named by its address."""
    if not node.profile.gpus.bus_ids:
        pytest.skip(f"profile {node.profile.name} lists no GPU bus IDs")
    want = [normalize_bus_id(b) for b in node.profile.gpus.bus_ids]
    got = {gpu["pci.bus_id"] for gpu in _gpus(remote)}
    missing = [b for b in want if b not in got]
    extra = sorted(b for b in got if b not in want)
    check(
        [
            mismatch(f"{remote.hostname} GPUs at", ", ".join(missing), "none there")
            if missing
            else None,
            mismatch(f"{remote.hostname} GPUs", "only the profile's bus IDs", ", ".join(extra))
            if extra
            else None,
        ]
    )


def test_gpu_memory(remote: Remote, node: ComputeNode) -> None:
    want = node.profile.gpus.memory_mib
    if want is None:
        pytest.skip(f"profile {node.profile.name} gives no GPU memory size")
    check(
        mismatch(f"{remote.hostname} GPU {gpu['index']} memory", f"{want} MiB", f"{got} MiB")
        for gpu in _gpus(remote)
        if (got := gpu["memory.total"]) != want
    )


def test_persistence_mode(remote: Remote) -> None:
    check(
        mismatch(f"{remote.hostname} GPU {gpu['index']} persistence mode", "Enabled", "Disabled")
        for gpu in _gpus(remote)
        if gpu["persistence_mode"] is not True
    )


def test_driver_version(remote: Remote, inventory: Inventory) -> None:
    want = inventory.software.nvidia.driver_version
    versions = {gpu.driver_version for gpu in _query(remote)} or {"no GPU"}
    got = ", ".join(sorted(v or "unknown" for v in versions))
    assert versions == {want}, mismatch(f"{remote.hostname} driver version", want, got)


def _vbios(remote: Remote) -> dict[str, str]:
    return {f"GPU {g.index}": (g.vbios_version or "unknown").upper() for g in _query(remote)}


@pytest.fixture(scope="session")
def vbios(
    inventory: Inventory, connect: Callable[[str], Remote], unreachable: dict[str, str]
) -> dict[str, dict[str, str]]:
    """node → GPU → VBIOS, for the compute nodes that answer (the others report themselves)."""
    hosts = [n.hostname for n in inventory.compute if n.hostname not in unreachable]
    return firmware.observe(hosts, lambda host: _vbios(connect(host)))


def test_gpu_vbios(
    remote: Remote, inventory: Inventory, node: ComputeNode, vbios: dict[str, dict[str, str]]
) -> None:
    """Every GPU runs the profile's locked VBIOS; without a lock, what most of its nodes run."""
    profile = node.profile
    peers = {h: v for h, v in vbios.items() if inventory.compute_node(h).profile == profile}
    lock, where = profile.firmware.vbios, profile.lock_path("vbios")
    check(firmware.node_problems(node.hostname, _vbios(remote), peers, "VBIOS", lock, where))


def test_fabric_state(remote: Remote, node: ComputeNode) -> None:
    """On an NVSwitch baseboard the fabric manager has trained the fabric for every GPU."""
    if not node.profile.gpus.nvswitch:
        pytest.skip(f"profile {node.profile.name} has no NVSwitch: no fabric to manage")
    check(
        mismatch(
            f"{remote.hostname} GPU {gpu.index} fabric",
            "Completed/Success",
            f"{gpu.fabric_state}/{gpu.fabric_status}",
        )
        for gpu in _query(remote)
        if (gpu.fabric_state, gpu.fabric_status) != ("Completed", "Success")
    )


def test_fabric_manager_matches_driver(remote: Remote, node: ComputeNode) -> None:
    """The fabric manager is of the loaded driver's version (it refuses any other)."""
    if not node.profile.gpus.nvswitch:
        pytest.skip(f"profile {node.profile.name} has no NVSwitch: no fabric manager")
    own = remote.run(fabric_manager.VERSION_COMMAND)
    drivers = fabric_manager.driver_versions(remote.output(fabric_manager.DRIVER_COMMAND))
    check(
        [
            fabric_manager.version_problem(
                remote.hostname, fabric_manager.fabric_manager_version(own.stdout), drivers
            )
        ]
    )


def test_peermem_loaded(remote: Remote, inventory: Inventory) -> None:
    method = inventory.networks.infiniband.gpudirect_method
    if method != "peermem":
        pytest.skip(f"GPUDirect RDMA through {method or 'nothing (gpudirect_rdma is false)'}")
    if remote.run(PEERMEM).rc == 0:
        return
    status = remote.output(INIT_STATUS)
    bounding = next(
        (line.split()[1] for line in status.splitlines() if line.startswith("CapBnd:")), "0"
    )
    if not int(bounding, 16) & (1 << CAP_SYS_MODULE):
        pytest.skip(
            f"{remote.hostname} cannot load kernel modules (no CAP_SYS_MODULE: a container, where "
            "systemd-modules-load does not run); the modules-load.d entry is checked instead"
        )
    raise AssertionError(
        mismatch(
            f"{remote.hostname} nvidia_peermem", "loaded (/sys/module/nvidia_peermem)", "not loaded"
        )
    )


def test_dmabuf_ready(remote: Remote, inventory: Inventory) -> None:
    """GPUDirect RDMA through DMA-BUF: a kernel that has it (>= 5.12) and no nvidia-peermem
    beside it (NCCL would take either; the inventory chose DMA-BUF)."""
    method = inventory.networks.infiniband.gpudirect_method
    if method != "dmabuf":
        pytest.skip(f"GPUDirect RDMA through {method or 'nothing (gpudirect_rdma is false)'}")
    release = remote.output(KERNEL).strip()
    minimum = ".".join(map(str, gpudirect.DMABUF_MIN_KERNEL))
    problems = []
    if not gpudirect.kernel_supports_dmabuf(release):
        problems.append(mismatch(f"{remote.hostname} kernel", f">= {minimum}", release))
    if remote.run(PEERMEM).rc == 0:
        problems.append(
            mismatch(f"{remote.hostname} nvidia_peermem", "not loaded (DMA-BUF)", "loaded")
        )
    check(problems)


# ------------------------------------------------------------------------- hardware health


def test_gpu_xids(
    remote: Remote, inventory: Inventory, warn: Callable[[Iterable[str]], None]
) -> None:
    """No critical XID in the node's kernel journal inside the window (others warn), each named
    by GPU index, bus ID and XID."""
    thresholds = inventory.health.thresholds
    health.outcome(health.xid_findings(remote, thresholds, datetime.now(UTC)), warn)


def test_gpu_memory_errors(remote: Remote, warn: Callable[[Iterable[str]], None]) -> None:
    """No uncorrectable ECC error (volatile or aggregate, DRAM or SRAM), no row remap pending or
    failed, no retired page pending."""
    health.outcome(health.memory_findings(remote), warn)


def test_gpu_clocks(remote: Remote, warn: Callable[[Iterable[str]], None]) -> None:
    """HW slowdown, thermal or power-brake clock-event reasons active: a warning per GPU."""
    listed = health.need(health.gpus(remote))
    health.outcome(sum((clocks.problems(remote.hostname, g) for g in listed), Findings()), warn)


def test_nvlink(remote: Remote, node: ComputeNode, warn: Callable[[Iterable[str]], None]) -> None:
    """Every NVLink of every GPU active at the node's link speed (NVSwitch baseboards)."""
    if not node.profile.gpus.nvswitch:
        pytest.skip(f"profile {node.profile.name} has no NVSwitch: no NVLink fabric to judge")
    health.outcome(nvlink.problems(remote.hostname, health.need(health.nvlinks(remote))), warn)


def test_dcgm_diag(
    remote: Remote, inventory: Inventory, level: str, warn: Callable[[Iterable[str]], None]
) -> None:
    """DCGM's diagnostic of the run's level (quick -r 1, standard -r 2, burn-in -r 3) passes on
    every GPU; one that does not answer in time could not run."""
    timeout_s = inventory.health.thresholds.dcgm_timeout_s[level]
    health.outcome(health.dcgm_findings(remote, level, timeout_s), warn)


def test_nvbandwidth(
    remote: Remote, inventory: Inventory, level: str, warn: Callable[[Iterable[str]], None]
) -> None:
    """Burn-in: host-to-device copies >= 48 GB/s per GPU, device-to-device >= 335 GB/s per pair
    (`health.thresholds`), where nvbandwidth is installed."""
    if level != "burn-in":
        pytest.skip(f"level {level}: nvbandwidth runs at burn-in")
    if not health.has_command(remote, "nvbandwidth"):
        pytest.skip(f"{remote.hostname}: nvbandwidth is not installed (software.health_tools)")
    health.outcome(health.nvbandwidth_findings(remote, inventory.health.thresholds), warn)
