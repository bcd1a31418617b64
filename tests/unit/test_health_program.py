"""The node-local health program: its pure core (commands, judgements, drain/resume) against the
real fixtures, and its I/O edge (timeouts, the whole run) against fake tools printing them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trainbed.health import bundle, facts
from trainbed.health.decide import Memory, SlurmView, decide, level_to_run, outcome, reason
from trainbed.health.judge import Verdict, commands, judge
from trainbed.health.node import locked
from trainbed.health.plan import HcaPort, HealthPlan, from_catalog
from trainbed.verdicts import NotRun
from trainbed.verdicts.xid import CRITICAL_XIDS

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _real(name: str) -> str:
    return (REAL / name).read_text()


HEALTHY_Q = _real("nvidia_smi_q_8xH100_535.183.01.txt")
IBSTAT = _real("ibstat_h100_node_8x_cx7_ndr400_all_active.txt")
HCAS = tuple(
    HcaPort(f"mlx5_{n}", 1, 400, "InfiniBand") for n in (0, 1, 4, 5, 6, 7, 8, 9)
)  # the fixture's eight NDR CAs (mlx5_bond_0 is its Ethernet port)
PLAN = HealthPlan(
    gpus=8,
    nvlink=False,
    hcas=HCAS,
    units=("nvidia-fabricmanager", "munge", "slurmd"),
    mounts=("/mnt/datasets",),
    time_sync=True,
    critical_xids=CRITICAL_XIDS,
    could_not_run_drain_after=3,
)
SYNCHRONISED = _real("chronyc_tracking_4.3_debian12_synchronised_stratum9_localhost.txt")
NOT_SYNCHRONISED = _real("chronyc_tracking_4.3_debian12_no_sources_not_synchronised.txt")


def _journal(dmesg: str) -> str:
    """`journalctl -o json` lines carrying the real dmesg file's NVRM messages (the JSON
    wrapping is constructed: no real journal export is in the fixture set)."""
    lines = [line.split("] ", 1)[-1] for line in dmesg.splitlines() if "NVRM: Xid" in line]
    return "".join(
        json.dumps({"MESSAGE": m, "__REALTIME_TIMESTAMP": str(1764590400000000 + i)}) + "\n"
        for i, m in enumerate(lines)
    )


def _healthy(**override: str | NotRun) -> dict[str, str | NotRun]:
    outputs: dict[str, str | NotRun] = {
        "gpus": HEALTHY_Q,
        "journal": "",
        "ibstat": IBSTAT,
        "units": "active\nactive\nactive\n",
        "mounts": "/\n/mnt/datasets\n",
        "chrony": SYNCHRONISED,
    }
    outputs.update(override)
    return outputs


def _failures(verdicts: list[Verdict]) -> list[str]:
    return [f for v in verdicts for f in v.failures]


# --------------------------------------------------------------------------- commands


def test_passive_reads_no_dcgm_and_prolog_adds_the_quick_diag() -> None:
    passive = commands("gpu01", PLAN, "passive", NOW)
    assert set(passive) == {"gpus", "journal", "ibstat", "units", "mounts", "chrony"}
    assert passive["chrony"].argv == ("chronyc", "-n", "tracking")
    assert all(c.timeout_s == PLAN.command_timeout_s for c in passive.values())
    prolog = commands("gpu01", PLAN, "prolog", NOW)
    assert prolog["dcgm"].argv == ("dcgmi", "diag", "-r", "1")
    assert prolog["dcgm"].timeout_s == PLAN.prolog_dcgm_timeout_s < 60
    assert "dcgm" not in commands("gpu01", PLAN, "epilog", NOW, job_failed=False)
    assert commands("gpu01", PLAN, "epilog", NOW, job_failed=True)["dcgm"].argv[-1] == "2"


def test_the_journal_is_read_over_the_xid_window() -> None:
    argv = commands("gpu01", PLAN, "passive", NOW)["journal"].argv
    assert argv[-2:] == ("--since", f"@{int(NOW.timestamp()) - 24 * 3600}")
    assert "SYSLOG_IDENTIFIER=kernel" in argv and "-b" in argv  # the current boot only


# --------------------------------------------------------------------------- judgements


def test_a_healthy_node_passes_every_check() -> None:
    verdicts = judge("gpu01", PLAN, "passive", _healthy())
    assert [v.check for v in verdicts] == [
        "gpu count",
        "gpu memory",
        "gpu clocks",
        "xid",
        "hca ports",
        "services",
        "mounts",
        "clock",
    ]
    assert outcome(verdicts) == "pass", verdicts


def test_a_missing_gpu_fails_the_count() -> None:
    assert _failures(judge("gpu01", HealthPlan(gpus=9), "passive", _healthy())) == [
        "gpu01 GPU count: expected 9, got 8"
    ]


def test_a_critical_xid_in_the_real_dell_log_fails_naming_the_gpu() -> None:
    journal = _journal(_real("dmesg_xid119_gsp_rpc_timeout_h100_dell_xe9680.txt"))
    found = _failures(judge("gpu01", PLAN, "passive", _healthy(journal=journal)))
    assert len(found) == 1
    assert found[0].startswith("gpu01 GPU at 00000000:9B:00.0 XID: expected no critical XID")
    assert "XID 119 ×" in found[0]


def test_xids_48_63_94_fail_each_and_name_the_bus() -> None:
    journal = _journal(_real("dmesg_iso_xid48_dbe_xid63_row_remap_xid94_contained_peermem.txt"))
    found = _failures(judge("gpu01", PLAN, "passive", _healthy(journal=journal)))
    codes = sorted(int(line.split("got XID ")[1].split()[0]) for line in found)
    assert codes == [48, 63, 94]
    assert all("00000000:19:00.0" in line for line in found)


def test_a_pending_row_remap_fails_gpu_memory() -> None:
    q = _real("nvidia_smi_q_1xA10_535.129.03_remapped_rows_uncorrectable4_pending_yes.txt")
    verdicts = judge("gpu01", HealthPlan(gpus=1), "passive", _healthy(gpus=q))
    memory = next(v for v in verdicts if v.check == "gpu memory")
    assert any("row remapping: expected none pending" in f for f in memory.failures)


def test_power_brake_warns_and_does_not_fail() -> None:
    q = _real("nvidia_smi_q_8xH100_535.161.08_hw_power_brake_slowdown_active_pcie_replays.txt")
    verdicts = judge("gpu01", HealthPlan(gpus=8), "passive", _healthy(gpus=q))
    slow = next(v for v in verdicts if v.check == "gpu clocks")
    assert slow.status == "pass" and slow.warnings
    assert "HW Power Brake Slowdown" in slow.warnings[0]


def test_inactive_nvlinks_fail() -> None:
    text = _real("nvidia_smi_nvlink_s_2xH100_pcie_nvlink_bridge_inactive_links.txt")
    verdicts = judge("gpu01", HealthPlan(nvlink=True), "passive", {"nvlink": text})
    assert verdicts[0].check == "nvlink" and verdicts[0].failures
    assert all("inactive" in f for f in verdicts[0].failures)


def test_ports_down_slow_or_ethernet_fail_with_what_they_show() -> None:
    text = _real("ibstat_h100_node_cx7_some_down_polling_mixed_eth.txt")
    found = _failures(judge("gpu01", PLAN, "passive", _healthy(ibstat=text)))
    assert "gpu01 mlx5_5 port 1 state: expected Active/LinkUp, got Down/Disabled" in found
    assert "gpu01 mlx5_1 port 1 rate: expected 400 Gb/s, got 100 Gb/s" in found
    assert "gpu01 mlx5_0 port 1 link layer: expected InfiniBand, got Ethernet" in found


def test_a_stopped_fabric_manager_and_a_missing_mount_fail() -> None:
    outputs = _healthy(units="inactive\nactive\nactive\n", mounts="/\n")
    assert _failures(judge("gpu01", PLAN, "passive", outputs)) == [
        "gpu01 nvidia-fabricmanager: expected active, got inactive",
        "gpu01 /mnt/datasets: expected mounted, got not mounted",
    ]


def test_an_unsynchronised_clock_fails_and_a_host_kept_clock_is_not_read() -> None:
    assert _failures(judge("gpu01", PLAN, "passive", _healthy(chrony=NOT_SYNCHRONISED))) == [
        "gpu01 chrony leap status: expected Normal, got Not synchronised",
        "gpu01 chrony reference: expected a time source, got none (00000000)",
    ]
    host_kept = HealthPlan(**{**PLAN.to_dict(), "hcas": (), "time_sync": False})
    assert "chrony" not in commands("gpu01", host_kept, "passive", NOW)


def test_a_stopped_chronyd_could_not_run_the_clock_check() -> None:
    stopped = NotRun("gpu01 chronyc tracking", "`chronyc -n tracking` exit 1: 506 Cannot talk")
    clock = [v for v in judge("gpu01", PLAN, "passive", _healthy(chrony=stopped))]
    assert [v.status for v in clock if v.check == "clock"] == ["could not run"]


def test_a_failed_dcgm_diag_fails_the_prolog_and_a_hang_could_not_run() -> None:
    text = _real("dcgmi_diag_r3_fail_cuinit_8xH100.txt")
    verdicts = judge("gpu01", PLAN, "prolog", _healthy(dcgm=text))
    dcgm = next(v for v in verdicts if v.check == "dcgm")
    assert dcgm.status == "fail" and "dcgmi diag -r 1" in dcgm.failures[0]
    hung = NotRun("gpu01 dcgmi diag -r 1", "`dcgmi diag -r 1` did not answer within 40 s")
    verdicts = judge("gpu01", PLAN, "prolog", _healthy(dcgm=hung))
    assert outcome(verdicts) == "could not run"
    assert not _failures(verdicts)


def test_dcgm_output_without_a_table_could_not_run() -> None:
    verdicts = judge(
        "gpu01", PLAN, "prolog", _healthy(dcgm="Error: unable to connect to host engine\n")
    )
    assert next(v for v in verdicts if v.check == "dcgm").status == "could not run"


def test_nvidia_smi_that_could_not_run_still_judges_the_journal_by_bus_id() -> None:
    journal = _journal(_real("dmesg_xid119_gsp_rpc_timeout_h100_dell_xe9680.txt"))
    unrun = NotRun("gpu01 nvidia-smi -q", "`nvidia-smi -q` did not answer within 8 s")
    verdicts = judge("gpu01", PLAN, "passive", _healthy(gpus=unrun, journal=journal))
    assert [v.status for v in verdicts[:2]] == ["could not run", "fail"]


# --------------------------------------------------------------------------- drain and resume

FAIL = [
    Verdict(
        "xid", ("gpu02 GPU 3 (00000000:9B:00.0) XID: expected no critical XID in 24 h, got XID 79",)
    )
]
UNRUN = [Verdict("dcgm", could_not_run="gpu02 dcgmi diag -r 1: could not run (hung)")]
PASS = [Verdict("xid")]
IDLE = SlurmView(True)
OURS = SlurmView(True, True, "trainbed: GPU 3 XID 79 [root@2026-12-01T12:00:00]")
ADMIN = SlurmView(True, True, "replacing the PSU [alice@2026-12-01T11:00:00]")
P1, P2 = Memory((("passive", 1),)), Memory((("passive", 2),))


@pytest.mark.parametrize(
    ("verdicts", "slurm", "memory", "kind", "after"),
    [
        (FAIL, IDLE, Memory(), "drain", Memory((), "passive")),
        (FAIL, OURS, Memory((), "passive"), "none", Memory((), "passive")),
        (FAIL, ADMIN, Memory(), "none", Memory()),
        (PASS, OURS, Memory((), "passive"), "resume", Memory()),
        (PASS, OURS, Memory((), "epilog"), "none", Memory((), "epilog")),
        (PASS, ADMIN, Memory(), "none", Memory()),
        (PASS, IDLE, P2, "none", Memory()),
        (PASS, IDLE, Memory((("prolog", 2),)), "none", Memory((("prolog", 2),))),
        (UNRUN, IDLE, Memory(), "none", P1),
        (UNRUN, IDLE, P1, "none", P2),
        (UNRUN, IDLE, P2, "drain", Memory((("passive", 3),), "passive")),
        (UNRUN, ADMIN, Memory((("passive", 5),)), "none", Memory((("passive", 5),))),
        (FAIL, SlurmView(False), Memory(), "none", Memory()),
    ],
)
def test_decide(
    verdicts: list[Verdict], slurm: SlurmView, memory: Memory, kind: str, after: Memory
) -> None:
    action, memory = decide("gpu02", "passive", verdicts, slurm, memory, PLAN)
    assert (action.kind, memory) == (kind, after), action.note


def test_the_drain_reason_is_the_first_failure_tagged_without_the_node_name() -> None:
    action, _ = decide("gpu02", "passive", FAIL + FAIL, IDLE, Memory(), PLAN)
    assert action.reason == (
        "trainbed: GPU 3 (00000000:9B:00.0) XID: expected no critical XID in 24 h, got XID 79"
    )
    action, _ = decide("gpu02", "passive", UNRUN, IDLE, P2, PLAN)
    assert action.reason == (
        "trainbed: health check could not run: dcgmi diag -r 1: could not run (hung)"
    )
    assert len(reason("gpu02", "x" * 500)) == 200


def test_no_auto_resume_leaves_the_node_drained() -> None:
    plan = HealthPlan(auto_resume=False)
    action, _ = decide("gpu02", "passive", PASS, OURS, Memory((), "passive"), plan)
    assert action.kind == "none"


def test_a_prolog_drained_node_reruns_the_prolog_level() -> None:
    assert level_to_run("passive", OURS, Memory((), "prolog")) == "prolog"
    assert level_to_run("passive", OURS, Memory((), "passive")) == "passive"
    assert level_to_run("passive", ADMIN, Memory((), "prolog")) == "passive"


# --------------------------------------------------------------------------- the I/O edge


def test_a_command_past_its_timeout_could_not_run_and_is_killed() -> None:
    fact = facts.run(facts.Command("gpu01 dcgmi", ("sh", "-c", "sleep 30 & sleep 30"), 0.3))
    assert isinstance(fact.output, NotRun)
    assert "did not answer within 0.3 s" in fact.output.why
    assert fact.seconds < 5


@pytest.mark.parametrize(
    ("argv", "any_exit", "why"),
    [
        (("no-such-tool-here",), False, "No such file"),
        (("sh", "-c", "echo broken >&2; exit 9"), False, "exit 9: broken"),
    ],
)
def test_missing_and_failing_commands_could_not_run(
    argv: tuple[str, ...], any_exit: bool, why: str
) -> None:
    fact = facts.run(facts.Command("gpu01 x", argv, 5, any_exit))
    assert isinstance(fact.output, NotRun) and why in fact.output.why


def test_any_exit_keeps_the_answer() -> None:
    fact = facts.run(facts.Command("gpu01 x", ("sh", "-c", "echo inactive; exit 3"), 5, True))
    assert fact.output == "inactive\n"


SHOW_NODE = _real("slurm_scontrol_show_node_idle_drain_gres_count_lower.txt")


def _tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Path]:
    """A fake node: tools printing the real fixtures, a scontrol that logs its updates."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "q.txt").write_text(HEALTHY_Q)
    (tmp_path / "ibstat.txt").write_text(IBSTAT)
    (tmp_path / "tracking.txt").write_text(SYNCHRONISED)
    # The real `scontrol show node` output, its node renamed gpu01 and its state IDLE.
    shown = SHOW_NODE.replace("yigou-dev-102-68", "gpu01").replace("IDLE+DRAIN", "IDLE")
    shown = "\n".join(line for line in shown.splitlines() if "Reason=" not in line)
    (tmp_path / "node.txt").write_text(shown)
    _tool(bin_dir, "nvidia-smi", f"cat {tmp_path}/q.txt\n")
    _tool(bin_dir, "journalctl", f"cat {tmp_path}/journal.json 2>/dev/null; true\n")
    _tool(bin_dir, "ibstat", f"cat {tmp_path}/ibstat.txt\n")
    _tool(bin_dir, "systemctl", 'shift; for u in "$@"; do echo active; done\n')
    _tool(bin_dir, "findmnt", "echo /; echo /mnt/datasets\n")
    _tool(bin_dir, "chronyc", f"cat {tmp_path}/tracking.txt\n")
    _tool(
        bin_dir,
        "scontrol",
        f'if [ "$1" = show ]; then cat {tmp_path}/node.txt; '
        f'else echo "$@" >> {tmp_path}/updates.log; fi\n',
    )
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"hostname": "gpu01", "health": PLAN.to_dict()}))
    return {"root": tmp_path, "bin": bin_dir, "catalog": catalog}


