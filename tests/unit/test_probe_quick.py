"""Quick mode against the fake submit host: one round when clean, a slow HCA named in ≤ 3."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.unit.fake_slurm import FakeJob, FakeSubmitHost
from tests.unit.probe_helpers import ib_text, inventory_for, lat_text
from trainbed.probes.baseline import build_baseline, judge_against
from trainbed.probes.matching import MAX_ROUNDS
from trainbed.probes.quick import quick_schedule, run_quick_suite
from trainbed.probes.results import validate_results
from trainbed.probes.topology import Tree, topology_rounds, trees


@dataclass
class PortHost(FakeSubmitHost):
    """Every ``program`` client output through ``node``'s ``device`` is replaced by
    :meth:`output` (the rest as the fake host writes them)."""

    node: str = ""
    device: str = ""
    program = "ib_write_bw"

    def output(self) -> str:
        raise NotImplementedError

    def _write_outputs(self, job: FakeJob, failing: bool = False) -> None:
        super()._write_outputs(job, failing)
        if not job.name.startswith("round"):
            return
        log = re.search(r"--output=(\S+)", job.script).group(1)
        current = None
        pattern = rf"^\s*(?:\[[^]]*\] && )?client \d+ {self.program} (\S+) \d+ (\S+) (\S+)"
        for line in self.files[log.removesuffix(".out") + ".node.sh"].splitlines():
            label = re.fullmatch(r"(\S+)\)", line)
            current = label.group(1) if label else current
            client = re.match(pattern, line)
            if (
                client
                and client.group(1) == self.device
                and self.node in (current, client.group(2))
            ):
                self.files[client.group(3)] = self.output()


@dataclass
class SlowHcaHost(PortHost):
    """ib_write_bw through ``node``'s ``device`` reads ``gbps`` (the rest line rate)."""

    gbps: float = 300.0

    def output(self) -> str:
        return ib_text(self.gbps, self.device)


@dataclass
class LateHcaHost(PortHost):
    """ib_write_lat through ``node``'s ``device`` reads a 99th percentile of ``p99_us`` µs; its
    bandwidth is healthy."""

    p99_us: float = 9.5
    program = "ib_write_lat"

    def output(self) -> str:
        return lat_text(self.p99_us, self.device)


def _run(host: FakeSubmitHost, tmp_path: Path, nodes: int = 4, config: int = 1, baseline=None):
    inv = inventory_for(tmp_path, nodes, config)
    said: list[str] = []
    outcome = run_quick_suite(
        inv,
        host,
        tmp_path / "out",
        progress=said.append,
        clock=host.clock,
        sleep=host.sleep,
        baseline=baseline,
    )
    validate_results(outcome.results)
    return inv, outcome


def test_clean_quick_run_is_one_round_and_passes(tmp_path):
    inv, outcome = _run(FakeSubmitHost(), tmp_path)
    assert outcome.results["passed"], outcome.results["findings"]
    rounds = [j.name for j in outcome.jobs if j.name.startswith("round")]
    assert rounds == ["round1"]
    planned = quick_schedule(inv)["ib_write_bw"]["rounds"]
    assert outcome.results["schedule"]["ib_write_bw"]["rounds"] == planned


def test_slow_hca_is_named_within_three_rounds(tmp_path):
    inv = inventory_for(tmp_path, 4, 1)
    hca = inv.compute[1].hcas[2]
    host = SlowHcaHost(node="gpu02", device=hca.device)
    _, outcome = _run(host, tmp_path)
    findings = outcome.results["findings"]
    assert [(f["kind"], f["node"], f["rail"]) for f in findings] == [("hca", "gpu02", hca.rail)]
    assert "300.00 Gb/s" in findings[0]["evidence"]
    rounds = [j.name for j in outcome.jobs if j.name.startswith("round")]
    assert 2 <= len(rounds) <= MAX_ROUNDS


def test_clean_run_measures_latency_on_every_pair_and_rail(tmp_path):
    _, outcome = _run(FakeSubmitHost(), tmp_path)
    verdicts = outcome.results["ib_write_bw"]
    assert verdicts and all(v["lat_passed"] and v["lat_p99_us"] == 1.6 for v in verdicts)
    assert outcome.results["thresholds"]["ib_write_lat_p99_max_us"] == 4.2
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## ib_write_lat (µs: typical / p99 / p99.9)" in report
    assert "1.47 / 1.60 / 1.93" in report and "- ib_write_lat: p99 ≤ 4.2 µs" in report


