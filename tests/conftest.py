"""Shared fixtures: the repository's paths and the reference inventory as data."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROD_YAML = REPO / "inventory" / "prod.yaml"


@pytest.fixture(scope="session")
def prod_doc_pristine() -> dict[str, Any]:
    return yaml.safe_load(PROD_YAML.read_text())


@pytest.fixture
def prod_doc(prod_doc_pristine: dict[str, Any]) -> dict[str, Any]:
    """A fresh, mutable copy of inventory/prod.yaml's data."""
    return copy.deepcopy(prod_doc_pristine)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

    if os.environ.get("TRAINBED_MOCK"):
        return
    skip = pytest.mark.skip(reason="needs the mock cluster: set TRAINBED_MOCK (see lab/README.md)")
    for item in items:
        if "mock" in item.keywords:
            item.add_marker(skip)
