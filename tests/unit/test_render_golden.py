"""Golden files: what `trainbed render` (and so the deploy) writes for the reference inventories.

Regenerate after an intended change with `TRAINBED_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_render_golden.py`
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import PROD_YAML, REPO
from trainbed.catalog import compile_catalog, node_files
from trainbed.inventory import load_inventory
from trainbed.render import render_host

GOLDEN = REPO / "tests" / "golden"
CONFIG2 = REPO / "tests" / "fixtures" / "inventories" / "config2.yaml"
CASES = [
    (PROD_YAML, "prod", ["cp1", "cp2", "cp3", "gpu01"]),
    (CONFIG2, "config2", ["cp1", "gpu01"]),
]


def _files(inventory: Path, host: str) -> dict[str, str]:
    inv = load_inventory(inventory).inventory
    files = node_files(compile_catalog(inv, host))
    assert {p: f.content for p, f in render_host(inv, host).items()}.items() <= files.items()
    return {path.lstrip("/"): content for path, content in files.items()}


@pytest.mark.parametrize(
    ("inventory", "name", "host"),
    [(inv, name, host) for inv, name, hosts in CASES for host in hosts],
)
def test_golden(inventory: Path, name: str, host: str) -> None:
    rendered = _files(inventory, host)
    root = GOLDEN / name / host
    if os.environ.get("TRAINBED_UPDATE_GOLDEN"):
        for path, content in rendered.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(content)
    on_disk = {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}
    assert sorted(on_disk) == sorted(rendered), "the set of files changed"
    for path, content in rendered.items():
        assert content == on_disk[path], f"{name}/{host}/{path} differs from its golden file"


def test_compute_nodes_differ_only_where_they_must() -> None:
    inv = load_inventory(PROD_YAML).inventory
    first = {p: f.content for p, f in render_host(inv, "gpu01").items()}
    for node in inv.compute[1:]:
        other = {p: f.content for p, f in render_host(inv, node.hostname).items()}
        assert sorted(other) == sorted(first)
        differing = {p for p in first if first[p] != other[p]}
        assert differing <= {"/etc/nccl.conf"}, differing


def test_render_command_writes_every_host(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trainbed.cli import main

    result = CliRunner().invoke(main, ["render", str(PROD_YAML), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cp1",
        "cp2",
        "cp3",
        "gpu01",
        "gpu02",
        "gpu03",
        "gpu04",
        "gpu05",
        "gpu06",
    ]
    dbd = (tmp_path / "cp3" / "etc/slurm/slurmdbd.conf").read_text()
    assert "StoragePass=<from the password file or environment variable at deploy time>" in dbd
    catalog = (tmp_path / "cp3" / "etc/trainbed/catalog.json").read_text()
    assert '"hostname": "cp3"' in catalog and "StoragePass" not in catalog


def test_render_command_bad_host(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trainbed.cli import main

    result = CliRunner().invoke(
        main, ["render", str(PROD_YAML), "--out", str(tmp_path), "--host", "gpu77"]
    )
    assert result.exit_code == 2 and "gpu77" in result.output
