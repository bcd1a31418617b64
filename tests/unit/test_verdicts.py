"""The shared verdicts (trainbed.verdicts), judged against real ibstat output."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainbed.parse.ibstat import parse_ibstat
from trainbed.verdicts import NotRun, gpu_count, hca_port, not_run, service

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
HEALTHY = hca_port.by_name(
    parse_ibstat((REAL / "ibstat_h100_node_8x_cx7_ndr400_all_active.txt").read_text())
)
MIXED = hca_port.by_name(
    parse_ibstat((REAL / "ibstat_h100_node_cx7_some_down_polling_mixed_eth.txt").read_text())
)
NDR = {"rate_gbps": 400, "link_layer": "InfiniBand"}


@pytest.mark.parametrize(
    ("cas", "device", "want", "problems"),
    [
        (HEALTHY, "mlx5_0", NDR, []),
        (
            HEALTHY,
            "mlx5_0",
            {"rate_gbps": 200},
            ["n mlx5_0 port 1 rate: expected 200 Gb/s, got 400 Gb/s"],
        ),
        (HEALTHY, "mlx5_2", NDR, ["n mlx5_2 port 1: expected present, got absent from ibstat"]),
        (
            MIXED,
            "mlx5_5",
            NDR,
            [
                "n mlx5_5 port 1 state: expected Active/LinkUp, got Down/Disabled",
                "n mlx5_5 port 1 rate: expected 400 Gb/s, got 40 Gb/s",
                "n mlx5_5 port 1 link layer: expected InfiniBand, got Ethernet",
            ],
        ),
        (MIXED, "mlx5_5", {}, ["n mlx5_5 port 1 state: expected Active/LinkUp, got Down/Disabled"]),
    ],
)
def test_hca_port(cas: dict, device: str, want: dict, problems: list[str]) -> None:
    assert hca_port.problems("n", hca_port.Expected(device, 1, **want), cas) == problems


def test_hca_port_guid_is_compared_normalised() -> None:
    port = hca_port.find_port(HEALTHY, "mlx5_0", 1)
    assert port is not None and port.port_guid
    same = hca_port.Expected("mlx5_0", 1, port_guid=port.port_guid.upper().replace("0X", "0x"))
    assert hca_port.problems("n", same, HEALTHY) == []
    other = hca_port.Expected("mlx5_0", 1, port_guid="0x0000000000000001")
    assert [p.split(":")[0] for p in hca_port.problems("n", other, HEALTHY)] == [
        "n mlx5_0 port 1 port GUID"
    ]


def test_gpu_count() -> None:
    assert gpu_count.problem("gpu01", 8, 8) is None
    assert gpu_count.problem("gpu01", 8, 7) == "gpu01 GPU count: expected 8, got 7"


@pytest.mark.parametrize(
    ("active", "enabled", "problem"),
    [
        ("active", "enabled", None),
        ("active", "static", None),
        ("active", "disabled", "g chrony: expected enabled and active, got disabled and active"),
        ("failed", "enabled", "g chrony: expected enabled and active, got enabled and failed"),
        ("active", None, None),
        ("inactive\n", None, "g chrony: expected active, got inactive"),
        ("", None, "g chrony: expected active, got unknown"),
    ],
)
def test_service(active: str, enabled: str | None, problem: str | None) -> None:
    assert service.problem("g", "chrony", active, enabled) == problem


def test_service_state_is_read_with_the_unit_quoted() -> None:
    template, args = service.state_command("a b")
    assert template.count("%s") == 2 and args == ("a b", "a b")
    assert service.parse_state("enabled active\n") == ("enabled", "active")
    assert service.parse_state("") == (service.NOT_FOUND, service.UNKNOWN)


def test_could_not_run_is_its_own_outcome() -> None:
    why = not_run("gpu01 ibstat", "ibstat", 127, "ibstat: command\n not found")
    assert isinstance(why, NotRun)
    assert str(why) == "gpu01 ibstat: could not run (`ibstat` exit 127: ibstat: command not found)"
