"""GPUDirect RDMA through DMA-BUF or nvidia-peermem: the inventory's choice, its default, and what
the render, the catalog and the checks make of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROD_YAML, REPO
from trainbed.catalog import compile_catalog
from trainbed.inventory import InventoryError, load_inventory
from trainbed.inventory.model import Inventory
from trainbed.render import render_host
from trainbed.render.fabric import nccl_environment
from trainbed.render.files import PEERMEM_LOAD_PATH
from trainbed.verdicts.gpudirect import DMABUF_MIN_KERNEL, kernel_supports_dmabuf

CONFIG2 = REPO / "tests" / "fixtures" / "inventories" / "config2.yaml"


def _load(tmp_path: Path, doc: dict[str, Any]) -> Inventory:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_inventory(path).inventory


def _errors(tmp_path: Path, doc: dict[str, Any]) -> list[str]:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    return [str(m) for m in caught.value.errors]


def test_proprietary_modules_default_to_peermem() -> None:
    prod = load_inventory(PROD_YAML).inventory
    assert prod.software.nvidia.kernel_modules == "proprietary"
    assert prod.networks.infiniband.gpudirect_method == "peermem"
    assert PEERMEM_LOAD_PATH in render_host(prod, "gpu01")
    assert [m.name for m in compile_catalog(prod, "gpu01").modules] == ["nvidia-peermem"]
    assert nccl_environment(prod, prod.compute[0])["NCCL_DMABUF_ENABLE"] == "0"


def test_open_modules_default_to_dmabuf_and_load_no_peermem() -> None:
    config2 = load_inventory(CONFIG2).inventory
    assert config2.software.nvidia.kernel_modules == "open"
    assert config2.networks.infiniband.gpudirect_method == "dmabuf"
    assert PEERMEM_LOAD_PATH not in render_host(config2, "gpu01")
    assert compile_catalog(config2, "gpu01").modules == ()
    assert nccl_environment(config2, config2.compute[0])["NCCL_DMABUF_ENABLE"] == "1"


def test_peermem_can_be_chosen_with_open_modules(tmp_path: Path) -> None:
    doc = yaml.safe_load(CONFIG2.read_text())
    doc["networks"]["infiniband"]["gpudirect_rdma_method"] = "peermem"
    inv = _load(tmp_path, doc)
    assert inv.networks.infiniband.gpudirect_method == "peermem"
    assert PEERMEM_LOAD_PATH in render_host(inv, "gpu01")


def test_no_gpudirect_no_method(tmp_path: Path, prod_doc: dict[str, Any]) -> None:
    prod_doc["networks"]["infiniband"]["gpudirect_rdma"] = False
    inv = _load(tmp_path, prod_doc)
    assert inv.networks.infiniband.gpudirect_method is None
    assert PEERMEM_LOAD_PATH not in render_host(inv, "gpu01")
    assert "NCCL_DMABUF_ENABLE" not in nccl_environment(inv, inv.compute[0])


def test_dmabuf_needs_the_open_modules(tmp_path: Path, prod_doc: dict[str, Any]) -> None:
    prod_doc["networks"]["infiniband"]["gpudirect_rdma_method"] = "dmabuf"
    (message,) = _errors(tmp_path, prod_doc)
    assert "networks.infiniband.gpudirect_rdma_method: dmabuf needs the open kernel modules" in (
        message
    )


def test_a_method_without_gpudirect_is_refused(tmp_path: Path, prod_doc: dict[str, Any]) -> None:
    prod_doc["networks"]["infiniband"]["gpudirect_rdma"] = False
    prod_doc["networks"]["infiniband"]["gpudirect_rdma_method"] = "peermem"
    (message,) = _errors(tmp_path, prod_doc)
    assert "gpudirect_rdma is false" in message


@pytest.mark.parametrize(
    ("release", "supported"),
    [
        ("5.15.0-105-generic", True),  # Ubuntu 22.04
        ("6.1.0-27-amd64", True),  # Debian 12
        ("5.12.0", True),
        ("5.11.0-49-generic", False),
        ("4.18.0-553.el8_10.x86_64", False),
        ("garbage", False),
    ],
)
def test_dmabuf_kernel(release: str, supported: bool) -> None:
    assert DMABUF_MIN_KERNEL == (5, 12)
    assert kernel_supports_dmabuf(release) is supported
