"""Slurm parsers against real output (tests/fixtures/real, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainbed.parse.slurm import (
    ControllerPing,
    base_state,
    duration_seconds,
    parse_sacct,
    parse_scontrol_ping,
    parse_scontrol_show_node,
    parse_sinfo,
    parse_squeue,
    sbatch_job_id,
    split_state,
    squeue_job_ids,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text()


# --------------------------------------------------------------------------- scontrol


def test_scontrol_idle_drain_gres_count_lower() -> None:
    (node,) = parse_scontrol_show_node(
        _read("slurm_scontrol_show_node_idle_drain_gres_count_lower.txt")
    )

    assert node.name == "yigou-dev-102-68"
    assert node.state == "IDLE"
    assert node.state_flags == ("DRAIN",)
    assert node.drained
    assert node.gres == "gpu:nvidia-rtx-3090:1"
    assert node.cfg_tres == {"cpu": "8", "mem": "1M", "billing": "8", "gres/gpu": "1"}
    assert node.cpu_tot == 8
    assert node.real_memory_mib == 1
    assert node.partitions == ("compute100",)  # value followed by trailing spaces
    assert node.reason == (
        "gres/gpu count reported lower than configured (0 < 1) [slurm@2024-12-19T11:03:34]"
    )
    assert node.reason_user == "slurm"
    assert node.reason_time == "2024-12-19T11:03:34"
    # OS= holds spaces and '#': it runs to the end of its line.
    assert node.fields["OS"] == (
        "Linux 5.10.0-153.12.0.92.oe2203sp2.x86_64 #1 SMP Wed Jun 28 23:04:48 CST 2023"
    )
    assert node.fields["Version"] == "24.05.0-0rc1"
    assert node.fields["AllocTRES"] == ""
    assert node.fields["AvailableFeatures"] == "(null)"
    assert node.fields["CoresPerSocket"] == "1"


def test_scontrol_two_nodes_reason_with_equals() -> None:
    text = (
        "NodeName=gpu01 Arch=x86_64 CoresPerSocket=56\n"
        "   CPUTot=224 RealMemory=2000000\n"
        "   State=MIXED ThreadsPerCore=2\n"
        "   Partitions=batch,debug\n"
        "\n"
        "NodeName=gpu02 Arch=x86_64\n"
        "   State=DOWN*+DRAIN\n"
        "   Reason=NHC: ib_write_bw mlx5_3 rate=200 expected=400 [root@2025-01-01T00:00:00]\n"
    )
    a, b = parse_scontrol_show_node(text)
    assert (a.name, a.state, a.state_flags, a.cpu_tot) == ("gpu01", "MIXED", (), 224)
    assert a.partitions == ("batch", "debug")
    assert a.reason is None
    assert not a.drained
    assert (b.state, b.state_flags) == ("DOWN", ("DRAIN", "NOT_RESPONDING"))
    assert b.reason == "NHC: ib_write_bw mlx5_3 rate=200 expected=400 [root@2025-01-01T00:00:00]"
    assert b.reason_user == "root"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("IDLE+DRAIN", ("IDLE", ("DRAIN",))),
        ("ALLOCATED", ("ALLOCATED", ())),
        ("IDLE*", ("IDLE", ("NOT_RESPONDING",))),
        ("", ("", ())),
    ],
)
def test_split_state(state: str, expected: tuple[str, tuple[str, ...]]) -> None:
    assert split_state(state) == expected


# --------------------------------------------------------------------------- sinfo


def test_sinfo_drng_fail_maint_mix_idle() -> None:
    rows = parse_sinfo(_read("slurm_sinfo_drng_fail_maint_mix_idle.txt"))

    assert len(rows) == 9
    summary = [(r.partition, r.nodes, r.state, r.state_flags) for r in rows]
    assert summary == [
        ("cpu", 55, "drng", ("PENDING_REBOOT",)),
        ("cpu", 1, "fail", ("NOT_RESPONDING",)),
        ("gpu", 12, "drng", ("PENDING_REBOOT",)),
        ("gpu", 5, "maint", ()),
        ("gpu", 3, "fail", ("NOT_RESPONDING",)),
        ("gpu", 7, "mix", ()),
        ("debug", 2, "idle", ()),
        ("idle", 2, "idle", ()),  # a partition named "idle"
        ("highmem", 2, "mix", ()),
    ]
    assert [r.partition for r in rows if r.default] == ["debug"]
    assert rows[2].timelimit == "14-00:00:0"  # cut to the column width by sinfo
    assert rows[6].timelimit == "10:00"
    assert {r.avail for r in rows} == {"up"}
    assert rows[1].nodelist == "f005"
    # Every row's node list expands to exactly its NODES count.
    for row in rows:
        assert len(row.hosts()) == row.nodes
    assert rows[4].hosts() == ["c020", "c021", "c022"]
    assert "f005" not in rows[0].hosts()
    assert rows[0].hosts()[-1] == "f024"


def test_sinfo_zero_nodes_and_garbage() -> None:
    text = "PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST\nempty up infinite 0 n/a \nxx\n"
    (row,) = parse_sinfo(text)
    assert (row.partition, row.nodes, row.state, row.nodelist) == ("empty", 0, "n/a", "")
    assert (
        parse_sinfo("sinfo: error: slurm_load_partitions: Unable to contact slurm controller") == []
    )


# --------------------------------------------------------------------------- scontrol ping


def test_scontrol_ping_primary_down_backup_up() -> None:
    # Real output (captured, see SOURCES.md): Slurm 22.05.8 as root, with the banner.
    pings = parse_scontrol_ping(
        _read("slurm_scontrol_ping_22.05.8_primary_down_backup_up_root.txt")
    )
    assert pings == [
        ControllerPing("primary", "cp1", False),
        ControllerPing("backup", "cp2", True),
    ]


def test_scontrol_ping_three_controllers_and_the_old_one_line_format() -> None:
    # Not captured samples: lines built from the format strings in SchedMD/slurm
    # src/scontrol/scontrol.c. Since 18.08 `_ping_slurmctld`/`_print_ping` print
    # "Slurmctld(%s) at %s is %s\n" per SlurmctldHost, mode "primary", "backup" (two hosts) or
    # "backup%d" (more); before, one line "Slurmctld(primary/backup) at %s/%s are %s/%s\n".
    three = "Slurmctld(primary) at cp1 is UP\nSlurmctld(backup1) at cp2 is DOWN\n"
    three += "Slurmctld(backup2) at cp3 is UP\n"
    assert [(p.role, p.host, p.up) for p in parse_scontrol_ping(three)] == [
        ("primary", "cp1", True),
        ("backup1", "cp2", False),
        ("backup2", "cp3", True),
    ]
    old = "Slurmctld(primary/backup) at head1/head2 are UP/DOWN\n"
    assert [(p.host, p.up) for p in parse_scontrol_ping(old)] == [
        ("head1", True),
        ("head2", False),
    ]
    no_backup = "Slurmctld(primary/backup) at head1/(NULL) are DOWN/DOWN\n"
    assert [(p.host, p.up) for p in parse_scontrol_ping(no_backup)] == [("head1", False)]


def test_scontrol_ping_without_controller_lines_is_empty() -> None:
    assert parse_scontrol_ping("") == []
    assert (
        parse_scontrol_ping("scontrol: error: resolve_ctls_from_dns_srv: res_nsearch error\n") == []
    )


# --------------------------------------------------------------------------- squeue, sacct, sbatch


def test_parse_squeue_and_sacct():
    queue = parse_squeue(
        "12|RUNNING|None|1:02|gpu[01-02]\n13|PENDING|ReqNodeNotAvail,_UnavailableNodes:gpu02|0:00|\n"
    )
    assert queue["12"].state == "RUNNING" and queue["12"].elapsed_s == 62
    assert queue["12"].reason is None and queue["12"].nodes == "gpu[01-02]"
    assert queue["13"].reason.startswith("ReqNodeNotAvail") and queue["13"].nodes is None
    acct = parse_sacct("12|CANCELLED by 0|0:15|70|gpu[01-02]\n12.batch|x|y|z|w\n")
    assert acct["12"].state == "CANCELLED" and acct["12"].exit_code == "0:15"
    assert acct["12"].elapsed_s == 70 and acct["12"].terminal


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0:05", 5), ("1:02:03", 3723), ("1-00:00:01", 86401), ("junk", None)],
)
def test_duration_seconds(text, seconds):
    assert duration_seconds(text) == seconds


def test_base_state():
    assert base_state("CANCELLED by 1000") == "CANCELLED"
    assert base_state("RUNNING+") == "RUNNING"
    assert base_state("") == "UNKNOWN"


def test_sbatch_job_id_and_squeue_job_ids() -> None:
    assert sbatch_job_id("1234\n") == "1234" and sbatch_job_id("1234;cluster") == "1234"
    assert sbatch_job_id("sbatch: error: Batch job submission failed") is None
    assert squeue_job_ids("12 RUNNING root wrap\n\n13 COMPLETING root x\n") == ["12", "13"]