def test_hca_with_a_slow_tail_is_named_by_its_latency(tmp_path):
    """Bandwidth at line rate everywhere; one HCA's ib_write_lat p99 at 9.5 µs (over 4.2):
    quick mode re-pairs its node and names that HCA, with the latency as evidence."""
    inv = inventory_for(tmp_path, 4, 1)
    hca = inv.compute[1].hcas[2]
    _, outcome = _run(LateHcaHost(node="gpu02", device=hca.device), tmp_path)
    findings = outcome.results["findings"]
    assert [(f["kind"], f["node"], f["rail"]) for f in findings] == [("hca", "gpu02", hca.rail)]
    failed = [v for v in outcome.results["ib_write_bw"] if not v["passed"]]
    assert failed and all(v["gbps"] >= v["threshold_gbps"] for v in failed)
    evidence = findings[0]["evidence"]
    assert "partner(s) over the 4.2 µs ib_write_lat p99 bar" in evidence, evidence
    assert "(round 1: p99 9.50 µs)" in evidence and "Gb/s" not in evidence.split(";")[0]
    assert any("ib_write_lat p99: expected <= 4.2 µs, got 9.5 µs" in v["reason"] for v in failed)
    assert all(v["lat_passed"] is False and v["lat_p99_us"] == 9.5 for v in failed)
    rounds = [j.name for j in outcome.jobs if j.name.startswith("round")]
    assert 2 <= len(rounds) <= MAX_ROUNDS


def test_a_port_five_percent_slow_is_named_against_the_baseline_in_three_rounds(tmp_path):
    """394 Gb/s everywhere makes the baseline; a port at 374 Gb/s passes the absolute bar, but
    below the baseline it is re-paired in round 2 and named, severe, not its partner."""
    _, clean = _run(FakeSubmitHost(), tmp_path)
    baseline = build_baseline([clean.results])
    inv = inventory_for(tmp_path, 4, 1)
    hca = inv.compute[1].hcas[2]
    host = SlowHcaHost(node="gpu02", device=hca.device, gbps=394.0 * 0.95)
    _, outcome = _run(host, tmp_path, baseline=baseline)
    assert outcome.results["passed"]  # the absolute judge passes it
    rounds = [j.name for j in outcome.jobs if j.name.startswith("round")]
    assert 2 <= len(rounds) <= MAX_ROUNDS
    block = judge_against(outcome.results, baseline, "fleet.json")
    found = [(f["kind"], f["node"], f["rail"]) for f in block["findings"]]
    assert found == [("hca", "gpu02", hca.rail)]
    assert block["findings"][0]["evidence"].startswith("baseline severe (robust z -")
    # Without the baseline, round 1 passes and nothing is re-paired.
    _, alone = _run(SlowHcaHost(node="gpu02", device=hca.device, gbps=394.0 * 0.95), tmp_path)
    assert [j.name for j in alone.jobs if j.name.startswith("round")] == ["round1"]


def test_node_drained_before_the_run_is_not_measured_and_the_rest_judged(tmp_path):
    host = FakeSubmitHost(node_events=[(0.0, "gpu03", "IDLE+DRAIN", "bad dimm")])
    _, outcome = _run(host, tmp_path)
    findings = outcome.results["findings"]
    assert [(f["kind"], f["node"]) for f in findings] == [("not_measured", "gpu03")]
    assert "DRAIN" in findings[0]["evidence"].upper()
    judged = {n for v in outcome.results["ib_write_bw"] for n in (v["node_a"], v["node_b"])}
    assert judged == {"gpu01", "gpu02", "gpu04"}
    assert all(v["passed"] for v in outcome.results["ib_write_bw"])


def test_probe_plan_quick_mode_prints_round_one_only(tmp_path):
    import json

    from click.testing import CliRunner

    from tests.unit.probe_helpers import PROD_YAML
    from trainbed.cli import main

    full = CliRunner().invoke(main, ["probe", "plan", str(PROD_YAML), "--json", "--pairs"])
    quick = CliRunner().invoke(main, ["probe", "plan", str(PROD_YAML), "--json", "--mode", "quick"])
    assert quick.exit_code == 0, quick.output
    plan, every = json.loads(quick.output), json.loads(full.output)
    nodes = {n for rnd in every["ib_write_bw"]["rounds"] for p in rnd for n in p}
    (first,) = plan["ib_write_bw"]["rounds"]  # later rounds follow round 1's verdicts
    paired = [n for p in first for n in p]
    assert len(paired) == len(set(paired)) == len(nodes) - len(nodes) % 2
    assert set(paired) <= nodes
    assert {r["kind"] for r in plan["nccl"]} <= {"single", "pair"}


