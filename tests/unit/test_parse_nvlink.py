"""nvidia-smi nvlink -s parser against real output (tests/fixtures/real, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainbed.parse.nvlink import NvLink, parse_nvlink_status

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
INACTIVE = (4, 5, 10, 11, 16, 17)


def test_h100_pcie_bridge_inactive_links() -> None:
    text = (
        FIXTURES / "nvidia_smi_nvlink_s_2xH100_pcie_nvlink_bridge_inactive_links.txt"
    ).read_text()
    gpus = parse_nvlink_status(text)

    assert [(g.index, g.name, g.uuid) for g in gpus] == [
        (0, "NVIDIA H100 PCIe", "GPU-6968dfc2-d444-d92c-c36b-6abe53445cb9"),
        (1, "NVIDIA H100 PCIe", "GPU-9b1446e2-8a89-4cf6-b68c-a98d99e958d3"),
    ]
    for gpu in gpus:
        assert [link.link for link in gpu.links] == list(range(18))
        assert gpu.inactive_links == INACTIVE
        assert gpu.error is None
        for link in gpu.links:
            if link.link in INACTIVE:
                assert link == NvLink(link.link, False, None, "<inactive>")
            else:
                assert (link.active, link.speed_gbs) == (True, 26.562)


def test_a100_pcie_no_nvlink_nvml_message() -> None:
    text = (
        FIXTURES / "nvidia_smi_nvlink_s_2xA100_pcie_no_nvlink_all_links_inactive_nvml_error.txt"
    ).read_text()
    gpus = parse_nvlink_status(text)

    assert [(g.index, g.uuid) for g in gpus] == [
        (0, "GPU-3fb142e7-7102-c7ac-bd5a-fc829e11ed84"),
        (1, "GPU-14ac2834-0d81-0508-69eb-e25264c08d21"),
    ]
    for gpu in gpus:
        assert gpu.links == ()
        assert gpu.error == "Unable to retrieve NVLink information as all links are inActive"


@pytest.mark.parametrize(
    ("line", "link"),
    [
        ("\t Link 3: 26.562 GB/s", NvLink(3, True, 26.562, "26.562 GB/s")),  # real tab form
        ("         Link 7: <inactive>", NvLink(7, False, None, "<inactive>")),
        ("         Link 2: N/A", NvLink(2, None, None, "N/A")),
    ],
)
def test_link_lines(line: str, link: NvLink) -> None:
    (gpu,) = parse_nvlink_status(f"GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-x)\n{line}\n")
    assert gpu.links == (link,)


def test_links_before_any_gpu_and_garbage_are_ignored() -> None:
    assert parse_nvlink_status("         Link 0: 26.562 GB/s\nnvidia-smi: not found\n") == []
