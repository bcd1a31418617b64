"""The hand-over acceptance: the acceptance checks, the probe suites and one report.

:func:`acceptance` builds the acceptance document (``acceptance.json`` in the report directory)
from what `trainbed check` found per node and the probe results document; :func:`write_acceptance`
writes it with its Markdown (``acceptance.md``). The verdict is ``accepted`` only when every check
passed (none failed, none could not run) and the probe results passed. Storage "not measured on
NFS" fails nothing there and is said in the banner: it is not a pass either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trainbed.checks.junit import NodeSummary
from trainbed.errors import TrainbedError
from trainbed.inventory.model import Inventory
from trainbed.probes.results import validate_results

ACCEPT_SUITES = ("nccl", "ib_write_bw", "storage", "training")
DOCUMENT = "acceptance.json"
MARKDOWN = "acceptance.md"


def inventory_digest(path: str | Path) -> str:
    """sha256 of the inventory file as it was accepted."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def inventory_summary(inv: Inventory) -> dict[str, Any]:
    """What the report's inventory section shows of the cluster."""
    compute = inv.compute
    gpus = compute[0].profile.gpus if compute else None
    checkpoints = next((m for m in inv.mounts if m.export.purpose == "checkpoints"), None)
    return {
        "compute nodes": len(compute),
        "control-plane nodes": len(inv.nodes) - len(compute),
        "GPUs per node": f"{gpus.count}× {gpus.model}" if gpus else "—",
        "InfiniBand": (
            f"{len(inv.rails)} rails × {inv.networks.infiniband.link_rate_gbps} Gb/s, network "
            f"configuration {inv.networks.infiniband.network_config}"
        ),
        "checkpoint storage": (
            f"{inv.storage.smartconnect_zone}:{checkpoints.export.path} at {checkpoints.mount_point}"
            if checkpoints
            else "—"
        ),
        "slurm": inv.software.slurm.version,
    }


def _checks(summaries: Iterable[NodeSummary]) -> list[dict[str, Any]]:
    return [
        {
            "node": s.node,
            "role": s.role,
            "passed": s.passed,
            "failed": s.failed,
            "not_run": s.not_run,
            "skipped": s.skipped,
            "failures": [
                {"check": f.test_id, "outcome": f.outcome, "message": f.message} for f in s.failures
            ],
            "warnings": list(s.warnings),
        }
        for s in summaries
    ]


def _finding_line(finding: Mapping[str, Any]) -> str:
    where = finding.get("node") or ", ".join(finding.get("nodes") or []) or finding.get("rail")
    hca = f" {finding['hca']}" if finding.get("hca") else ""
    return f"{finding['kind']}: {where}{hca}: {finding['evidence']}"


def banner_lines(doc: Mapping[str, Any]) -> list[str]:
    """Why the cluster was not accepted (every failure line), then what was not measured."""
    lines: list[str] = []
    for node in doc["checks"]["nodes"]:
        lines += [f"check {node['node']}: {f['message']}" for f in node["failures"]]
    if doc["checks"]["error"]:
        lines.append(f"checks: {doc['checks']['error']}")
    probe = doc.get("probe")
    if probe is None:
        lines.append("probe: not run")
    else:
        lines += [f"probe {_finding_line(f)}" for f in probe["findings"]]
        lines += [f"probe not measured: {m}" for m in probe["missing"]]
        storage = probe.get("storage")
        if storage:
            lines += [f"storage: {line}" for line in storage["failures"]]
        failed_training = [t for t in probe.get("training", []) if not t["passed"]]
        lines += [f"training {t['model']}: {'; '.join(t['reasons'])}" for t in failed_training]
    return lines


def caveat_lines(doc: Mapping[str, Any]) -> list[str]:
    """What neither passed nor failed (storage not measured on NFS)."""
    storage = (doc.get("probe") or {}).get("storage")
    return list(storage["not_measured"]) if storage else []


