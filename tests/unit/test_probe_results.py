"""The results document: evaluate() end to end, schema validity, coverage, reading it back."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit import probe_helpers as h
from trainbed.probes.evaluate import IbOutput, NcclOutput, evaluate
from trainbed.probes.jobs import Job
from trainbed.probes.results import (
    ResultsError,
    load_results,
    missing_measurements,
    node_versions,
    results_errors,
    validate_results,
)

STARTED, FINISHED = h.STARTED, h.FINISHED


def run_suite(inv: Any, **kwargs: Any) -> dict[str, Any]:
    nccl, ib = h.suite_outputs(inv, **kwargs)
    return h.evaluate_suite(inv, nccl, ib)


@pytest.fixture(scope="module")
def prod() -> Any:
    return h.load_prod()


def test_clean_run_passes_and_validates(prod: Any) -> None:
    doc = run_suite(prod)
    assert results_errors(doc) == []
    assert doc["passed"] is True
    assert doc["findings"] == [] and doc["missing"] == []
    assert len(doc["nccl"]) == 11  # 6 single, 3 pairs, 1 group of 4, all
    assert len(doc["ib_write_bw"]) == 15 * 8
    assert doc["cluster"] == prod.cluster.name
    assert doc["inventory"].endswith("inventory/prod.yaml")
    assert doc["versions"]["nccl_tests"] == "2.17.9"
    assert doc["schedule"]["ib_write_bw"]["rails"] == [f"rail{i}" for i in range(8)]
    hcas = {(v["node_a"], v["rail"]): v["hca_a"] for v in doc["ib_write_bw"]}
    assert hcas[("gpu01", "rail1")] == "mlx5_3" and hcas[("gpu01", "rail7")] == "mlx5_11"
    json.dumps(doc)  # plain JSON data


def test_degraded_hca_is_the_only_finding(prod: Any) -> None:
    doc = run_suite(
        prod, ib_gbps=lambda a, b, r: 210.0 if "gpu04" in (a, b) and r == "rail5" else 396.0
    )
    assert results_errors(doc) == []
    assert doc["passed"] is False
    assert [(f["kind"], f["node"], f["hca"], f["rail"]) for f in doc["findings"]] == [
        ("hca", "gpu04", "mlx5_9", "rail5")
    ]


def test_degraded_node_is_named(prod: Any) -> None:
    doc = run_suite(prod, ib_gbps=lambda a, b, r: 150.0 if "gpu02" in (a, b) else 396.0)
    assert [(f["kind"], f["node"]) for f in doc["findings"]] == [("node", "gpu02")]


def test_missing_gpu_fails_its_single_node_run_and_names_it(prod: Any) -> None:
    nccl, ib = h.suite_outputs(prod)
    nccl = [
        NcclOutput(o.name, h.nccl_text(478, ["gpu05"], gpus=7), o.job_id)
        if o.name == "single-gpu05"
        else o
        for o in nccl
    ]
    doc = evaluate(prod, started=STARTED, finished=FINISHED, nccl_outputs=nccl, ib_outputs=ib)
    (failed,) = [v for v in doc["nccl"] if not v["passed"]]
    assert failed["name"] == "single-gpu05" and failed["diagnosis"] == "gpu_missing"
    assert [(f["kind"], f["node"]) for f in doc["findings"]] == [("node", "gpu05")]


def test_failed_and_rejected_jobs_are_recorded_and_the_rest_still_judged(prod: Any) -> None:
    nccl, ib = h.suite_outputs(prod)
    nccl = [NcclOutput(o.name, None, None) if o.name == "pair-2" else o for o in nccl]
    ib = [IbOutput(o.node_a, o.node_b, o.rail, None, "9001") if o.job_id == "3" else o for o in ib]
    jobs = [
        *[j for j in h.suite_jobs(nccl, ib) if j.job_id not in ("9001", None)],
        Job(None, "pair-2", "nccl", ("gpu03", "gpu04"), "REJECTED", "Invalid partition name"),
        Job("9001", "ib-round-3", "ib_write_bw", (), "TIMEOUT", "DUE TO TIME LIMIT", 900.0),
    ]
    doc = evaluate(
        prod, started=STARTED, finished=FINISHED, nccl_outputs=nccl, ib_outputs=ib, jobs=jobs
    )
    assert results_errors(doc) == []
    assert doc["passed"] is False
    pair2 = next(v for v in doc["nccl"] if v["name"] == "pair-2")
    assert pair2["diagnosis"] == "job_failed" and "Invalid partition name" in pair2["reasons"][0]
    timed_out = [v for v in doc["ib_write_bw"] if v["job_id"] == "9001"]
    assert len(timed_out) == 3 * 8 and all("TIMEOUT" in v["reason"] for v in timed_out)
    others = [v for v in doc["ib_write_bw"] if v["job_id"] != "9001"]
    assert all(v["passed"] for v in others)
    assert {j["state"] for j in doc["jobs"]} == {"COMPLETED", "REJECTED", "TIMEOUT"}
    rejected = next(j for j in doc["jobs"] if j["state"] == "REJECTED")
    assert rejected["job_id"] is None


def test_selected_suites_only(prod: Any) -> None:
    nccl, _ = h.suite_outputs(prod)
    doc = evaluate(prod, started=STARTED, finished=None, nccl_outputs=nccl, suites=["nccl"])
    assert results_errors(doc) == []
    assert doc["suites"] == ["nccl"] and doc["ib_write_bw"] == [] and doc["passed"] is True
    nothing = evaluate(prod, started=STARTED, finished=None, suites=[])
    assert nothing["passed"] is False  # nothing measured is not a pass


def test_missing_measurements_fail_the_suite(prod: Any) -> None:
    doc = run_suite(prod)
    schedule = doc["schedule"]
    from trainbed.probes.judge import IbVerdict, NcclVerdict

    nccl = [NcclVerdict.from_dict(v) for v in doc["nccl"]][1:]
    ib = [IbVerdict.from_dict(v) for v in doc["ib_write_bw"]][1:]
    missing = missing_measurements(schedule, ["nccl", "ib_write_bw"], nccl, ib)
    assert missing == ["nccl single-gpu01", "ib_write_bw gpu01–gpu06 rail0"]


def test_versions_per_node(prod: Any) -> None:
    nccl, ib = h.suite_outputs(prod)
    versions = {
        "perftest": "24.04.0-0.41",
        "driver": "535.183.01",
        "nodes": {
            "gpu01": node_versions("535.183.01", {"mlx5_0": "28.39.1002", "mlx5_3": None}),
            "gpu02": node_versions(None, None),
        },
    }
    doc = evaluate(
        prod,
        started=STARTED,
        finished=FINISHED,
        nccl_outputs=nccl,
        ib_outputs=ib,
        versions=versions,
    )
    assert results_errors(doc) == []
    assert doc["versions"]["perftest"] == "24.04.0-0.41"
    assert doc["versions"]["nccl"] == "2.26.2"  # from the runs' output (nccl-library=22602)
    assert doc["versions"]["nodes"]["gpu01"]["hca_firmware"]["mlx5_0"] == "28.39.1002"


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.pop("passed"), "(root)"),
        (
            lambda d: d["findings"].append(
                {
                    "kind": "switch",
                    "node": None,
                    "hca": None,
                    "rail": None,
                    "peer": None,
                    "evidence": "x",
                }
            ),
            "findings/0/kind",
        ),
        (lambda d: d["nccl"][0].update(passed=False, reasons=[]), "nccl/0/reasons"),
        (lambda d: d["ib_write_bw"][0].update(gbps="fast"), "ib_write_bw/0/gbps"),
        (lambda d: d.update(started="yesterday"), "started"),
        (lambda d: d["jobs"][0].update(suite="dcgm"), "jobs/0/suite"),
        (lambda d: d["versions"].pop("perftest"), "versions"),
    ],
)
def test_schema_rejects_broken_documents(prod: Any, mutate: Any, where: str) -> None:
    doc = copy.deepcopy(run_suite(prod))
    mutate(doc)
    errors = results_errors(doc)
    assert errors and any(e.startswith(where) for e in errors), errors
    with pytest.raises(ResultsError, match="not a valid probe results document"):
        validate_results(doc)


def test_load_results_names_the_file(tmp_path: Path, prod: Any) -> None:
    missing = tmp_path / "results.json"
    with pytest.raises(ResultsError, match=f"{missing}: no such file"):
        load_results(missing)
    missing.write_text("{not json")
    with pytest.raises(ResultsError, match=f"{missing}: not JSON"):
        load_results(missing)
    missing.write_text('{"cluster": "x"}')
    with pytest.raises(ResultsError, match=f"{missing}: not a valid"):
        load_results(missing)
    missing.write_text(json.dumps(run_suite(prod)))
    assert load_results(missing)["passed"] is True


def test_two_node_cluster(tmp_path: Path) -> None:
    inv = h.inventory_for(tmp_path, 2, 1)
    a, b = (n.hostname for n in inv.compute)
    doc = run_suite(inv, ib_gbps=lambda x, y, r: 100.0 if r == "rail3" else 396.0)
    assert results_errors(doc) == []
    ((kind, node, rail, peer),) = [
        (f["kind"], f["node"], f["rail"], f["peer"]) for f in doc["findings"]
    ]
    assert (kind, {node, peer}, rail) == ("ambiguous", {a, b}, "rail3")


# --------------------------------------------------------------------------- coverage: not measured


def _coverage(interrupted: str | None = None):
    from trainbed.probes.bound import run_bound
    from trainbed.probes.replan import Excluded, NotMeasured, pair_unit
    from trainbed.probes.results import Coverage

    gone = Excluded(
        "gpu02", "DOWN+NOT_RESPONDING", "Not responding [slurm@2026-12-01T09:50:55]", 95.0
    )
    return Coverage(
        bound=run_bound([600] * 4),
        elapsed_s=97.3,
        excluded=[gone],
        not_measured=[NotMeasured(pair_unit("gpu01", "gpu02"), gone.why())],
        interrupted=interrupted,
    )


def test_not_measured_and_incomplete_documents_validate(tmp_path: Path) -> None:
    inv = h.inventory_for(tmp_path, 2, 1)
    schedule = {"ib_write_bw": {"rails": ["rail0"], "rounds": [[]]}, "nccl": []}
    for interrupted in (None, "SIGINT", "SIGTERM"):
        doc = evaluate(
            inv,
            started=STARTED,
            finished=FINISHED,
            schedule=schedule,
            coverage=_coverage(interrupted),
        )
        assert results_errors(doc) == [], results_errors(doc)
        assert doc["incomplete"] is (interrupted is not None) and not doc["passed"]
        assert doc["bound"]["seconds"] == 4 * 720 + 240 and doc["bound"]["elapsed_s"] == 97.3
        (finding,) = doc["findings"]
        assert finding["kind"] == "not_measured" and finding["node"] == "gpu02"
        assert (
            "DOWN+NOT_RESPONDING" in finding["evidence"]
            and "95 s into the run" in finding["evidence"]
        )
        assert doc["missing"] == [
            "ib_write_bw gpu01–gpu02: not measured: gpu02 is DOWN+NOT_RESPONDING in Slurm, "
            "reason: Not responding [slurm@2026-12-01T09:50:55]"
        ]
        markdown = tmp_path / "report.md"
        from trainbed.probes.report import render_markdown

        markdown.write_text(render_markdown(doc))
        assert "**Not measured** gpu02" in markdown.read_text()


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(interrupted="SIGHUP"), "interrupted"),
        (lambda d: d.update(incomplete="yes"), "incomplete"),
        (lambda d: d["excluded"][0].pop("state"), "excluded/0"),
        (lambda d: d["not_measured"][0].update(why=""), "not_measured/0/why"),
        (lambda d: d["bound"].pop("seconds"), "bound"),
    ],
)
def test_schema_rejects_broken_coverage(tmp_path: Path, mutate: Any, where: str) -> None:
    inv = h.inventory_for(tmp_path, 2, 1)
    schedule = {"ib_write_bw": {"rails": ["rail0"], "rounds": [[]]}, "nccl": []}
    doc = evaluate(inv, started=STARTED, finished=FINISHED, schedule=schedule, coverage=_coverage())
    mutate(doc)
    assert any(e.startswith(where) for e in results_errors(doc)), results_errors(doc)


def test_a_document_without_coverage_keys_still_validates(prod: Any) -> None:
    doc = run_suite(prod)
    for key in ("not_measured", "excluded", "incomplete", "interrupted"):
        doc.pop(key)
    assert results_errors(doc) == []