def test_node_down_during_round_one_is_left_out_of_later_rounds(tmp_path):
    inv = inventory_for(tmp_path, 4, 1)
    hca = inv.compute[0].hcas[1]
    host = SlowHcaHost(
        node="gpu01",
        device=hca.device,
        node_events=[(1.0, "gpu04", "DOWN+NOT_RESPONDING", "Not responding")],
    )
    _, outcome = _run(host, tmp_path)
    found = [(f["kind"], f["node"], f["rail"]) for f in outcome.results["findings"]]
    # Round 1's job died with gpu04: planned again without it; gpu01's HCA is still named.
    assert found == [("not_measured", "gpu04", None), ("hca", "gpu01", hca.rail)]
    later = [v for v in outcome.results["ib_write_bw"] if v["round"] > 1]
    assert later and all("gpu04" not in (v["node_a"], v["node_b"]) for v in later)
    assert not outcome.results["passed"]


@dataclass
class SlowCableHost(FakeSubmitHost):
    """Streams through ``cable`` (leaf, spine, number) of ``tree`` read ``gbps``."""

    tree: Tree | None = None
    cable: tuple[str, str, int] = ("", "", 0)
    gbps: float = 250.0

    def _write_outputs(self, job: FakeJob, failing: bool = False) -> None:
        super()._write_outputs(job, failing)
        if not job.name.startswith("round") or self.tree is None:
            return
        log = re.search(r"--output=(\S+)", job.script).group(1)
        current = None
        for line in self.files[log.removesuffix(".out") + ".node.sh"].splitlines():
            label = re.fullmatch(r"(\S+)\)", line)
            current = label.group(1) if label else current
            client = re.match(r"^\s*client \d+ ib_write_bw (\S+) (\d+) (\S+) (\S+)", line)
            if not client or not client.group(4).endswith(f".{self.tree.rail}.client.txt"):
                continue
            if any(c.physical == self.cable for c in self.tree.route(current, client.group(3))):
                self.files[client.group(4)] = ib_text(self.gbps, client.group(1))


def test_topology_rounds_name_a_bad_leaf_spine_cable(tmp_path):
    inv = inventory_for(tmp_path, 96, 1)  # 3 leaves and 2 spines a rail
    (tree, *_) = trees(inv)
    cable = (f"ib-{tree.rail}-leaf1", f"ib-{tree.rail}-spine1", 3)
    _, outcome = _run(SlowCableHost(tree=tree, cable=cable), tmp_path, nodes=96)
    found = [(f["kind"], f["node"], f["peer"], f["rail"]) for f in outcome.results["findings"]]
    assert found == [("link", cable[0], cable[1], tree.rail)], outcome.results["findings"]
    rounds = [j.name for j in outcome.jobs if j.name.startswith("round")]
    assert len(rounds) == 1 + len(topology_rounds(tree))  # clean round 1, then the topology


def test_a_lost_archive_in_quick_mode_is_measured_again_in_the_next_round(tmp_path):
    """Round 1's archive partial: its job is not measured (could not run), and its pairs, like
    those of a round lost with a node, are measured again in round 2: the run passes."""
    _, outcome = _run(FakeSubmitHost(archives={"round1": "partial"}), tmp_path)
    results = outcome.results
    job = next(j for j in outcome.jobs if j.name == "round1")
    assert job.state == "NOT_MEASURED" and job.reason.startswith("could not run: ")
    first, second = results["schedule"]["ib_write_bw"]["rounds"]
    assert first == second
    assert {v["round"] for v in results["ib_write_bw"]} == {2}
    assert results["passed"], results["findings"]


def test_archives_lost_every_round_leave_the_pairs_not_measured(tmp_path):
    lost = {f"round{k}": "lost" for k in range(1, 7)}
    _, outcome = _run(FakeSubmitHost(archives=lost), tmp_path)
    results = outcome.results
    assert not results["passed"] and results["findings"] == []  # blames no node
    assert results["ib_write_bw"] == [] and results["missing"]
    assert all(m.endswith("not measured (could not run)") for m in results["missing"])
    assert results["nccl"] and all(v["passed"] for v in results["nccl"])