def _run(node: dict[str, Path], *args: str) -> tuple[int, dict]:
    env = {**os.environ, "PATH": f"{node['bin']}:{os.environ['PATH']}"}
    program = [sys.executable, "-m", "trainbed.health.node"]
    state = node["root"] / "state"
    proc = subprocess.run(
        [*program, "--catalog", str(node["catalog"]), "--state-dir", str(state), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads((state / "last.json").read_text())


def test_a_whole_run_drains_on_an_xid_and_records_every_verdict(node: dict[str, Path]) -> None:
    rc, doc = _run(node)
    assert (rc, doc["result"], doc["action"]["kind"]) == (0, "pass", "none")
    assert not (node["root"] / "updates.log").exists()
    journal = _journal(_real("dmesg_xid119_gsp_rpc_timeout_h100_dell_xe9680.txt"))
    (node["root"] / "journal.json").write_text(journal)
    rc, doc = _run(node)
    assert (rc, doc["result"], doc["action"]["kind"]) == (1, "fail", "drain")
    update = (node["root"] / "updates.log").read_text()
    assert update.startswith(
        "update NodeName=gpu01 State=DRAIN Reason=trainbed: GPU at 00000000:9B:00.0 XID: "
    )
    assert {v["check"] for v in doc["verdicts"]} >= {"xid", "gpu count", "hca ports"}
    assert set(doc["timings"]) == {"gpus", "journal", "ibstat", "units", "mounts", "chrony"}
    assert doc["memory"] == {"not_run_runs": {}, "drained_by": "passive"}


def test_a_run_decides_only_under_the_nodes_lock(node: dict[str, Path]) -> None:
    """A periodic run overlapping a prolog must not write back a stale count: the decision
    waits for the lock another run holds."""
    env = {**os.environ, "PATH": f"{node['bin']}:{os.environ['PATH']}"}
    state = node["root"] / "state"
    argv = [sys.executable, "-m", "trainbed.health.node", "--catalog", str(node["catalog"])]
    with locked(state):
        proc = subprocess.Popen([*argv, "--state-dir", str(state)], env=env)
        time.sleep(3)
        assert proc.poll() is None and not (state / "last.json").exists()
    assert proc.wait(timeout=60) == 0
    assert json.loads((state / "last.json").read_text())["result"] == "pass"


def test_the_catalog_plan_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"hostname": "gpu01", "health": PLAN.to_dict(), "new": 1}))
    assert from_catalog(path).plan == PLAN
    path.write_text(json.dumps({"hostname": "cp1"}))
    with pytest.raises(ValueError, match="no health block"):
        from_catalog(path)


