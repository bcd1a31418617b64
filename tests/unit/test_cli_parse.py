"""`trainbed parse nccl|ib-write-bw`: exit codes, JSON shape, summaries."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from trainbed.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
GOOD_NCCL = FIXTURES / "nccl_allreduce_2node_dell_xe9680_8xH100_8xCX7_ndr_mpi_noise.txt"
BAD_NCCL = FIXTURES / "nccl_allreduce_v2.17.8_wrong_nonzero_oob_failed_gh200.txt"
INTERLEAVED = (
    FIXTURES
    / "nccl_allreduce_srun_2tasks_nonmpi_interleaved_2x_single_node_8xH100_nvls479_together.txt"
)
GOOD_IB = FIXTURES / "perftest_ib_write_bw_client_gbits_roce100g_cpufreq_warning.txt"
BAD_IB = FIXTURES / "perftest_ib_write_bw_client_connect_refused_pr228.txt"


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["parse", *args], input=stdin)


def test_nccl_json_ok() -> None:
    result = invoke("nccl", str(GOOD_NCCL), "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    (run,) = data["runs"]
    assert run["ok"] is True
    assert run["peak_busbw_gbs"] == 469.21
    assert set(run["rows"][0]) >= {"size_bytes", "count", "type", "redop", "root"}
    assert set(run["rows"][0]["in_place"]) >= {"time_us", "algbw_gbs", "busbw_gbs", "wrong"}


def test_nccl_failure_exits_1_with_summary() -> None:
    result = invoke("nccl", str(BAD_NCCL))
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "out of bounds values: 4 FAILED" in result.output


def test_nccl_summary_one_line_per_run() -> None:
    result = invoke("nccl", str(INTERLEAVED))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "peak busbw 479.27 GB/s" in lines[0]
    assert "peak busbw 479.19 GB/s" in lines[1]


def test_ib_write_bw_from_stdin() -> None:
    result = invoke("ib-write-bw", "-", "--json", stdin=GOOD_IB.read_text())
    assert result.exit_code == 0
    assert json.loads(result.output)["runs"][0]["bw_avg_gbps"] == 92.40


def test_ib_write_bw_failure_exits_1() -> None:
    result = invoke("ib-write-bw", str(BAD_IB))
    assert result.exit_code == 1
    assert "Couldn't connect to 192.168.125.211:18515" in result.output


def test_unreadable_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    result = invoke("nccl", str(missing))
    assert result.exit_code == 2
    assert str(missing) in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_directory_exits_2(tmp_path: Path) -> None:
    result = invoke("ib-write-bw", str(tmp_path))
    assert result.exit_code == 2
    assert str(tmp_path) in result.output


def test_binary_file_exits_2_without_echoing_it() -> None:
    result = invoke("ib-write-bw", "/bin/ls")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("trainbed parse: /bin/ls is not benchmark output: binary data")
    assert not any(ch < " " for ch in line)


def test_escape_bytes_in_text_are_printed_escaped() -> None:
    text = BAD_IB.read_text().replace("Couldn't connect", "\x1b[2JCouldn't connect", 1)
    result = invoke("ib-write-bw", "-", stdin=text)
    assert result.exit_code == 1
    assert "\x1b" not in result.output
    assert "\\x1b[2JCouldn't connect to 192.168.125.211:18515" in result.output
