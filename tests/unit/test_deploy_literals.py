"""deploy/ decides nothing: no managed path, unit or package name appears in its code.

Every string constant of deploy/*.py (docstrings aside) is split into words; none may be a path,
unit or package that any reference inventory's catalogs manage.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import PROD_YAML, REPO
from trainbed.catalog import compile_cluster
from trainbed.inventory import load_inventory

INVENTORIES = [
    PROD_YAML,
    REPO / "inventory" / "mock.yaml",
    REPO / "tests" / "fixtures" / "inventories" / "config2.yaml",
]
DEPLOY = sorted((REPO / "deploy").glob("*.py"))
WORD = re.compile(r"[\w@.+/-]+")


def managed_names() -> set[str]:
    names: set[str] = set()
    for path in INVENTORIES:
        for catalog in compile_cluster(load_inventory(path).inventory).values():
            names |= {f.path for f in catalog.files} | {d.path for d in catalog.directories}
            names |= {link.path for link in catalog.links} | {p.name for p in catalog.packages}
            names |= {u.name for u in catalog.units} | {f"{u.name}.service" for u in catalog.units}
            names |= {t.unit for t in catalog.triggers if t.unit}
            names |= {m.name for m in catalog.modules}
    return names


def literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant that is not a docstring."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def offending(source: str, names: set[str]) -> list[str]:
    return [
        f"line {line}: {word!r} in {text!r}"
        for line, text in literals(source)
        for word in WORD.findall(text)
        if word in names
    ]


def test_the_scan_finds_literals() -> None:
    names = managed_names()
    assert {"slurmd", "munge", "/etc/slurm/slurm.conf", "nfs-common"} <= names
    source = 'x = "systemctl restart slurmd"\ny = f"{u} running"\nz = "/etc/slurm/gres.conf"\n'
    assert offending(source, names) == [
        "line 1: 'slurmd' in 'systemctl restart slurmd'",
        "line 3: '/etc/slurm/gres.conf' in '/etc/slurm/gres.conf'",
    ]
    assert offending('def f():\n    """Restarts slurmd."""\n', names) == []


@pytest.mark.parametrize("path", DEPLOY, ids=[p.name for p in DEPLOY])
def test_no_managed_literal_in_deploy(path: Path) -> None:
    assert offending(path.read_text(), managed_names()) == []
