"""The probe results document: build it, validate it, read it back.

The document (``trainbed/schemas/probe-results.schema.json``) is plain JSON data; everything the reports
show comes from it, so ``trainbed report DIR`` can render them again without the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from trainbed.errors import TrainbedError
from trainbed.probes.bound import Bound
from trainbed.probes.jobs import Job
from trainbed.probes.judge import IbVerdict, NcclVerdict
from trainbed.probes.localise import NOT_MEASURED, Finding, Hint, localise
from trainbed.probes.replan import Excluded, NotMeasured
from trainbed.probes.storage import StorageResult
from trainbed.probes.thresholds import ProbeThresholds
from trainbed.probes.training import TrainingVerdict

SCHEMA_VERSION = 1
RESULTS_SCHEMA = Path(str(files("trainbed") / "schemas" / "probe-results.schema.json"))
SUITES = ("nccl", "ib_write_bw")
#: Every suite a document may hold, in report order; "training" runs only when asked for.
ALL_SUITES = (*SUITES, "storage", "training")


@dataclass(frozen=True, slots=True)
class Coverage:
    """What a run could not measure and why, and the bound it ran under.

    ``excluded``: nodes Slurm could not run jobs on; ``not_measured``: each measurement not taken;
    ``interrupted``: the signal (``SIGINT``/``SIGTERM``) that ended the run early, if any.
    """

    bound: Bound | None = None
    elapsed_s: float | None = None
    excluded: Sequence[Excluded] = field(default=())
    not_measured: Sequence[NotMeasured] = field(default=())
    interrupted: str | None = None

    @property
    def incomplete(self) -> bool:
        return self.interrupted is not None


#: How many of an excluded node's measurements its finding names (all are in ``not_measured``).
LISTED_MAX = 8


def excluded_findings(coverage: Coverage) -> list[Finding]:
    """One ``not_measured`` finding per excluded node: its Slurm state, never a fabric verdict."""
    findings = []
    for item in coverage.excluded:
        lost = [n.unit.label() for n in coverage.not_measured if item.node in n.unit.nodes]
        when = "before the run" if item.at_s == 0 else f"{item.at_s:.0f} s into the run"
        shown = ", ".join(lost[:LISTED_MAX]) + (", …" if len(lost) > LISTED_MAX else "")
        what = f" ({len(lost)}: {shown})" if lost else ""
        findings.append(
            Finding(
                NOT_MEASURED,
                item.node,
                None,
                None,
                None,
                f"not measured: {item.why()} ({when}); excluded from the rest of the suite, "
                f"its measurements not taken{what}",
                nodes=(item.node,),
            )
        )
    return findings


class ResultsError(TrainbedError):
    """A results document that cannot be read or does not match the schema."""


def empty_versions() -> dict[str, Any]:
    """The ``versions`` block with nothing known yet."""
    return {"nccl": None, "nccl_tests": None, "perftest": None, "driver": None, "nodes": {}}


def node_versions(
    driver: str | None, hca_firmware: Mapping[str, str | None] | None
) -> dict[str, Any]:
    """One entry of ``versions.nodes``: the driver and HCA device → firmware of one node."""
    return {
        "driver": driver,
        "hca_firmware": dict(hca_firmware) if hca_firmware is not None else None,
    }


def _timestamp(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat(timespec="seconds")


def missing_measurements(
    schedule: Mapping[str, Any],
    suites: Sequence[str],
    nccl: Sequence[NcclVerdict],
    ib_write_bw: Sequence[IbVerdict],
    jobs: Iterable[Job] = (),
) -> list[str]:
    """Scheduled measurements of the selected suites that have no verdict.

    One whose job was not measured says why: ``nccl single-gpu01: not measured (controller)``.
    """
    why = {j.name: (j.reason or "").split(":")[0] for j in jobs if not j.measured}

    def entry(text: str, job_name: str) -> str:
        return f"{text}: not measured ({why[job_name]})" if job_name in why else text

    missing: list[str] = []
    if "nccl" in suites:
        judged = {v.name for v in nccl}
        missing += [
            entry(f"nccl {run['name']}", run["name"])
            for run in schedule["nccl"]
            if run["name"] not in judged
        ]
    if "ib_write_bw" in suites:
        judged_ib = {(frozenset(v.pair), v.rail) for v in ib_write_bw}
        plan = schedule["ib_write_bw"]
        for number, rnd in enumerate(plan["rounds"], start=1):
            for a, b in rnd:
                missing += [
                    entry(f"ib_write_bw {a}–{b} {rail}", f"round{number}")
                    for rail in plan["rails"]
                    if (frozenset((a, b)), rail) not in judged_ib
                ]
    return missing


def build_results(
    *,
    cluster: str,
    inventory_file: str | Path,
    started: datetime | str,
    finished: datetime | str | None,
    schedule: Mapping[str, Any],
    thresholds: ProbeThresholds,
    nccl: Sequence[NcclVerdict],
    ib_write_bw: Sequence[IbVerdict],
    jobs: Iterable[Job] = (),
    suites: Sequence[str] = SUITES,
    versions: Mapping[str, Any] | None = None,
    hints: Sequence[Hint] = (),
    findings: Sequence[Finding] | None = None,
    training: Sequence[TrainingVerdict] = (),
    coverage: Coverage | None = None,
    extra_findings: Sequence[Finding] = (),
    controller: Mapping[str, Any] | None = None,
    rail_findings: Sequence[Finding] = (),
    storage: StorageResult | None = None,
    cabling: Sequence[Finding] = (),
    mode: str | None = None,
    fabric: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results document. Findings are localised here unless given.

    The suite passes only when something was measured, every scheduled measurement of the
    selected suites has a verdict, every verdict passed, no measurement went "not measured",
    the run was not interrupted and there is no ``extra_findings`` (faults outside the
    measurements: a controller found down). ``coverage``'s excluded nodes become
    ``not_measured`` findings and its measurements not taken join ``missing``; an interrupted
    run is ``incomplete``. With the training suite selected, ``training`` holds its verdicts
    (none is a missing measurement); without it the document has no ``training`` key, as
    before. ``controller`` (the controller checks) is kept under that key when given.
    ``rail_findings`` explain a whole rail's failures, ``cabling`` a miscabled port's (see
    :func:`~trainbed.probes.localise.explained`). ``mode`` (``quick`` or ``full``) and ``fabric``
    (:func:`~trainbed.probes.topology.fabric_loads`) are kept under those keys when given.
    """
    coverage = coverage or Coverage()
    job_list = list(jobs)
    if findings is None:
        findings = [
            *excluded_findings(coverage),
            *localise(ib_write_bw, nccl, hints, rail_findings, cabling),
        ]
    findings = [*extra_findings, *findings]
    missing = missing_measurements(schedule, suites, nccl, ib_write_bw, job_list)
    missing += [n.line() for n in coverage.not_measured]
    if "training" in suites and not training:
        missing.append("training")
    if "storage" in suites and storage is None:
        missing.append("storage")
    # Storage not measured on NFS is neither a pass nor a fault: it fails nothing (its lines are
    # in the document's storage entry and every report); a failed storage verdict fails the run.
    storage_failed = storage is not None and storage.verdict.status == "failed"
    verdicts: list[NcclVerdict | IbVerdict | TrainingVerdict] = [*nccl, *ib_write_bw, *training]
    storage_passed = storage is not None and storage.verdict.status == "passed"
    passed = (
        (bool(verdicts) or storage_passed)
        and not missing
        and not coverage.incomplete
        and not extra_findings
        and all(v.passed for v in verdicts)
        and not storage_failed
    )
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "cluster": cluster,
        "inventory": str(inventory_file),
        "started": _timestamp(started),
        "finished": _timestamp(finished),
        "suites": [s for s in ALL_SUITES if s in suites],
        "versions": {**empty_versions(), **(versions or {})},
        "thresholds": thresholds.as_dict(),
        "schedule": json.loads(json.dumps(schedule)),
        "jobs": [j.as_dict() for j in job_list],
        "nccl": [v.as_dict() for v in nccl],
        "ib_write_bw": [v.as_dict() for v in ib_write_bw],
        "findings": [f.as_dict() for f in findings],
        "missing": missing,
        "not_measured": [n.as_dict() for n in coverage.not_measured],
        "excluded": [e.as_dict() for e in coverage.excluded],
        "incomplete": coverage.incomplete,
        "interrupted": coverage.interrupted,
        "passed": passed,
        "summary": {
            "nccl_runs": len(nccl),
            "nccl_failed": sum(not v.passed for v in nccl),
            "ib_write_bw_measurements": len(ib_write_bw),
            "ib_write_bw_failed": sum(not v.passed for v in ib_write_bw),
            "jobs": len(job_list),
            "jobs_not_completed": sum(not j.completed for j in job_list),
            "findings": len(findings),
            "not_measured": len(coverage.not_measured),
        },
    }
    if coverage.bound is not None:
        doc["bound"] = {
            **coverage.bound.as_dict(),
            "elapsed_s": None if coverage.elapsed_s is None else round(coverage.elapsed_s, 1),
        }
    if controller is not None:
        doc["controller"] = json.loads(json.dumps(controller))
    if mode is not None:
        doc["mode"] = mode
    if fabric is not None:
        doc["fabric"] = json.loads(json.dumps(fabric))
    if storage is not None:
        doc["storage"] = storage.as_dict()
        doc["summary"]["storage_failed"] = int(storage.verdict.status == "failed")
    if "training" in suites or training:
        doc["training"] = [v.as_dict() for v in training]
        doc["summary"]["training_runs"] = len(training)
        doc["summary"]["training_failed"] = sum(not v.passed for v in training)
    return doc


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(RESULTS_SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def results_errors(doc: Any) -> list[str]:
    """Every schema violation of ``doc`` as ``path: message``; empty when it is valid."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


def validate_results(doc: Any, source: str = "results") -> None:
    """Raise :class:`ResultsError` listing every violation when ``doc`` is not a valid document."""
    errors = results_errors(doc)
    if errors:
        raise ResultsError(
            f"{source}: not a valid probe results document:\n  " + "\n  ".join(errors)
        )


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results JSON file; :class:`ResultsError` names the file on failure."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file (run 'trainbed probe' first)") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not JSON: {exc}") from None
    validate_results(doc, str(path))
    return doc
