"""`trainbed init` and inventory/prod.yaml share one reference for software and containers."""

from __future__ import annotations

from typing import Any

from trainbed.inventory.generate import reference_containers, reference_software


def test_prod_software_is_the_reference(prod_doc: dict[str, Any]) -> None:
    assert prod_doc["software"] == reference_software()


def test_prod_containers_are_the_reference(prod_doc: dict[str, Any]) -> None:
    assert prod_doc["containers"] == reference_containers()
