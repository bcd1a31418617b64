"""An acceptance report directory built from fixture results, without a cluster: the probe
suites' outputs of tests/unit/probe_helpers (nccl-tests and ib_write_bw in the real layouts, the
mock cluster's simulated NeMo log), real fio output for the storage suite, and check summaries;
with ``fault`` gpu02's mlx5_4 trained down to 200 Gb/s (its check and its ib_write_bw runs fail)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.probe_helpers import (
    REPO,
    evaluate_suite,
    sim_log,
    suite_outputs,
)
from trainbed.accept import acceptance, inventory_summary, write_acceptance
from trainbed.checks.junit import CaseResult, NodeSummary
from trainbed.html_report import write_html
from trainbed.inventory import load_inventory
from trainbed.probes.report import write_reports
from trainbed.probes.storage import judge_storage, output_paths
from trainbed.probes.training import judge_training

MOCK = REPO / "inventory" / "mock.yaml"
REAL = REPO / "tests" / "fixtures" / "real"
FAULT_LINE = "gpu02 mlx5_4 port 1 rate: expected 400 Gb/s, got 200 Gb/s"


def _storage_texts(inv: Any) -> dict[str, dict[str, str | None]]:
    write = (
        REAL / "fio_json_3.33_debian_write_4m_psync_direct_end_fsync_64m_mock_overlay.txt"
    ).read_text()
    read = (REAL / "fio_json_3.33_debian_read_4m_psync_direct_64m_mock_overlay.txt").read_text()
    mounted = (REAL / "findmnt_J_T_overlay_container_root_util-linux_2.38.1_mock.txt").read_text()
    texts: dict[str, dict[str, str | None]] = {}
    for node in inv.compute:
        keys = output_paths(inv, "/run", node.hostname)
        texts[node.hostname] = {
            k: mounted if k == "findmnt" else (write if k.endswith("write") else read) for k in keys
        }
    return texts


def build_report(out: Path, fault: bool = False) -> dict[str, Any]:
    """Write the acceptance directory (acceptance.json/.md, probe/, report.html) to ``out``."""
    inv = load_inventory(MOCK).inventory
    slow = {("gpu02", "rail2")} if fault else set()
    nccl, ib = suite_outputs(
        inv,
        ib_gbps=lambda a, b, rail: 200.0 if {(a, rail), (b, rail)} & slow else 396.0,
        lat_p99_us=lambda a, b, rail: 1.6,
    )
    storage = judge_storage(inv, "/mnt/checkpoints", _storage_texts(inv), "9")
    training = [judge_training(inv, "llama2-7b", 2, sim_log("llama2-7b", 2), "8")]
    suites = ("nccl", "ib_write_bw", "storage", "training")
    probe = evaluate_suite(inv, nccl, ib, suites=suites, storage=storage, training=training)
    probe_dir = out / "probe"
    write_reports(probe, probe_dir)
    (probe_dir / "raw").mkdir(parents=True, exist_ok=True)
    for output in nccl:  # the raw logs the probe run keeps
        (probe_dir / "raw" / f"nccl-{output.name}.out").write_text(output.text or "")
    summaries = [NodeSummary("cp1", "control", passed=20)]
    for host in ("gpu01", "gpu02"):
        node = NodeSummary(host, "compute", passed=40)
        if fault and host == "gpu02":
            node.failed = 1
            node.failures = [
                CaseResult(
                    host,
                    "test_hca_port",
                    "checks.test_infiniband",
                    "failed",
                    FAULT_LINE,
                    "gpu02-mlx5_4",
                )
            ]
        summaries.append(node)
    doc = acceptance(
        inventory_path=MOCK,
        cluster=inv.cluster.name,
        summaries=summaries,
        checks_returncode=1 if fault else 0,
        probe=probe,
        started="2026-12-01T10:00:00+00:00",
        finished="2026-12-01T10:20:00+00:00",
        summary=inventory_summary(inv),
    )
    write_acceptance(doc, out)
    write_html(out, probe, doc, probe_dir)
    return doc