def acceptance(
    *,
    inventory_path: str | Path,
    cluster: str,
    summaries: Sequence[NodeSummary],
    checks_returncode: int,
    probe: Mapping[str, Any] | None,
    started: str,
    finished: str,
    summary: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The acceptance document: checks per node, the probe results, the verdict."""
    nodes = _checks(summaries)
    error = None
    if checks_returncode not in (0, 1) and not any(n["failed"] for n in nodes):
        error = f"the check run itself failed (pytest exit {checks_returncode})"
    if not nodes:
        error = error or "no check ran"
    checks_passed = (
        error is None
        and checks_returncode == 0
        and not any(n["failed"] or n["not_run"] for n in nodes)
    )
    probe_passed = bool(probe and probe["passed"])
    doc: dict[str, Any] = {
        "cluster": cluster,
        "inventory": str(inventory_path),
        "inventory_sha256": inventory_digest(inventory_path),
        "summary": dict(summary or {}),
        "started": started,
        "finished": finished,
        "checks": {"passed": checks_passed, "error": error, "nodes": nodes},
        "probe": json.loads(json.dumps(probe)) if probe is not None else None,
        "accepted": checks_passed and probe_passed,
    }
    doc["reasons"] = [] if doc["accepted"] else banner_lines(doc)
    doc["caveats"] = caveat_lines(doc)
    return doc


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The acceptance summary: the banner, the checks per node with every failure line, and
    where the probe report is."""
    verdict = "ACCEPTED" if doc["accepted"] else "NOT ACCEPTED"
    out = [
        f"# Acceptance: {doc['cluster']}",
        "",
        f"**{verdict}**",
        "",
        f"Inventory `{doc['inventory']}` (sha256 `{doc['inventory_sha256']}`), "
        f"{doc['started']} – {doc['finished']}.",
        "",
    ]
    if doc["reasons"]:
        out += ["## Why not", "", *(f"- {line}" for line in doc["reasons"]), ""]
    if doc["caveats"]:
        out += ["## Not measured (neither pass nor fault)", ""]
        out += [*(f"- {line}" for line in doc["caveats"]), ""]
    out += ["## Checks per node", "", "| Node | Role | Passed | Failed | Could not run |"]
    out.append("|---|---|---|---|---|")
    for node in doc["checks"]["nodes"]:
        counts = f"{node['passed']} | {node['failed']} | {node['not_run']}"
        out.append(f"| {node['node']} | {node['role']} | {counts} |")
    out.append("")
    for node in doc["checks"]["nodes"]:
        if node["failures"]:
            out += [f"### {node['node']}", ""]
            out += [f"- {f['check']}: {f['message']}" for f in node["failures"]]
            out.append("")
    probe = doc.get("probe")
    if probe is not None:
        verdict = "PASSED" if probe["passed"] else "FAILED"
        out += [
            "## Probes",
            "",
            f"{verdict}: suites {', '.join(probe['suites'])}; see probe/report.md",
            "",
        ]
    return "\n".join(out)


class AcceptanceError(TrainbedError):
    """An acceptance document that cannot be read."""


def load_acceptance(path: str | Path) -> dict[str, Any]:
    """Read ``acceptance.json`` back; :class:`AcceptanceError` names the file on failure."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AcceptanceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AcceptanceError(f"{path}: not JSON: {exc}") from None
    missing = [k for k in ("cluster", "accepted", "checks", "probe", "reasons") if k not in doc]
    if not isinstance(doc, dict) or missing:
        raise AcceptanceError(f"{path}: not an acceptance document (no {', '.join(missing)})")
    if doc["probe"] is not None:
        validate_results(doc["probe"], f"{path}: probe")
    return doc


def write_acceptance(doc: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``acceptance.json`` and ``acceptance.md`` to ``out_dir``; name → path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {DOCUMENT: out / DOCUMENT, MARKDOWN: out / MARKDOWN}
    paths[DOCUMENT].write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    paths[MARKDOWN].write_text(render_markdown(doc), encoding="utf-8")
    return paths
