"""Hardware health for the checks: read a fact from the node (one command), parse it
(`trainbed.parse`), judge it (`trainbed.verdicts`).

Every reader returns the parsed fact or a `NotRun`: a tool that is missing (exit 127), a command
that timed out (`timeout`'s exit 124, or 137 after its kill) or failed is "could not run", never a
pass and never a fault. `outcome` turns a judgement into the check's result: a skip "could not
run: …", warnings recorded, failures raised on one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from time import monotonic
from typing import Any, NoReturn, TypeVar

import pytest

from trainbed.checks.junit import could_not_run
from trainbed.health.judge import JOURNAL_ARGV, journal_since
from trainbed.inventory.model import ComputeNode, Hca, HealthThresholds, Node
from trainbed.parse.dcgmi import parse_dcgmi_diag
from trainbed.parse.dmesg import XidEvent
from trainbed.parse.journal import journal_xids
from trainbed.parse.lspci import PciDevice, find_device, parse_lspci
from trainbed.parse.mlxlink import MlxlinkInfo, parse_mlxlink
from trainbed.parse.nvbandwidth import parse_nvbandwidth
from trainbed.parse.nvidia_smi import GpuInfo, Topology, parse_query, parse_topology
from trainbed.parse.nvlink import GpuNvLinks, parse_nvlink_status
from trainbed.parse.perfquery import PortCounters, parse_perfquery
from trainbed.remote import Remote, command
from trainbed.verdicts import (
    Findings,
    NotRun,
    check,
    dcgm,
    ecc,
    gpu_name,
    not_run,
    nvbandwidth,
    pcie,
)
from trainbed.verdicts import xid as xid_verdict

T = TypeVar("T")

#: Exit codes of `timeout` (124: it fired; 137: the command ignored TERM and was killed).
TIMED_OUT = (124, 137)
#: The shell's exit code for a command it cannot find.
NOT_FOUND = 127
#: Seconds `timeout` waits after TERM before it kills.
KILL_AFTER_S = 10
#: `dcgmi diag -r` of each check level.
DCGM_RUN = {"quick": 1, "standard": 2, "burn-in": 3}

#: The health program's journal command (one decision), the window's start as its argument.
JOURNAL_COMMAND = " ".join(JOURNAL_ARGV) + " %s"


def read(
    remote: Remote,
    what: str,
    template: str,
    *args: object,
    timeout_s: int | None = None,
    cache: bool = True,
    any_exit: bool = False,
) -> str | NotRun:
    """stdout of the command, or why it could not run (`what` names the fact: `gpu01 lspci`).

    With `timeout_s` the command runs under `timeout`; with `any_exit` a non-zero exit is the
    tool's verdict (dcgmi fails when a test fails), not a failure to run.
    """
    shown = command(template, *args)
    full = f"timeout -k {KILL_AFTER_S} {timeout_s} {shown}" if timeout_s else shown
    result = remote.run(full, cache=cache)
    if timeout_s and result.rc in TIMED_OUT:
        return NotRun(what, f"`{shown}` did not answer within {timeout_s} s")
    if result.rc == NOT_FOUND:
        return NotRun(what, f"`{shown}`: command not found")
    if result.rc != 0 and not any_exit:
        return not_run(what, shown, result.rc, result.stderr)
    return result.stdout


def skip_not_run(reason: NotRun) -> NoReturn:
    """Skip the calling check as "could not run: gpu01 lspci: `lspci -vvv` exit 1: …"."""
    pytest.skip(could_not_run(f"{reason.what}: {reason.why}"))


def need(value: T | NotRun) -> T:
    """The fact, or the calling check skipped as could not run."""
    if isinstance(value, NotRun):
        skip_not_run(value)
    return value


def outcome(found: Findings | NotRun, warn: Callable[[Iterable[str]], None]) -> None:
    """The check's result: could not run (a skip), else its warnings recorded and its failures
    raised (one line, `; `-joined)."""
    found = need(found)
    warn(found.warnings)
    check(found.failures)


# --------------------------------------------------------------------------- readers


def gpus(remote: Remote) -> list[GpuInfo] | NotRun:
    """`nvidia-smi -q` (the same command, cached, as the suite's other GPU checks)."""
    text = read(remote, f"{remote.hostname} nvidia-smi -q", "nvidia-smi -q")
    return text if isinstance(text, NotRun) else parse_query(text)


def xids(remote: Remote, since: str) -> list[XidEvent] | NotRun:
    """XID events among the kernel's messages in the node's journal since `since`."""
    text = read(remote, f"{remote.hostname} kernel journal", JOURNAL_COMMAND, since, cache=False)
    return text if isinstance(text, NotRun) else journal_xids(text)


NVLINK_COMMAND = "nvidia-smi nvlink -s"
LSPCI_COMMAND = "lspci -vvv"
TOPOLOGY_COMMAND = "nvidia-smi topo -m"


def nvlinks(remote: Remote) -> list[GpuNvLinks] | NotRun:
    text = read(remote, f"{remote.hostname} nvidia-smi nvlink", NVLINK_COMMAND)
    return text if isinstance(text, NotRun) else parse_nvlink_status(text)


def pci_devices(remote: Remote) -> list[PciDevice] | NotRun:
    """`lspci -vvv` (root: without it lspci hides the capabilities)."""
    text = read(remote, f"{remote.hostname} lspci", LSPCI_COMMAND)
    return text if isinstance(text, NotRun) else parse_lspci(text)


def topology(remote: Remote) -> Topology | NotRun:
    text = read(remote, f"{remote.hostname} nvidia-smi topo", TOPOLOGY_COMMAND)
    return text if isinstance(text, NotRun) else parse_topology(text)


PERFQUERY = "perfquery -x -C %s -P %s"
MLXLINK = "mlxlink -d %s -p %s -c"


def perfquery_command(hca: Hca) -> str:
    return command(PERFQUERY, hca.device, hca.port)


def port_counters(remote: Remote, hca: Hca) -> PortCounters | NotRun:
    """The HCA port's `perfquery -x` reading now (never cached)."""
    what = f"{remote.hostname} {hca.device} perfquery"
    text = read(remote, what, PERFQUERY, hca.device, hca.port, cache=False)
    if isinstance(text, NotRun):
        return text
    ports = parse_perfquery(text)
    if not ports:
        return NotRun(what, "no port counters in perfquery's output")
    return ports[0]


def has_command(remote: Remote, name: str) -> bool:
    return remote.run("command -v %s", name).rc == 0


def mlxlink(remote: Remote, hca: Hca) -> MlxlinkInfo | NotRun:
    what = f"{remote.hostname} {hca.device} mlxlink"
    text = read(remote, what, MLXLINK, hca.device, hca.port, cache=False)
    return text if isinstance(text, NotRun) else parse_mlxlink(text)


# --------------------------------------------------------------------------- judgements


def xid_findings(remote: Remote, thresholds: HealthThresholds, now: datetime) -> Findings | NotRun:
    """XIDs in the window; GPUs named by index where `nvidia-smi -q` answers, else by bus ID."""
    events = xids(remote, journal_since(now, thresholds.xid_window_hours))
    if isinstance(events, NotRun):
        return events
    listed = gpus(remote)
    by_bus = {} if isinstance(listed, NotRun) else {g.bus_id: g.index for g in listed}
    return xid_verdict.problems(
        remote.hostname,
        events,
        by_bus,
        frozenset(thresholds.critical_xids),
        thresholds.xid_window_hours,
    )


def memory_findings(remote: Remote) -> Findings | NotRun:
    listed = gpus(remote)
    if isinstance(listed, NotRun):
        return listed
    return sum((ecc.problems(remote.hostname, g) for g in listed), Findings())


@dataclass(frozen=True, slots=True)
class RailPair:
    """A GPU and its rail HCA (the inventory's `nearest_gpu`), found in lspci."""

    gpu_index: int
    gpu: PciDevice | None
    hca: Hca
    hca_device: PciDevice | None

    @property
    def gpu_name(self) -> str:
        return gpu_name(self.gpu_index, self.gpu.bus_id if self.gpu else None)

    @property
    def hca_name(self) -> str:
        return (
            f"{self.hca.device} ({self.hca_device.bus_id})" if self.hca_device else self.hca.device
        )


def rail_pairs(
    node: Node, devices: Sequence[PciDevice], listed: Sequence[GpuInfo]
) -> list[RailPair]:
    """Each HCA with a `nearest_gpu`, with that GPU and the HCA's PCI device (the Mellanox
    device nearest the GPU, `trainbed.verdicts.pcie.nearest_hca`)."""
    by_index = {g.index: g for g in listed}
    pairs = []
    for hca in node.hcas:
        if hca.nearest_gpu is None:
            continue
        info = by_index.get(hca.nearest_gpu)
        gpu = find_device(devices, info.bus_id) if info else None
        pairs.append(
            RailPair(hca.nearest_gpu, gpu, hca, pcie.nearest_hca(devices, gpu) if gpu else None)
        )
    return pairs


def pcie_inputs(
    remote: Remote, node: ComputeNode
) -> tuple[list[PciDevice], list[GpuInfo], list[RailPair]] | NotRun:
    devices = pci_devices(remote)
    if isinstance(devices, NotRun):
        return devices
    listed = gpus(remote)
    if isinstance(listed, NotRun):
        return listed
    return devices, listed, rail_pairs(node, devices, listed)


def link_findings(remote: Remote, node: ComputeNode) -> Findings | NotRun:
    """Every GPU's and rail HCA's link at its LnkCap and the profile's generation and width."""
    inputs = pcie_inputs(remote, node)
    if isinstance(inputs, NotRun):
        return inputs
    devices, listed, pairs = inputs
    want = node.profile.pcie
    gpu_link, hca_link = (
        pcie.Link(want.gpu.gen, want.gpu.width),
        pcie.Link(want.hca.gen, want.hca.width),
    )
    host = remote.hostname
    found = [
        pcie.link_problem(
            host, gpu_name(g.index, g.bus_id), find_device(devices, g.bus_id), gpu_link
        )
        for g in listed
    ]
    for pair in pairs:
        if pair.gpu is None:
            continue  # the GPU's own line says it is absent
        if pair.hca_device is None:
            found.append(
                f"{host} {pair.hca.device} PCIe link: expected a ConnectX under "
                f"{pair.gpu_name}'s PCIe switch (nearest_gpu), got none in lspci"
            )
            continue
        found.append(pcie.link_problem(host, pair.hca_name, pair.hca_device, hca_link))
    return Findings(tuple(p for p in found if p))


def acs_findings(remote: Remote, node: ComputeNode) -> Findings | NotRun:
    """No ACS redirect on the bridges between each GPU and its rail HCA."""
    inputs = pcie_inputs(remote, node)
    if isinstance(inputs, NotRun):
        return inputs
    devices, _, pairs = inputs
    found = [
        pcie.acs_problem(
            remote.hostname, f"{p.gpu_name} ↔ {p.hca_name}", devices, p.gpu, p.hca_device
        )
        for p in pairs
        if p.gpu is not None and p.hca_device is not None
    ]
    return Findings(tuple(p for p in found if p))


def topology_findings(remote: Remote, node: ComputeNode) -> Findings | NotRun:
    """Each rail HCA at PIX or PXB from its `nearest_gpu` in `nvidia-smi topo -m`."""
    topo = topology(remote)
    if isinstance(topo, NotRun):
        return topo
    found = [
        pcie.topology_problem(remote.hostname, hca.nearest_gpu, hca.device, topo)
        for hca in node.hcas
        if hca.nearest_gpu is not None
    ]
    return Findings(tuple(p for p in found if p))


def dcgm_findings(remote: Remote, level: str, timeout_s: int) -> Findings | NotRun:
    """`dcgmi diag -r N` of the level, bounded by `timeout_s`: a hang is could not run."""
    run = DCGM_RUN[level]
    what = f"{remote.hostname} dcgmi diag -r {run}"
    text = read(remote, what, "dcgmi diag -r %s", run, timeout_s=timeout_s, any_exit=True)
    if isinstance(text, NotRun):
        return text
    rows = parse_dcgmi_diag(text)
    if not dcgm.ran(rows):
        return NotRun(what, f"no results table ({' '.join(text.split())[:200] or 'no output'})")
    return dcgm.problems(remote.hostname, run, rows)


# --------------------------------------------------------------------------- the first reading

#: Hosts whose counters the first reading asks at once.
FIRST_READING_PARALLEL = 32


@dataclass
class FirstReadings:
    """Each HCA port's counters as read at the start of the run, with when (monotonic)."""

    readings: dict[tuple[str, str, int], tuple[PortCounters, float] | NotRun]

    def get(self, host: str, hca: Hca) -> tuple[PortCounters, float] | NotRun:
        return self.readings.get(
            (host, hca.device, hca.port),
            NotRun(f"{host} {hca.device} perfquery", "no first reading (the node did not answer)"),
        )

    def to_plain(self) -> list[list[object]]:
        """The readings as lists of str, int, float and dict (what pytest-xdist hands a
        worker): ``[host, device, port, counters or None, at or what, why]``."""
        rows: list[list[object]] = []
        for (host, device, port), reading in self.readings.items():
            if isinstance(reading, NotRun):
                rows.append([host, device, port, None, reading.what, reading.why])
            else:
                c, at = reading
                plain = {"lid": c.lid, "port": c.port, "capmask": c.capability_mask}
                rows.append([host, device, port, {**plain, "counters": dict(c.counters)}, at, ""])
        return rows

    @classmethod
    def from_plain(cls, rows: Iterable[Sequence[Any]]) -> FirstReadings:
        """The inverse of `to_plain`."""
        readings: dict[tuple[str, str, int], tuple[PortCounters, float] | NotRun] = {}
        for host, device, port, plain, at_or_what, why in rows:
            if plain is None:
                readings[(host, device, port)] = NotRun(at_or_what, why)
            else:
                counters = PortCounters(
                    plain["lid"], plain["port"], plain["capmask"], dict(plain["counters"])
                )
                readings[(host, device, port)] = (counters, float(at_or_what))
        return cls(readings)


def first_readings(
    remotes: Sequence[tuple[Remote, Sequence[Hca]]], parallel: int = FIRST_READING_PARALLEL
) -> FirstReadings:
    """Read every given HCA port's counters now, the hosts in parallel."""

    def one(pair: tuple[Remote, Sequence[Hca]]) -> list[tuple[tuple[str, str, int], object]]:
        remote, hcas = pair
        out: list[tuple[tuple[str, str, int], object]] = []
        remote.prefetch("first perfquery", (perfquery_command(hca) for hca in hcas))
        for hca in hcas:
            try:
                counters = port_counters(remote, hca)
            except AssertionError as exc:  # unreachable: its own checks say so
                counters = NotRun(f"{remote.hostname} {hca.device} perfquery", str(exc))
            key = (remote.hostname, hca.device, hca.port)
            out.append((key, counters if isinstance(counters, NotRun) else (counters, monotonic())))
        return out

    if not remotes:
        return FirstReadings({})
    with ThreadPoolExecutor(max_workers=min(parallel, len(remotes))) as pool:
        pairs = [item for chunk in pool.map(one, remotes) for item in chunk]
    return FirstReadings(dict(pairs))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- burn-in

#: Seconds nvbandwidth's three testcases may take on an 8-GPU node.
NVBANDWIDTH_TIMEOUT_S = 600


def nvbandwidth_findings(remote: Remote, thresholds: HealthThresholds) -> Findings | NotRun:
    """nvbandwidth's host-to-device and device-to-device copies against the bars."""
    what = f"{remote.hostname} nvbandwidth"
    template = "nvbandwidth" + " -t %s" * len(nvbandwidth.TESTCASES)
    text = read(
        remote, what, template, *nvbandwidth.TESTCASES, timeout_s=NVBANDWIDTH_TIMEOUT_S, cache=False
    )
    if isinstance(text, NotRun):
        return text
    bars = nvbandwidth.Bars(thresholds.nvbandwidth_h2d_gbps, thresholds.nvbandwidth_d2d_gbps)
    return nvbandwidth.problems(remote.hostname, parse_nvbandwidth(text), bars)
