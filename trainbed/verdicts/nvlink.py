"""Is every NVLink of every GPU up at its speed? (Facts from `nvidia-smi nvlink -s`, parsed by
`trainbed.parse.nvlink`.)

A link is `<inactive>`, or slower than the fastest link on the node (the node's GPUs are one
model, so their links run at one speed: 26.562 GB/s on H100 SXM), or the GPU printed an NVML
error instead of its links. NVLink error counters (`nvidia-smi nvlink -e`) are not judged: no
real sample of that output exists in the fixture set, so it has no parser.
"""

from __future__ import annotations

from collections.abc import Sequence

from trainbed.parse.nvlink import GpuNvLinks
from trainbed.verdicts import Findings, gpu_name, mismatch


def _numbers(links: Sequence[int]) -> str:
    return ", ".join(str(n) for n in links)


def problems(node: str, gpus: Sequence[GpuNvLinks], links_per_gpu: int | None = None) -> Findings:
    """One failure per GPU with a link down, slow, or no link information.

    `links_per_gpu` (18 on H100 SXM) is the count each GPU must list; None: the most any GPU
    of the node lists. `gpu01 GPU 3 NVLink: expected 18 links active at 26.562 GB/s, got link
    5 inactive`.
    """
    want_links = links_per_gpu or max((len(g.links) for g in gpus), default=0)
    speed = max((link.speed_gbs or 0.0 for g in gpus for link in g.links), default=0.0)
    expected = f"{want_links} links active at {speed:g} GB/s"
    found: list[str] = []
    for gpu in gpus:
        what = f"{node} {gpu_name(gpu.index)} NVLink"
        if gpu.error:
            found.append(mismatch(what, expected, gpu.error))
            continue
        wrong: list[str] = []
        if len(gpu.links) < want_links:
            wrong.append(f"{len(gpu.links)} links listed")
        down = [link.link for link in gpu.links if link.active is False]
        if down:
            wrong.append(f"link{'s' if len(down) > 1 else ''} {_numbers(down)} inactive")
        slow = [link for link in gpu.links if link.speed_gbs is not None and link.speed_gbs < speed]
        wrong += [f"link {link.link} at {link.speed_gbs:g} GB/s" for link in slow]
        unknown = [link.link for link in gpu.links if link.active is None]
        if unknown:
            wrong.append(f"link {_numbers(unknown)} unreadable")
        if wrong:
            found.append(mismatch(what, expected, ", ".join(wrong)))
    return Findings(tuple(found))
