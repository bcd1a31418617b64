"""GPUDirect RDMA through DMA-BUF: does the node's kernel have it? (Linux 5.12 added the RDMA
core's DMA-BUF support that NVIDIA's open kernel modules and NCCL use instead of nvidia-peermem.)"""

from __future__ import annotations

import re

DMABUF_MIN_KERNEL = (5, 12)


def kernel_supports_dmabuf(release: str) -> bool:
    """`uname -r` (e.g. ``5.15.0-105-generic``) is at least 5.12; an unreadable release is not."""
    match = re.match(r"(\d+)\.(\d+)", release.strip())
    if match is None:
        return False
    return (int(match[1]), int(match[2])) >= DMABUF_MIN_KERNEL
