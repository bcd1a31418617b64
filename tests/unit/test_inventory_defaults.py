"""The schema is the one source of defaults: each one reaches the built model."""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, validators

from tests.conftest import PROD_YAML
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Inventory
from trainbed.inventory.schema import INVENTORY_SCHEMA

SCHEMA: dict[str, Any] = json.loads(INVENTORY_SCHEMA.read_text())

#: Every schema property with a default (its JSON pointer) → where the model holds the value, in
#: the minimal inventory below. An object default (`{}`) only makes its members' defaults apply.
MODEL: dict[str, Callable[[Inventory], Any]] = {
    "#/properties/cluster/properties/time_sync": lambda inv: inv.cluster.time_sync,
    "#/properties/ssh/properties/port": lambda inv: inv.ssh.port,
    "#/properties/networks/properties/infiniband/properties/link_layer": (
        lambda inv: inv.networks.infiniband.link_layer
    ),
    "#/properties/networks/properties/infiniband/properties/gpudirect_rdma": (
        lambda inv: inv.networks.infiniband.gpudirect_rdma
    ),
    "#/$defs/hca/properties/port": lambda inv: inv.compute[0].hcas[0].port,
    "#/$defs/profile/properties/gpus/properties/nvswitch": (
        lambda inv: inv.compute[0].profile.gpus.nvswitch
    ),
    "#/$defs/mount/properties/nfs_version": lambda inv: inv.mounts[0].nfs_version,
    "#/$defs/mount/properties/automount": lambda inv: inv.mounts[0].automount,
    "#/$defs/mount/properties/mount_now": lambda inv: inv.mounts[0].mount_now,
    "#/$defs/mount/properties/on": lambda inv: list(inv.mounts[0].on),
    "#/$defs/repository/properties/on": lambda inv: list(inv.software.repositories[0].on),
    "#/$defs/slurm/properties/partitions/items/properties/default": (
        lambda inv: inv.slurm.partitions[0].default
    ),
    "#/$defs/slurm/properties/partitions/items/properties/max_time": (
        lambda inv: inv.slurm.partitions[0].max_time
    ),
    "#/$defs/slurm/properties/partitions/items/properties/state": (
        lambda inv: inv.slurm.partitions[0].state
    ),
    "#/$defs/slurm/properties/accounting/properties/database_name": (
        lambda inv: inv.slurm.accounting.database_name
    ),
    "#/$defs/slurm/properties/accounting/properties/database_user": (
        lambda inv: inv.slurm.accounting.database_user
    ),
    "#/$defs/slurm/properties/mpi_default": lambda inv: inv.slurm.mpi_default,
    "#/$defs/slurm/properties/state_save_location": lambda inv: inv.slurm.state_save_location,
    "#/$defs/slurm/properties/users/properties/munge_uid": lambda inv: inv.slurm.munge_uid,
    "#/$defs/slurm/properties/users/properties/slurm_uid": lambda inv: inv.slurm.slurm_uid,
    "#/$defs/probes/properties/job_time_limit": lambda inv: inv.probes.job_time_limit,
    "#/$defs/probes/properties/work_dir": lambda inv: inv.probes.work_dir,
    "#/$defs/probes/properties/storage/properties/model": lambda inv: inv.probes.storage.model,
    "#/$defs/probes/properties/storage/properties/checkpoint_minutes": (
        lambda inv: inv.probes.storage.checkpoint_minutes
    ),
    "#/$defs/probes/properties/storage/properties/file_mib": lambda inv: (
        inv.probes.storage.file_mib
    ),
    "#/$defs/software/properties/health_tools": lambda inv: list(inv.software.health_tools),
    "#/$defs/software/properties/nvidia/properties/kernel_modules": (
        lambda inv: inv.software.nvidia.kernel_modules
    ),
    "#/$defs/software/properties/probe_tools": lambda inv: list(inv.software.probe_tools),
    "#/$defs/pcieLink/properties/gen": lambda inv: inv.compute[0].profile.pcie.gpu.gen,
    "#/$defs/pcieLink/properties/width": lambda inv: inv.compute[0].profile.pcie.hca.width,
    **{
        f"#/$defs/health/properties/{name}": (lambda inv, name=name: getattr(inv.health, name))
        for name in (
            "interval_s",
            "node_state",
            "prolog",
            "epilog",
            "auto_resume",
            "could_not_run_drain_after",
            "command_timeout_s",
            "prolog_dcgm_timeout_s",
        )
    },
    **{
        f"#/$defs/health/properties/thresholds/properties/{name}": (
            lambda inv, name=name: _listed(getattr(inv.health.thresholds, name))
        )
        for name in (
            "clock_offset_s",
            "xid_window_hours",
            "critical_xids",
            "ib_symbol_error_growth",
            "ib_link_downed_growth",
            "ber_warn",
            "ber_error",
            "nvbandwidth_h2d_gbps",
            "nvbandwidth_d2d_gbps",
        )
    },
    **{
        f"#/$defs/health/properties/thresholds/properties/dcgm_timeout_s/properties/{level}": (
            lambda inv, level=level: inv.health.thresholds.dcgm_timeout_s[level]
        )
        for level in ("quick", "standard", "burn-in")
    },
}


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def schema_defaults(node: Any, pointer: str = "#") -> Iterator[tuple[str, Any]]:
    """(JSON pointer, default) of every property of the schema that has a scalar/list default."""
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if isinstance(sub, dict) and "default" in sub and sub["default"] != {}:
                yield f"{pointer}/properties/{name}", sub["default"]
        for key, value in node.items():
            yield from schema_defaults(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from schema_defaults(value, f"{pointer}/{index}")


def _without_defaulted_keys(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with every property that has a schema default removed (found by validating it)."""
    doc = copy.deepcopy(doc)
    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def strip(validator: Any, properties: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.pop(name, None)
        yield from validate_properties(validator, properties, instance, schema)

    stripper = validators.extend(Draft202012Validator, {"properties": strip})(SCHEMA)
    for _ in stripper.iter_errors(doc):
        pass
    return doc


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Inventory]:
    """inventory/prod.yaml without any key that has a default, loaded."""
    doc = _without_defaulted_keys(yaml.safe_load(PROD_YAML.read_text()))
    path: Path = tmp_path_factory.mktemp("minimal") / "minimal.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return doc, load_inventory(path).inventory


def test_the_walk_finds_the_defaults() -> None:
    found = dict(schema_defaults(SCHEMA))
    assert found["#/properties/ssh/properties/port"] == 22
    assert found["#/$defs/mount/properties/on"] == ["compute", "control_plane"]
    assert "#/properties/probes" not in found  # an object default: its members are listed


def test_every_default_has_a_place_in_the_model() -> None:
    assert set(dict(schema_defaults(SCHEMA))) == set(MODEL)


def test_the_minimal_inventory_sets_none_of_them(minimal: tuple[dict[str, Any], Inventory]) -> None:
    doc, _ = minimal
    assert "probes" not in doc and "users" not in doc["slurm"]
    assert all("on" not in mount for mount in doc["mounts"])
    assert "port" not in doc["ssh"] and "port" not in doc["compute"][0]["hcas"][0]


@pytest.mark.parametrize(("pointer", "default"), list(schema_defaults(SCHEMA)))
def test_each_default_reaches_the_model(
    pointer: str, default: Any, minimal: tuple[dict[str, Any], Inventory]
) -> None:
    _, inventory = minimal
    assert MODEL[pointer](inventory) == default


def _defaulted_names(node: Any) -> Iterator[str]:
    """Names of the schema's properties that have a default (object defaults included)."""
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if isinstance(sub, dict) and "default" in sub:
                yield name
        for value in node.values():
            yield from _defaulted_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _defaulted_names(value)


@pytest.mark.parametrize("module", ["rules.py", "build.py"])
def test_no_default_restated(module: str) -> None:
    """No `.get("key", fallback)` for a key whose schema has a default: the loader set it."""
    names = set(_defaulted_names(SCHEMA))
    tree = ast.parse((INVENTORY_SCHEMA.parents[1] / "inventory" / module).read_text())
    restated = [
        f"line {call.lineno}: .get({call.args[0].value!r}, ...)"
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "get"
        and len(call.args) == 2
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value in names
    ]
    assert not restated
