"""parse_nccl against real nccl-tests output (tests/fixtures/real), and transformations of it.

Expected values are read off the fixture files by eye, not copied from the parser's output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainbed.parse.nccl import parse_nccl

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"

SINGLE_NODE = "nccl_allreduce_single_node_8xH100_v2.17.9_peak369_no_nvls_together.txt"
INTERLEAVED = (
    "nccl_allreduce_srun_2tasks_nonmpi_interleaved_2x_single_node_8xH100_nvls479_together.txt"
)
DELL = "nccl_allreduce_2node_dell_xe9680_8xH100_8xCX7_ndr_mpi_noise.txt"
RING = "nccl_allreduce_2node_16xH100_ib400_ring_forced_issue309.txt"
GCP = "nccl_allreduce_2node_16xH100_gcp_a3mega.txt"
P5_SRUN = "nccl_allreduce_2node_p5_H100_srun_prefixed.txt"
P4DE_SRUN = "nccl_allreduce_2node_p4de_A100_srun_prefixed.txt"
P5_ELIDED = "nccl_allreduce_2node_p5_H100_mpirun_tagged_elided.txt"
P5_BATCH = "nccl_allreduce_p5_awsbatch_mpirun_tagged_trailing_ws.txt"
OLD_DGX = "nccl_allreduce_old_format_error_column_4xDGXA100.txt"
OLD_ALLGATHER = "nccl_allgather_old_format_error_column_oob_failed_issue37.txt"
WRONG = "nccl_allreduce_v2.17.8_wrong_nonzero_oob_failed_gh200.txt"
CUDA_BUSY = "nccl_allreduce_v2.17.8_cuda_busy_no_table_gh200.txt"
TRUNCATED = "nccl_allreduce_truncated_after_header_test_failure.txt"
NCCL_WARN = "nccl_allreduce_ncclwarn_debug_info_failure.txt"
NO_FABRICMANAGER = "nccl_allreduce_cuda_system_not_initialized_no_fabricmanager_8xH100.txt"


def read(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def only_run(name: str) -> dict:
    runs = parse_nccl(read(name))["runs"]
    assert len(runs) == 1
    return runs[0]


def sizes(run: dict) -> list[int]:
    return [row["size_bytes"] for row in run["rows"]]


# --- one test per real fixture -----------------------------------------------------------------


def test_single_node_h100_without_nvls() -> None:
    run = only_run(SINGLE_NODE)
    assert run["ok"] is True
    assert run["errors"] == []
    assert run["version"] == "2.17.9"
    assert run["nccl_version"] == "2.26.2"  # nccl-library=22602
    assert run["collective"] == "all_reduce_perf"
    assert run["ranks"] == 8
    assert len(run["rows"]) == 31
    assert sizes(run)[0] == 8
    assert sizes(run)[-1] == 8589934592
    assert run["peak_busbw_gbs"] == 368.69
    assert run["avg_busbw_gbs"] == 123.961
    assert run["wrong_total"] == 0
    assert run["out_of_bounds"] == 0
    last = run["rows"][-1]
    assert last["count"] == 2147483648
    assert (last["type"], last["redop"], last["root"]) == ("float", "sum", -1)
    assert last["out_of_place"] == {
        "time_us": 40772.4,
        "algbw_gbs": 210.68,
        "busbw_gbs": 368.69,
        "wrong": 0,
        "error": None,
    }
    assert last["in_place"]["busbw_gbs"] == 368.51


def test_interleaved_srun_tasks_split_into_two_runs() -> None:
    runs = parse_nccl(read(INTERLEAVED))["runs"]
    assert len(runs) == 2
    for run in runs:
        assert run["ok"] is True
        assert run["version"] == "2.17.9"
        assert run["ranks"] == 8
        assert len(run["rows"]) == 14
        assert sizes(run) == [2**20 * 2**i for i in range(14)]
        assert run["wrong_total"] == 0
        assert run["out_of_bounds"] == 0
    first, second = runs
    # The first task's rows are the first 1 MiB / 2 MiB lines; the other task's 1 MiB line is third.
    assert first["rows"][0]["out_of_place"]["busbw_gbs"] == 36.61
    assert first["rows"][1]["out_of_place"]["busbw_gbs"] == 84.38
    assert second["rows"][0]["out_of_place"]["busbw_gbs"] == 44.05
    # 8 GiB lines: 479.27 / 477.76, then 477.89 / 479.19.
    assert first["peak_busbw_gbs"] == 479.27
    assert second["peak_busbw_gbs"] == 479.19
    assert first["avg_busbw_gbs"] == 319.332
    assert second["avg_busbw_gbs"] == 319.167


def test_dell_xe9680_two_nodes_with_mpi_noise() -> None:
    run = only_run(DELL)
    assert run["ok"] is True
    assert run["version"] == "2.26.2+cuda12.8"
    assert run["ranks"] == 16
    assert len(run["rows"]) == 32
    assert sizes(run)[0] == 8
    assert sizes(run)[-1] == 17179869184
    assert run["rows"][0]["out_of_place"]["time_us"] == 68.52
    assert run["peak_busbw_gbs"] == 469.21
    assert run["rows"][-1]["in_place"]["busbw_gbs"] == 469.10
    assert run["avg_busbw_gbs"] == 139.56
    assert run["wrong_total"] == 0
    assert run["out_of_bounds"] == 0


def test_two_nodes_ring_forced() -> None:
    run = only_run(RING)
    assert run["ok"] is True
    assert run["version"] is None
    assert run["ranks"] == 16
    assert len(run["rows"]) == 14
    assert sizes(run)[0] == 1048576
    assert sizes(run)[-1] == 8589934592
    assert run["peak_busbw_gbs"] == 392.69
    assert run["avg_busbw_gbs"] == 248.186
    assert run["out_of_bounds"] == 0


def test_gcp_a3mega_with_markdown_preamble() -> None:
    run = only_run(GCP)
    assert run["ok"] is True
    assert run["ranks"] == 16
    assert len(run["rows"]) == 31
    assert sizes(run)[0] == 8
    assert sizes(run)[-1] == 8589934592
    assert run["peak_busbw_gbs"] == 338.82
    assert run["rows"][-1]["in_place"]["busbw_gbs"] == 337.35
    assert run["avg_busbw_gbs"] == 70.742
    assert run["rows"][-3]["out_of_place"]["time_us"] == 12646.0


def test_p5_srun_prefixed_excerpt_without_footer() -> None:
    run = only_run(P5_SRUN)
    assert run["stream"] == "0"
    assert len(run["rows"]) == 32
    assert sizes(run)[0] == 8
    assert sizes(run)[-1] == 17179869184
    # SOURCES.md says 487.09 (the out-of-place figure); the in-place one at 16 GiB is higher.
    assert run["rows"][-1]["out_of_place"]["busbw_gbs"] == 487.09
    assert run["peak_busbw_gbs"] == 487.26
    assert run["avg_busbw_gbs"] is None
    assert run["out_of_bounds"] is None
    # The README excerpt stops after the last row: no footer means the run is not judged ok.
    assert run["ok"] is False
    assert any("no footer" in e for e in run["errors"])


def test_p4de_srun_prefixed_excerpt_without_footer() -> None:
    run = only_run(P4DE_SRUN)
    assert run["stream"] == "0"
    assert len(run["rows"]) == 29
    assert sizes(run)[0] == 8
    assert sizes(run)[-1] == 2147483648
    assert run["peak_busbw_gbs"] == 78.33
    assert run["wrong_total"] == 0
    assert run["ok"] is False
    assert any("no footer" in e for e in run["errors"])


def test_mpirun_tagged_with_elision() -> None:
    run = only_run(P5_ELIDED)
    assert run["ok"] is True
    assert run["stream"] == "1,0"
    assert len(run["rows"]) == 7
    assert run["rows"][0]["size_bytes"] == 0
    assert run["rows"][0]["count"] == 0
    assert sizes(run)[-1] == 2147483648
    assert run["peak_busbw_gbs"] == 437.89
    assert run["avg_busbw_gbs"] == 52.9753
    assert run["out_of_bounds"] == 0
    assert any("elided" in w for w in run["warnings"])


def test_mpirun_tagged_with_trailing_whitespace() -> None:
    run = only_run(P5_BATCH)
    assert run["ok"] is True
    assert run["stream"] == "1,0"
    assert len(run["rows"]) == 32
    assert sizes(run)[0] == 8
    assert sizes(run)[-1] == 17179869184
    assert run["peak_busbw_gbs"] == 483.35
    assert run["avg_busbw_gbs"] == 156.742
    assert run["wrong_total"] == 0


def test_old_layout_error_column_is_a_magnitude_not_a_count() -> None:
    run = only_run(OLD_DGX)
    assert run["ok"] is True
    assert len(run["rows"]) == 13
    assert sizes(run)[0] == 1048576
    assert sizes(run)[-1] == 4294967296
    first = run["rows"][0]
    assert (first["redop"], first["root"]) == ("sum", None)
    assert first["out_of_place"]["error"] == 7e-07
    assert first["out_of_place"]["wrong"] is None
    assert run["rows"][-1]["in_place"]["error"] == 1e-06
    assert run["peak_busbw_gbs"] == 191.56
    assert run["avg_busbw_gbs"] == 113.289
    assert run["wrong_total"] == 0
    assert run["out_of_bounds"] == 0


def test_old_allgather_out_of_bounds_failed() -> None:
    run = only_run(OLD_ALLGATHER)
    assert run["ok"] is False
    assert run["out_of_bounds"] == 2
    assert any("out of bounds" in e for e in run["errors"])
    assert len(run["rows"]) == 1
    row = run["rows"][0]
    assert (row["size_bytes"], row["count"], row["type"]) == (4294967296, 134217728, "float")
    assert (row["redop"], row["root"]) == ("none", None)
    assert row["out_of_place"] == {
        "time_us": 29122.0,
        "algbw_gbs": 129.05,
        "busbw_gbs": 129.05,
        "wrong": None,
        "error": 1.0,
    }
    assert row["in_place"]["busbw_gbs"] == 128.84
    assert run["wrong_total"] == 0  # error = 1e+00 is a magnitude, not a #wrong count
    assert run["peak_busbw_gbs"] == 129.05
    assert run["avg_busbw_gbs"] == 128.942


def test_wrong_elements_and_out_of_bounds_fail() -> None:
    run = only_run(WRONG)
    assert run["ok"] is False
    assert run["version"] == "2.17.8"
    assert run["ranks"] == 2
    assert len(run["rows"]) == 25
    assert sizes(run)[0] == 8
    assert sizes(run)[-1] == 134217728
    bad = next(row for row in run["rows"] if row["size_bytes"] == 1048576)
    assert bad["out_of_place"]["wrong"] == 96
    assert bad["in_place"]["wrong"] == 32
    assert run["wrong_total"] == 128
    assert run["out_of_bounds"] == 4
    assert run["avg_busbw_gbs"] == 4.79995
    assert run["peak_busbw_gbs"] == 22.87
    assert any("wrong" in e for e in run["errors"])
    assert any("out of bounds" in e for e in run["errors"])
    assert any("Test failure common.cu:1189" in e for e in run["errors"])


def test_cuda_busy_dies_before_the_table() -> None:
    run = only_run(CUDA_BUSY)
    assert run["ok"] is False
    assert run["version"] == "2.17.8"
    assert run["ranks"] == 8
    assert run["rows"] == []
    assert run["peak_busbw_gbs"] is None
    assert run["avg_busbw_gbs"] is None
    assert any("busy or unavailable" in e for e in run["errors"])


def test_test_failure_right_after_the_table_header() -> None:
    run = only_run(TRUNCATED)
    assert run["ok"] is False
    assert run["ranks"] == 2
    assert run["rows"] == []
    assert any("Test NCCL failure common.cu:392" in e for e in run["errors"])
    assert any("no result rows" in e for e in run["errors"])


def test_nccl_debug_info_lines_and_warn_failure() -> None:
    run = only_run(NCCL_WARN)
    assert run["ok"] is False
    assert run["version"] == "2.25.1+cuda12.8"
    assert run["ranks"] == 2
    assert run["rows"] == []
    assert any("NCCL WARN Cuda failure 1 'invalid argument'" in e for e in run["errors"])
    assert any("Test NCCL failure" in e for e in run["errors"])
    # A path-search warning is not a failure.
    assert not any("Could not find a path" in e for e in run["errors"])
    assert any("Could not find a path" in w for w in run["warnings"])


def test_system_not_initialized_without_fabric_manager() -> None:
    run = only_run(NO_FABRICMANAGER)
    assert run["ok"] is False
    assert run["ranks"] is None
    assert run["rows"] == []
    assert any("system not yet initialized" in e for e in run["errors"])


# --- transformations of real fixtures ----------------------------------------------------------


def summary(run: dict) -> tuple:
    return (
        run["ok"],
        run["ranks"],
        sizes(run),
        run["peak_busbw_gbs"],
        run["avg_busbw_gbs"],
        run["wrong_total"],
        run["out_of_bounds"],
    )


@pytest.mark.parametrize("name", [SINGLE_NODE, DELL, OLD_DGX, WRONG, P5_BATCH])
def test_crlf_line_ends_read_the_same(name: str) -> None:
    text = read(name)
    plain = parse_nccl(text)["runs"]
    crlf = parse_nccl(text.replace("\n", "\r\n"))["runs"]
    assert [summary(r) for r in crlf] == [summary(r) for r in plain]


@pytest.mark.parametrize("prefix", ["0: ", "[1,0]<stdout>:"])
def test_launcher_prefix_reads_the_same(prefix: str) -> None:
    text = read(SINGLE_NODE)
    prefixed = "".join(prefix + line for line in text.splitlines(keepends=True))
    (run,) = parse_nccl(prefixed)["runs"]
    assert summary(run) == summary(only_run(SINGLE_NODE))
    assert run["version"] == "2.17.9"


def test_srun_label_prefixes_separate_interleaved_tasks() -> None:
    first = read(SINGLE_NODE).splitlines()
    second = read(RING).splitlines()
    mixed = []
    for index in range(max(len(first), len(second))):
        if index < len(first):
            mixed.append(" 0: " + first[index])
        if index < len(second):
            mixed.append(" 1: " + second[index])
    runs = parse_nccl("\n".join(mixed))["runs"]
    assert [r["stream"] for r in runs] == ["0", "1"]
    assert summary(runs[0]) == summary(only_run(SINGLE_NODE))
    assert summary(runs[1]) == summary(only_run(RING))


def test_runs_printed_one_after_the_other() -> None:
    runs = parse_nccl(read(DELL) + read(WRONG) + read(SINGLE_NODE))["runs"]
    assert [r["peak_busbw_gbs"] for r in runs] == [469.21, 22.87, 368.69]
    assert [r["ok"] for r in runs] == [True, False, True]
    assert [len(r["rows"]) for r in runs] == [32, 25, 31]


def test_cut_off_inside_the_table() -> None:
    text = read(DELL)
    cut = text[: text.index("   134217728      33554432") + 40]  # mid-way through the 128 MiB row
    (run,) = parse_nccl(cut)["runs"]
    assert run["ok"] is False
    assert sizes(run)[-1] == 67108864
    assert len(run["rows"]) == 24
    assert run["peak_busbw_gbs"] == 269.98
    assert run["avg_busbw_gbs"] is None
    assert any("no footer" in e for e in run["errors"])
    assert any("unreadable result row" in w for w in run["warnings"])


def test_failure_after_a_complete_run_starts_no_phantom_rows() -> None:
    text = read(SINGLE_NODE) + read(CUDA_BUSY)
    runs = parse_nccl(text)["runs"]
    assert [r["ok"] for r in runs] == [True, False]
    assert runs[1]["rows"] == []


def test_wrong_column_n_a_without_data_check() -> None:
    # nccl-tests prints "N/A" in #wrong when run with -c 0: no count, not a failure.
    text = (
        read(SINGLE_NODE)
        .replace("       0    ", "     N/A    ")
        .replace("       0\n", "     N/A\n")
    )
    run = parse_nccl(text)["runs"][0]
    assert run["ok"] is True
    assert all(row["in_place"]["wrong"] is None for row in run["rows"])
    assert run["peak_busbw_gbs"] == 368.69


def test_avg_bus_bandwidth_check_failed() -> None:
    text = read(RING).replace(
        "# Avg bus bandwidth    : 248.186", "# Avg bus bandwidth    : 248.186 FAILED"
    )
    run = parse_nccl(text)["runs"][0]
    assert run["ok"] is False
    assert run["avg_busbw_gbs"] == 248.186


def test_nothing_recognisable() -> None:
    (run,) = parse_nccl("hello\nworld\n")["runs"]
    assert run["ok"] is False
    assert run["errors"] == ["no nccl-tests output found"]


def test_empty_input() -> None:
    (run,) = parse_nccl("")["runs"]
    assert run["ok"] is False


# --- JSON (-J) ---------------------------------------------------------------------------------
# No real -J file was available; these documents follow the writer in nccl-tests' src/util.cu
# (JSON_FILE_VERSION 2) key for key, with values taken from the 2.17.9 single-node fixture.


def json_document() -> dict:
    def placement(time: float, alg: float, bus: float, wrong: float | None) -> dict:
        return {"time": time, "alg_bw": alg, "bus_bw": bus, "nwrong": wrong}

    return {
        "version": 2,
        "start_time": "2026-03-05 22:00:43",
        "args": ["./build/all_reduce_perf", "-b", "8", "-e", "8G", "-f", "2", "-g", "8", "-J", "x"],
        "env": ["NCCL_DEBUG=VERSION"],
        "nccl_version": 22602,
        "config": {
            "nthreads": 1,
            "ngpus": 8,
            "minimum_bytes": 8,
            "maximum_bytes": 8589934592,
            "step_factor": 2,
            "warmup_iters": 5,
            "iterations": 20,
            "aggregated_iterations": 1,
            "validation": 1,
            "graph": 0,
            "blocking_collectives": "false",
            "per_iter_timing": "false",
            "parallel_init": "false",
            "devices": [
                {
                    "rank": i,
                    "group": 0,
                    "pid": 1586058,
                    "hostname": "gpu-dp-2jvzl-pqq7p",
                    "device": i,
                    "device_hex": "0000:29:00",
                    "device_info": "NVIDIA H100 80GB HBM3",
                }
                for i in range(8)
            ],
        },
        "results": [
            {
                "size": 8,
                "count": 2,
                "type": "float",
                "redop": "sum",
                "root": "    -1",
                "out_of_place": placement(35.58, 0.0, 0.0, 0.0),
                "in_place": placement(34.90, 0.0, 0.0, 0.0),
                "actual_iterations": 20,
                "experiment_name": "",
            },
            {
                "size": 8589934592,
                "count": 2147483648,
                "type": "float",
                "redop": "sum",
                "root": "    -1",
                "out_of_place": placement(40772.4, 210.68, 368.69, 0.0),
                "in_place": placement(40791.9, 210.58, 368.51, 0.0),
                "actual_iterations": 20,
                "experiment_name": "",
            },
        ],
        "out_of_bounds": {"count": 0, "okay": "true"},
        "average_bus_bandwidth": {"bandwidth": 123.961, "okay": "unchecked"},
        "errors": [""],
        "end_time": "2026-03-05 22:05:10",
    }


def test_json_report() -> None:
    (run,) = parse_nccl(json.dumps(json_document()))["runs"]
    assert run["ok"] is True
    assert run["version"] == "2.26.2"
    assert run["ranks"] == 8
    assert sizes(run) == [8, 8589934592]
    assert run["rows"][1]["root"] == -1
    assert run["rows"][1]["out_of_place"]["time_us"] == 40772.4
    assert run["peak_busbw_gbs"] == 368.69
    assert run["avg_busbw_gbs"] == 123.961
    assert run["out_of_bounds"] == 0


def test_json_report_with_wrong_elements() -> None:
    document = json_document()
    document["results"][0]["in_place"]["nwrong"] = 32.0
    document["out_of_bounds"] = {"count": 1, "okay": "false"}
    (run,) = parse_nccl(json.dumps(document))["runs"]
    assert run["ok"] is False
    assert run["wrong_total"] == 32
    assert run["out_of_bounds"] == 1


def test_json_report_without_validation_and_with_cpu_time() -> None:
    document = json_document()
    for result in document["results"]:
        for key in ("out_of_place", "in_place"):
            result[key]["cpu_time"] = result[key].pop("time")
            result[key]["nwrong"] = None
    (run,) = parse_nccl(json.dumps(document))["runs"]
    assert run["ok"] is True
    assert run["rows"][0]["in_place"]["wrong"] is None
    assert run["rows"][0]["in_place"]["time_us"] == 34.90


def test_json_report_cut_off() -> None:
    text = json.dumps(json_document())
    (run,) = parse_nccl(text[: len(text) // 2])["runs"]
    assert run["ok"] is False
    assert "JSON" in run["errors"][0]


def test_json_report_without_footer_did_not_finish() -> None:
    document = json_document()
    del document["out_of_bounds"], document["average_bus_bandwidth"]
    document["errors"] = ["unhandled cuda error"]
    (run,) = parse_nccl(json.dumps(document))["runs"]
    assert run["ok"] is False
    assert "unhandled cuda error" in run["errors"]


# --- robustness --------------------------------------------------------------------------------

_ALL = [p.name for p in sorted(FIXTURES.glob("nccl_*.txt"))]
_FIXTURE_LINES = sorted({line for name in _ALL for line in read(name).splitlines()})


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_arbitrary_text(text: str) -> None:
    result = parse_nccl(text)
    assert result["runs"]
    json.dumps(result)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FIXTURE_LINES) | st.text(max_size=40), max_size=60))
def test_never_raises_on_shuffled_real_lines(chunks: list[str]) -> None:
    result = parse_nccl("\n".join(chunks))
    for run in result["runs"]:
        assert isinstance(run["ok"], bool)
        assert run["ok"] is (not run["errors"])
    json.dumps(result)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_never_raises_on_arbitrary_json(value: object) -> None:
    document = json_document()
    document["results"].append(value)
    document["config"] = value
    result = parse_nccl(json.dumps(document))
    json.dumps(result)
