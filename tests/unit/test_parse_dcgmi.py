"""dcgmi diag parser against real output (tests/fixtures/real, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from trainbed.parse.dcgmi import parse_dcgmi_diag

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"


def test_r3_fail_cuinit_8xh100() -> None:
    rows = parse_dcgmi_diag((FIXTURES / "dcgmi_diag_r3_fail_cuinit_8xH100.txt").read_text())
    by_name = {r.name: r for r in rows}

    assert by_name["DCGM Version"].value == "3.3.8"
    assert by_name["DCGM Version"].status is None
    assert by_name["Driver Version Detected"].value == "560.35.03"
    assert by_name["GPU Device IDs Detected"].value.split(",") == ["2330"] * 8
    assert [r.name for r in rows if r.status == "Pass"] == [
        "Denylist",
        "NVML Library",
        "CUDA Main Library",
        "Permissions and OS Blocks",
        "Persistence Mode",
        "Environment Variables",
        "Page Retirement/Row Remap",
        "Graphics Processes",
        "Inforom",
    ]
    assert [(r.name, r.scope) for r in rows if r.status == "Skip"] == [
        ("PCIe", "All"),
        ("Memory Bandwidth", "All"),
        ("EUD Test", "All"),
    ]
    memory = by_name["GPU Memory"]
    assert (memory.section, memory.status, memory.scope) == ("Hardware", "Fail", "All")
    assert len(memory.warnings) == 8
    assert memory.warnings[0].startswith("GPU 0 Error using CUDA API cuInit Check DCGM and system")
    assert "Restart DCGM. Rerun diagnostics." in memory.warnings[0]
    assert "Unable to initialize CUDA library: 'system not yet initialized'" in memory.warnings[3]
    assert memory.warnings[7].endswith("Refer to https://github.com/nvidia/cuda-samples")
    assert memory.warnings[7].startswith("GPU 7 ")

    # Info rows attach to the test above; a space lost at a wrap boundary is restored.
    (info,) = by_name["Persistence Mode"].info
    assert info.startswith(
        'Persistence mode for GPU 0 is disabled. Enable persistence mode by running "nvidia-smi '
        '-i <gpuId> -pm 1 " as root.,Persistence mode for GPU 1 is disabled.'
    )
    assert info.endswith("GPU 4 is disabled. Enable pers")  # dcgmi itself truncates here
    assert "Info" not in by_name and "Warning" not in by_name
    assert by_name["PCIe"].section == "Integration"
    assert by_name["EUD Test"].section == "Stress"


def test_empty_and_garbage() -> None:
    assert parse_dcgmi_diag("") == []
    assert parse_dcgmi_diag("Error: unable to establish a connection to the host engine\n") == []
