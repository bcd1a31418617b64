"""Cluster-wide content is rendered once per inventory and shared by every host (issue 17)."""

from __future__ import annotations

import dataclasses
import gc
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import PROD_YAML
from trainbed.catalog import compile_catalog, node_files
from trainbed.cli import main
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Inventory
from trainbed.render import render_host
from trainbed.render.shared import per_inventory

SHARED = (
    "/etc/hosts",
    "/etc/slurm/slurm.conf",
    "/etc/slurm/gres.conf",
    "/etc/slurm/topology.conf",
    "/etc/slurm/.trainbed-restart-signature",
)


def test_hosts_share_one_rendering_of_cluster_wide_files() -> None:
    inv = load_inventory(PROD_YAML).inventory
    first = render_host(inv, "cp1")
    for node in inv.nodes[1:]:
        files = render_host(inv, node.hostname)
        for path in SHARED:
            assert files[path].content is first[path].content, (node.hostname, path)
        catalog = compile_catalog(inv, node.hostname)
        assert catalog.file("/etc/hosts").content is first["/etc/hosts"].content


def test_a_changed_inventory_renders_afresh() -> None:
    inv = load_inventory(PROD_YAML).inventory
    before = render_host(inv, "gpu01")["/etc/slurm/slurm.conf"].content
    cluster = dataclasses.replace(inv.cluster, name="renamed")
    after = render_host(dataclasses.replace(inv, cluster=cluster), "gpu01")
    assert "ClusterName=renamed" in after["/etc/slurm/slurm.conf"].content
    assert "ClusterName=renamed" not in before


def test_per_inventory_forgets_an_inventory_that_is_gone() -> None:
    calls: list[int] = []

    @per_inventory
    def count(inventory: Inventory) -> int:
        calls.append(1)
        return len(calls)

    inv = load_inventory(PROD_YAML).inventory
    assert count(inv) == count(inv) == 1
    del inv
    gc.collect()
    assert count(load_inventory(PROD_YAML).inventory) == 2


def test_render_writes_shared_content_once(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["render", str(PROD_YAML), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    inv = load_inventory(PROD_YAML).inventory
    slurm_conf = [tmp_path / n.hostname / "etc/slurm/slurm.conf" for n in inv.nodes]
    assert {p.stat().st_ino for p in slurm_conf} == {slurm_conf[0].stat().st_ino}
    for node in inv.nodes:  # every host's directory still holds exactly its files
        expected = node_files(compile_catalog(inv, node.hostname))
        for path, content in expected.items():
            assert (tmp_path / node.hostname / path.lstrip("/")).read_text() == content
    nccl = {(tmp_path / n.hostname / "etc/nccl.conf").stat().st_ino for n in inv.compute}
    assert len(nccl) == len(inv.compute)  # per-host content is never linked
