"""nvbandwidth's text output: the real README blocks, v0.8's own layout (N/A, SUM), statuses,
`trainbed parse nvbandwidth`, and robustness."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from trainbed.cli import main
from trainbed.parse.nvbandwidth import parse_nvbandwidth

REAL = Path(__file__).resolve().parents[1] / "fixtures/real"
D2D = REAL / "nvbandwidth_readme_v0.8_device_to_device_memcpy_write_ce_8gpu_276gbs.txt"
H2D = REAL / "nvbandwidth_readme_v0.8_host_to_device_memcpy_ce_8gpu_26gbs.txt"


def test_real_device_to_device_block() -> None:
    run = parse_nvbandwidth(D2D.read_text())
    (t,) = run.testcases
    assert t.name == "device_to_device_memcpy_write_ce" and t.status == "ok"
    assert t.title == "memcpy CE GPU(row) <- GPU(column) bandwidth (GB/s)" and t.unit == "GB/s"
    assert t.columns == t.rows == tuple(str(i) for i in range(8))
    assert t.values[0][:2] == (0.0, 276.07) and t.values[6][0] == 274.89
    # the diagonal (a GPU to itself, 0.00 in this older layout) is not a pair
    assert t.device_to_device and len(t.measured) == 56 and t.minimum == 274.89
    assert t.total is None and run.version is None


def test_real_host_to_device_block() -> None:
    (t,) = parse_nvbandwidth(H2D.read_text()).testcases
    assert t.name == "host_to_device_memcpy_ce" and not t.device_to_device
    assert t.rows == ("0",) and len(t.values[0]) == 8
    assert t.minimum == 25.94 and max(t.measured) == 26.19


# v0.8's layout as its output.cpp/inline_common.h print it (constructed, not a capture).
V08 = """\
nvbandwidth Version: v0.8
Built from Git version: v0.8

CUDA Runtime Version: 12020
CUDA Driver Version: 12020
Driver Version: 535.183.01

gpu01
Device 0: NVIDIA H100 80GB HBM3 (00000000:19:00)
Device 1: NVIDIA H100 80GB HBM3 (00000000:3b:00)

Running device_to_device_memcpy_read_ce.
memcpy CE GPU(row) -> GPU(column) bandwidth (GB/s)
           0         1
 0       N/A    370.12
 1    370.10       N/A

SUM device_to_device_memcpy_read_ce 740.22

Running host_to_device_memcpy_sm.
ERROR: Testcase not supported

NOTE: The reported results may not reflect the full capabilities of the platform.
"""


def test_v08_layout() -> None:
    run = parse_nvbandwidth(V08)
    assert (run.version, run.driver_version) == ("v0.8", "535.183.01")
    d2d = run.testcase("device_to_device_memcpy_read_ce")
    assert d2d is not None and d2d.values == ((None, 370.12), (370.10, None))
    assert d2d.total == 740.22 and d2d.minimum == 370.10
    sm = run.testcase("host_to_device_memcpy_sm")
    assert sm is not None and sm.status == "error" and sm.values == ()


def test_cli_json_and_summary() -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["parse", "nvbandwidth", str(D2D), "--json"])
    assert out.exit_code == 0, out.output
    (t,) = json.loads(out.output)["testcases"]
    assert t["minimum"] == 274.89 and t["unit"] == "GB/s"
    text = runner.invoke(main, ["parse", "nvbandwidth", str(H2D)])
    assert "host_to_device_memcpy_ce: lowest 25.94 GB/s" in text.output
    wrong = runner.invoke(
        main,
        [
            "parse",
            "nvbandwidth",
            str(REAL / "perfquery_x_switch_2ports_edr_zero_errors_xmitwait.txt"),
        ],
    )
    assert wrong.exit_code == 1 and "Traceback" not in wrong.output


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("Running SUM N/A 0123456789.\n_-abcWAIVED:()GPU")),
        max_size=400,
    )
)
def test_never_raises(text: str) -> None:
    run = parse_nvbandwidth(text)
    for t in run.testcases:
        assert t.minimum is None or t.minimum in t.measured
