"""dcgmi diag parser against real output (tests/fixtures/real, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from trainbed.parse.dcgmi import gpu_count, parse_dcgmi_diag, per_gpu_results

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
# The node-wide checks of the Deployment section, in the order DCGM 3.3 prints them.
DEPLOYMENT_TESTS = [
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


def test_r3_fail_cuinit_8xh100() -> None:
    rows = parse_dcgmi_diag((FIXTURES / "dcgmi_diag_r3_fail_cuinit_8xH100.txt").read_text())
    by_name = {r.name: r for r in rows}

    assert by_name["DCGM Version"].value == "3.3.8"
    assert by_name["DCGM Version"].status is None
    assert by_name["Driver Version Detected"].value == "560.35.03"
    assert by_name["GPU Device IDs Detected"].value.split(",") == ["2330"] * 8
    assert [r.name for r in rows if r.status == "Pass"] == DEPLOYMENT_TESTS
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


def test_r3_fail_cuinit_per_gpu() -> None:
    rows = parse_dcgmi_diag((FIXTURES / "dcgmi_diag_r3_fail_cuinit_8xH100.txt").read_text())

    assert gpu_count(rows) == 8
    results = per_gpu_results(rows)
    memory = [r for r in results if r.test == "GPU Memory"]
    assert [(r.gpu, r.status, r.section) for r in memory] == [
        (g, "Fail", "Hardware") for g in range(8)
    ]
    for r in memory:  # each GPU gets the warning that names it, and only that one
        assert r.message is not None
        assert r.message.startswith(f"GPU {r.gpu} Error using CUDA API cuInit")
        assert "'system not yet initialized'" in r.message
        assert " | " not in r.message
    assert {(r.test, r.status) for r in results if r.test != "GPU Memory"} == {
        ("PCIe", "Skip"),
        ("Memory Bandwidth", "Skip"),
        ("EUD Test", "Skip"),
    }
    assert len(results) == 4 * 8  # Deployment rows carry no GPU scope


def test_r2_pass_8xa100_empty_stress_section() -> None:
    text = (
        FIXTURES / "dcgmi_diag_r2_pass_8xA100_p4de_dcgm3.3.3_empty_stress_section.txt"
    ).read_text()
    rows = parse_dcgmi_diag(text)
    by_name = {r.name: r for r in rows}

    assert by_name["DCGM Version"].value == "3.3.3"
    assert by_name["Driver Version Detected"].value == "535.104.12"
    assert gpu_count(rows) == 8
    assert [(r.name, r.status) for r in rows if r.section == "Deployment"] == [
        (name, "Pass") for name in DEPLOYMENT_TESTS
    ]
    assert not [r for r in rows if r.section == "Stress"]
    results = per_gpu_results(rows)
    assert [(r.test, r.gpu, r.status, r.message) for r in results] == [
        (test, gpu, "Pass", None) for test in ("PCIe", "GPU Memory") for gpu in range(8)
    ]


def test_split_scope_constructed() -> None:
    # Constructed: no real sample of a row whose GPUs disagree ("Pass - GPUs: ..." then
    # "Fail - GPU: 3" on the wrapped line below) is in the fixture set.
    text = (
        "|-----  Metadata  ----------+------------------------------------------------|\n"
        "| GPU Device IDs Detected   | 2330,2330,2330,2330                            |\n"
        "+-----  Hardware  ----------+------------------------------------------------+\n"
        "| GPU Memory                | Pass - GPUs: 0, 1, 2                           |\n"
        "|                           | Fail - GPU: 3                                  |\n"
        "| Warning                   | GPU 3 Error DBE detected                       |\n"
    )
    results = per_gpu_results(parse_dcgmi_diag(text))
    assert [(r.gpu, r.status, r.message) for r in results] == [
        (0, "Pass", None),
        (1, "Pass", None),
        (2, "Pass", None),
        (3, "Fail", "GPU 3 Error DBE detected"),
    ]
