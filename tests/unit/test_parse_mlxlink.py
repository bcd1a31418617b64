"""mlxlink parser. NO real sample with provenance is in the fixture set: every input here is
constructed, named constructed_*, following the layout mstflint's mlxlink prints
(``mlxlink/modules/mlxlink_commander.cpp``: section title, dashes, ``Key : value``; BER as
``<coef>E-<magnitude>``, ``15E-255`` when nothing was counted; values ANSI-coloured on a tty)."""

from __future__ import annotations

import json

import pytest

from trainbed.parse.mlxlink import MlxlinkInfo, parse_mlxlink

CONSTRUCTED_NDR_COUNTERS = """\

Operational Info
----------------
State                              : Active
Physical state                     : LinkUp
Speed                              : IB-NDR
Width                              : 4x
FEC                                : Interleaved_Standard_RS_FEC_PLR - (544,514)
Loopback Mode                      : No Loopback
Auto Negotiation                   : ON

Troubleshooting Info
--------------------
Status Opcode                      : 0
Group Opcode                       : N/A
Recommendation                     : No issue was observed

Physical Counters and BER Info
------------------------------
Time Since Last Clear [Min]        : 25074.8
Symbol Errors                      : 0
Symbol BER                         : \x1b[32m15E-255\x1b[0m
Effective Physical Errors          : 3
Effective Physical BER             : \x1b[33m5E-12\x1b[0m
Raw Physical Errors Per Lane       : 3183333,242074,0,17
Raw Physical BER                   : 1E-8
Link Down Counter                  : 2
Link Error Recovery Counter        : 1
"""


def test_constructed_text_counters() -> None:
    assert parse_mlxlink(CONSTRUCTED_NDR_COUNTERS) == MlxlinkInfo(
        state="Active",
        physical_state="LinkUp",
        speed="IB-NDR",
        width="4x",
        fec="Interleaved_Standard_RS_FEC_PLR - (544,514)",
        recommendation="No issue was observed",
        time_since_clear_min=25074.8,
        symbol_errors=0,
        symbol_ber=15e-255,
        effective_errors=3,
        effective_ber=5e-12,
        raw_ber=1e-8,
        raw_errors_per_lane=(3183333, 242074, 0, 17),
        link_down_counter=2,
        link_error_recovery_counter=1,
    )


def test_constructed_json() -> None:
    constructed_json = json.dumps(
        {
            "result": {
                "output": {
                    "Operational Info": {"State": "Active", "Speed": "IB-NDR", "Width": "4x"},
                    "Physical Counters and BER Info": {
                        "Effective Physical Errors": "0",
                        "Effective Physical BER": "15E-255",
                        "Raw Physical Errors Per Lane": ["0", "0", "0", "0"],
                        "Raw Physical BER": "1E-6",
                    },
                }
            }
        }
    )
    info = parse_mlxlink(constructed_json)
    assert (info.state, info.speed, info.width) == ("Active", "IB-NDR", "4x")
    assert (info.effective_errors, info.effective_ber, info.raw_ber) == (0, 15e-255, 1e-6)
    assert info.raw_errors_per_lane == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-E- Failed to open device: /dev/mst/mt4129_pciconf0\n",
        "Effective Physical BER : N/A\nRaw Physical BER : garbage\n",
        '{"result": {"output": "nope"}}',
        '{"result": 5}',
        '["result"]',
        "[" * 100000,
    ],
)
def test_nothing_recognised(text: str) -> None:
    assert parse_mlxlink(text) == MlxlinkInfo()