def test_the_bundle_is_reproducible_and_runs_isolated(tmp_path: Path) -> None:
    program = tmp_path / "trainbed-health"
    program.write_bytes(bundle.build())
    assert bundle.build.__wrapped__() == program.read_bytes()  # a fresh build, not the cached one
    proc = subprocess.run(
        [sys.executable, "-I", str(program), "--help"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        timeout=30,
    )
    assert proc.returncode == 0 and "--level" in proc.stdout, proc.stderr


# --------------------------------------------------------------------------- the admin report


def test_the_report_shows_age_result_and_slurm_state(node: dict[str, Path]) -> None:
    from trainbed.health.report import rows, table
    from trainbed.parse.slurm import parse_scontrol_show_node

    _, doc = _run(node)
    last = json.dumps(doc)
    when = datetime.fromisoformat(doc["time"])
    slurm = parse_scontrol_show_node(SHOW_NODE)  # the real one: drained for a GRES count
    name = slurm[0].name
    found = rows([name, "gpu09"], {name: (last, None)}, slurm, when)
    assert found[0].result == "pass" and found[0].age_s == 0
    assert found[0].slurm_state == "IDLE+DRAIN" and not found[0].drained_by_trainbed
    assert found[1].slurm_state == "MISSING" and found[1].error == "not read"
    lines = table(found)
    assert lines[1].split()[:5] == [name, "pass", "passive", "0s", "IDLE+DRAIN"]
    assert "gres/gpu count reported lower than configured (0 < 1)" in lines[1]
    # A control-plane node runs it from a timer: no Slurm state, its own result.
    mixed = rows(["cp1", name], {"cp1": (last, None)}, slurm, when, slurm_nodes={name})
    assert (mixed[0].slurm_state, mixed[0].result) == ("-", "pass")
    assert mixed[1].slurm_state == "IDLE+DRAIN"
