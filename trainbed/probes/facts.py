"""What the probe jobs recorded about each node: versions for the results, port evidence for hints.

Gathered inside the suite's own Slurm jobs (``facts.sh``, see :mod:`scripts`) rather than over SSH
to every node: the run then needs SSH to the submit host only, the figures come from the very
environment the probes ran in, and ibstat is read at the time of the ib_write_bw round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trainbed.inventory.model import Inventory
from trainbed.parse.ibstat import CaInfo, parse_ibstat
from trainbed.probes.localise import CABLING, Finding, Hint
from trainbed.probes.results import empty_versions, node_versions
from trainbed.verdicts import cabling, hca_port


def sections(text: str) -> dict[str, str]:
    """``=== name`` blocks of a facts file."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("=== "):
            current = found.setdefault(line[4:].strip(), [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v).strip() for k, v in found.items()}


def _driver(block: str) -> str | None:
    values = {line.strip() for line in block.splitlines() if line.strip()}
    if len(values) == 1:
        value = values.pop()
        return value if value[:1].isdigit() else None
    return None


def _perftest(block: str) -> str | None:
    line = block.strip().splitlines()[0].strip() if block.strip() else ""
    return line if line[:1].isdigit() else None


def versions(inventory: Inventory, facts: Mapping[str, str]) -> dict[str, Any]:
    """The results' ``versions`` block from each node's facts (NCCL versions come from the runs).

    A cluster-wide value is given when every node that reported agrees, else None (the per-node
    entries show the difference).
    """
    out = empty_versions()
    drivers: set[str] = set()
    perftests: set[str] = set()
    for node in inventory.compute:
        text = facts.get(node.hostname)
        if text is None:
            out["nodes"][node.hostname] = node_versions(None, None)
            continue
        blocks = sections(text)
        driver = _driver(blocks.get("driver", ""))
        cas = {ca.name: ca.firmware_version for ca in parse_ibstat(blocks.get("ibstat", ""))}
        firmware = {h.device: cas.get(h.device) for h in node.hcas}
        out["nodes"][node.hostname] = node_versions(driver, firmware)
        if driver:
            drivers.add(driver)
        perftest = _perftest(blocks.get("perftest", ""))
        if perftest:
            perftests.add(perftest)
    out["driver"] = drivers.pop() if len(drivers) == 1 else None
    out["perftest"] = perftests.pop() if len(perftests) == 1 else None
    return out


def _cas(text: str) -> dict[str, CaInfo]:
    return hca_port.by_name(parse_ibstat(sections(text).get("ibstat", "")))


def port_hints(inventory: Inventory, facts: Mapping[str, str]) -> list[Hint]:
    """ibstat evidence against a node's ports, judged as the acceptance checks judge them
    (`trainbed.verdicts.hca_port`): not listed, not Active/LinkUp, off the line rate or link layer.

    One hint per such port (with its rail); a node whose every port is affected also gets one
    without a rail. Only used by the localiser to break a two-node tie.
    """
    ib = inventory.networks.infiniband
    hints: list[Hint] = []
    for node in inventory.compute:
        text = facts.get(node.hostname)
        if text is None:
            continue
        cas = _cas(text)
        bad: list[str] = []
        for hca in node.hcas:
            want = hca_port.Expected(hca.device, hca.port, ib.link_rate_gbps, ib.link_layer)
            problems = hca_port.problems(node.hostname, want, cas)
            if not problems:
                continue
            what = "; ".join(problems)
            bad.append(what)
            hints.append(Hint(node.hostname, hca.rail, f"ibstat: {what}"))
        if len(bad) == len(node.hcas) > 1:
            hints.append(
                Hint(
                    node.hostname,
                    None,
                    f"ibstat on {node.hostname}: all {len(bad)} ports affected ({'; '.join(bad)})",
                )
            )
    return hints


@dataclass(frozen=True, slots=True)
class PortFact:
    """One compute node's port on one rail as the run's ibstat showed it (None: not listed)."""

    node: str
    rail: str
    device: str
    port: int
    state: str | None
    physical_state: str | None
    sm_lid: int | None
    #: The master subnet manager's port GUID its ``sminfo`` named (None: none, or not read).
    master: str | None = None

    def describe(self) -> str:
        """``gpu01 mlx5_3 port 1 Initializing (LinkUp, SM lid 0)``."""
        if self.state is None:
            return f"{self.node} {self.device} port {self.port} not listed by ibstat"
        extra = [x for x in (self.physical_state, f"SM lid {self.sm_lid}") if x is not None]
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{self.node} {self.device} port {self.port} {self.state}{tail}"


def port_facts(inventory: Inventory, facts: Mapping[str, str]) -> dict[tuple[str, str], PortFact]:
    """(node, rail) → that node's port on the rail, for every node that reported facts."""
    ports: dict[tuple[str, str], PortFact] = {}
    for node in inventory.compute:
        text = facts.get(node.hostname)
        if text is None:
            continue
        cas = _cas(text)
        blocks = sections(text)
        for hca in node.hcas:
            port = hca_port.find_port(cas, hca.device, hca.port)
            ports[(node.hostname, hca.rail)] = PortFact(
                node.hostname,
                hca.rail,
                hca.device,
                hca.port,
                port.state if port else None,
                port.physical_state if port else None,
                port.sm_lid if port else None,
                cabling.master_guid(blocks.get(f"sminfo {hca.device}", "")),
            )
    return ports


def cabling_findings(
    inventory: Inventory, ports: Mapping[tuple[str, str], PortFact]
) -> list[Finding]:
    """A ``cabling`` finding for each port whose master SM is another rail's (or none of its
    own rail's), judged by :mod:`trainbed.verdicts.cabling` as the acceptance check judges it."""
    candidates = cabling.sm_rails(
        inventory.networks.infiniband.rails, inventory.subnet_manager_hcas
    )
    findings = []
    for (node, rail), port in ports.items():
        seen = cabling.Seen(node, port.device, rail, port.master)
        for problem in cabling.problems(seen, candidates):
            findings.append(Finding(CABLING, node, port.device, rail, None, problem, nodes=(node,)))
    return findings
