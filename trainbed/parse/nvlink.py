"""Parser for ``nvidia-smi nvlink -s`` (per-GPU, per-link state and speed).

Never raises: lines that are neither a ``GPU N: name (UUID: ...)`` header nor a
``Link N: ...`` line under one are ignored.

``nvidia-smi nvlink -e`` (error counters) is not parsed: no real sample of it is in the
fixture set (the only one found in public material is cut after its first link), so its
layout cannot be judged against real output yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_GPU = re.compile(
    r"^GPU\s+(?P<index>\d{1,6}):\s*(?P<name>.*?)\s*(?:\(UUID:\s*(?P<uuid>[^)]*)\))?\s*$"
)
_LINK = re.compile(r"^\s+Link\s+(?P<link>\d{1,6}):\s*(?P<value>.*?)\s*$")
_SPEED = re.compile(r"^(?P<speed>\d+(?:\.\d+)?)\s*GB/s$")


@dataclass(frozen=True)
class NvLink:
    """One link. ``speed_gbs`` is GB/s per direction as printed; ``None`` when ``<inactive>``
    (then ``active`` is False) or unreadable (``active`` None, text kept in ``state``)."""

    link: int
    active: bool | None
    speed_gbs: float | None
    state: str


@dataclass(frozen=True)
class GpuNvLinks:
    """One GPU's block. ``error`` holds an NVML message printed instead of links (e.g.
    ``Unable to retrieve NVLink information as all links are inActive``)."""

    index: int
    name: str
    uuid: str | None
    links: tuple[NvLink, ...] = ()
    error: str | None = None

    @property
    def inactive_links(self) -> tuple[int, ...]:
        """Numbers of the links reported ``<inactive>``."""
        return tuple(link.link for link in self.links if link.active is False)


def _link(number: int, value: str) -> NvLink:
    if value.lower() == "<inactive>":
        return NvLink(number, False, None, value)
    m = _SPEED.match(value)
    if m:
        return NvLink(number, True, float(m["speed"]), value)
    return NvLink(number, None, None, value)


def parse_nvlink_status(text: str) -> list[GpuNvLinks]:
    """GPUs in output order with their links; tabs or spaces before ``Link`` both work."""
    gpus: list[GpuNvLinks] = []
    links: list[NvLink] = []
    error: str | None = None
    header: re.Match[str] | None = None

    def close() -> None:
        if header is not None:
            gpus.append(
                GpuNvLinks(
                    int(header["index"]), header["name"], header["uuid"], tuple(links), error
                )
            )

    for raw in text.splitlines():
        line = raw.rstrip()
        gpu = _GPU.match(line)
        if gpu:
            close()
            header, links, error = gpu, [], None
            continue
        if header is None:
            continue
        link = _LINK.match(line)
        if link:
            links.append(_link(int(link["link"]), link["value"]))
        elif line.startswith("NVML:"):
            error = line.removeprefix("NVML:").strip()
    close()
    return gpus
