"""`chronyc tracking` against real output of chrony 4.3, and the clock verdict on it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trainbed.parse.chrony import Tracking, parse_tracking
from trainbed.verdicts import time_sync

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
SYNCHRONISED = parse_tracking(
    (REAL / "chronyc_tracking_4.3_debian12_synchronised_stratum9_localhost.txt").read_text()
)
NOT_SYNCHRONISED = parse_tracking(
    (REAL / "chronyc_tracking_4.3_debian12_no_sources_not_synchronised.txt").read_text()
)


def test_a_synchronised_daemon() -> None:
    assert Tracking("7F000001", "localhost", 9, 0.000000833, "Normal") == SYNCHRONISED
    assert SYNCHRONISED.has_source


def test_a_daemon_without_a_source() -> None:
    assert Tracking("00000000", "", 0, 0.0, "Not synchronised") == NOT_SYNCHRONISED
    assert not NOT_SYNCHRONISED.has_source


@pytest.mark.parametrize(
    ("line", "offset"),
    [
        ("System time     : 2.512000000 seconds fast of NTP time", 2.512),
        ("System time     : 0.000123000 seconds slow of NTP time", -0.000123),
        ("System time     : garbled", None),
    ],
)
def test_the_offset_sign_follows_fast_or_slow(line: str, offset: float | None) -> None:
    assert parse_tracking(line).offset_s == offset


def test_a_synchronised_clock_within_the_bar_passes() -> None:
    assert time_sync.problems("gpu01", SYNCHRONISED, 1.0).failures == ()


def test_no_source_fails_twice_and_an_offset_past_the_bar_fails() -> None:
    assert time_sync.problems("gpu01", NOT_SYNCHRONISED, 1.0).failures == (
        "gpu01 chrony leap status: expected Normal, got Not synchronised",
        "gpu01 chrony reference: expected a time source, got none (00000000)",
    )
    far = dataclasses.replace(SYNCHRONISED, offset_s=-2.5)
    assert time_sync.problems("gpu01", far, 1.0).failures == (
        "gpu01 chrony system clock offset: expected within 1 s, got -2.500 s",
    )


def test_output_that_is_not_tracking_fails_as_missing() -> None:
    assert time_sync.problems("gpu01", parse_tracking("506 Cannot talk to daemon"), 1).failures == (
        "gpu01 chrony leap status: expected Normal, got missing",
        "gpu01 chrony reference: expected a time source, got none (missing)",
    )
