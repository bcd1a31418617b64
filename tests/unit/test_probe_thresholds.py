"""Thresholds derived from the inventory's hardware, and their overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.probe_helpers import inventory_for, load_prod
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Thresholds
from trainbed.probes.thresholds import (
    H100_SINGLE_NODE_GATE_GBS,
    derive_thresholds,
    network_ceiling_gbs,
    single_node_gate,
)


def test_prod_defaults_from_the_hardware() -> None:
    inv = load_prod()
    t = derive_thresholds(inv)
    assert t.ib_write_bw_min_gbps == 360.0  # 0.9 × 400 Gb/s NDR
    assert "0.9 × 400 Gb/s" in t.ib_write_bw_basis
    assert t.multi_node_ceiling_gbs == 400.0  # 8 rails × 400 Gb/s / 8
    assert t.multi_node_min_busbw_gbs == 340.0  # 0.85 × 400
    assert t.large_message_bytes == 1 << 30
    assert set(t.single_node) == {n.hostname for n in inv.compute}
    for host in t.single_node:
        gate = t.single(host)
        assert gate.min_busbw_gbs == H100_SINGLE_NODE_GATE_GBS == 440.0
        assert gate.gpus == 8
        assert gate.nvls_off(368.69) and gate.nvls_off(365.0)
        assert not gate.nvls_off(479.27) and not gate.nvls_off(120.0)


def test_configuration_2_halves_the_network_ceiling(tmp_path: Path) -> None:
    inv = inventory_for(tmp_path, 4, 2)
    assert len(inv.rails) == 4
    t = derive_thresholds(inv)
    assert t.multi_node_ceiling_gbs == 200.0
    assert t.multi_node_min_busbw_gbs == 170.0
    assert t.ib_write_bw_min_gbps == 360.0
    assert "4 rails" in t.multi_node_basis


def test_ceiling_arithmetic() -> None:
    assert network_ceiling_gbs(8, 400) == 400
    assert network_ceiling_gbs(4, 400) == 200
    assert network_ceiling_gbs(8, 200) == 200


def _with_thresholds(tmp_path: Path, doc: dict[str, Any], **values: Any) -> Any:
    doc.setdefault("probes", {})["thresholds"] = values
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    return derive_thresholds(load_inventory(path).inventory)


def test_fractions_are_overridable(tmp_path: Path, prod_doc: dict[str, Any]) -> None:
    t = _with_thresholds(
        tmp_path, prod_doc, ib_write_bw_fraction=0.95, nccl_multi_node_fraction=0.75
    )
    assert t.ib_write_bw_min_gbps == 380.0
    assert t.multi_node_min_busbw_gbs == 300.0


def test_absolute_overrides_win(tmp_path: Path, prod_doc: dict[str, Any]) -> None:
    t = _with_thresholds(
        tmp_path,
        prod_doc,
        ib_write_bw_fraction=0.5,
        ib_write_bw_min_gbps=380,
        nccl_single_node_min_busbw_gbs=460,
        nccl_multi_node_min_busbw_gbs=360,
        nccl_large_message_bytes=1 << 33,
    )
    assert t.ib_write_bw_min_gbps == 380
    assert t.ib_write_bw_basis == "probes.thresholds.ib_write_bw_min_gbps"
    assert t.multi_node_min_busbw_gbs == 360
    assert t.multi_node_ceiling_gbs == 400
    assert t.large_message_bytes == 1 << 33
    gate = t.single("gpu01")
    assert gate.min_busbw_gbs == 460
    assert gate.nvls_off(370.0)  # the diagnosis still knows the no-NVLS figure


def test_unknown_threshold_field_is_rejected(tmp_path: Path, prod_doc: dict[str, Any]) -> None:
    from trainbed.inventory import InventoryError

    with pytest.raises(InventoryError):
        _with_thresholds(tmp_path, prod_doc, nccl_single_node_min_busbw=460)


def test_gpu_model_without_a_published_figure_is_judged_on_correctness() -> None:
    profile = load_prod().compute[0].profile
    other = dataclasses.replace(
        profile, gpus=dataclasses.replace(profile.gpus, model="NVIDIA A100-SXM4-80GB")
    )
    gate = single_node_gate(other, Thresholds())
    assert gate.min_busbw_gbs is None and gate.no_nvls_busbw_gbs is None
    assert "nccl_single_node_min_busbw_gbs" in gate.basis
    assert (
        single_node_gate(other, Thresholds(nccl_single_node_min_busbw_gbs=200)).min_busbw_gbs == 200
    )


def test_unknown_node_has_no_gate() -> None:
    t = derive_thresholds(load_prod())
    assert t.single("nowhere").min_busbw_gbs is None
