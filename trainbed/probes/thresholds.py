"""Pass thresholds for the probe suite, derived from the inventory's hardware.

Every default comes from a public measurement quoted in DESIGN.md ("What good measures"); any of
them can be overridden in the inventory under ``probes.thresholds``.

ib_write_bw, per port
    ``ib_write_bw_fraction`` (default 0.9) × the port line rate (``networks.infiniband
    .link_rate_gbps``): 0.9 × 400 Gb/s NDR = 360 Gb/s. Healthy NDR ports measure 390–399.9 Gb/s;
    published suites pass at 360 (0.9 × line rate) to 380 Gb/s (GPUDirect). 360 leaves room for a
    host-memory run while a port that trained down to HDR (200) or with a bad cable fails clearly.
    ``ib_write_bw_min_gbps`` replaces the product.

ib_write_lat, per pair and rail
    ``ib_write_lat_p99_max_us`` (default 4.2 µs): the 99th percentile of 2-byte RDMA writes,
    imbue's acceptance bar on NDR (healthy ports read ~1–2 µs typical; the tail shows a port or
    cable that retransmits first). Judged by :mod:`trainbed.verdicts.latency`.

NCCL all_reduce, one node (the NVLink/NVLS gate)
    Known only for 8× H100 SXM on an NVSwitch baseboard (the XE9680): ~480 GB/s bus bandwidth with
    NVLS (482.12 measured on an XE9680), ~370 GB/s when NVLS is not in use. Azure's health check
    requires ≥ 460 for the same node, judged on its largest message. We judge the *median* of every
    row ≥ ``nccl_large_message_bytes`` (1 GiB), and a healthy NVLS node's 1–2 GiB rows read
    441–472 in the real fixtures, so a 460 gate on that median would fail healthy nodes whose sweep
    stops at 2–4 GiB. The default is therefore **440 GB/s**: 92 % of the NVLS figure, and 70 GB/s
    (19 %) above the no-NVLS figure, so the two regimes cannot be confused. A node that misses the
    gate with a figure near 370 GB/s is reported as "NVLS not in use" rather than as merely slow.
    ``nccl_single_node_min_busbw_gbs`` sets the gate for every node (and for GPU models with no
    known figure, which otherwise are judged on correctness only).

NCCL all_reduce, several nodes (the fabric gate, run with ``NCCL_ALGO=Ring``)
    The network ceiling is rails × line rate / 8 bits: 8 × 400 Gb/s → 400 GB/s, 4 × 400 → 200 GB/s.
    Ring runs measured on XE9680s (nccl-tests issue 309): 392.69 on 2 nodes (98 % of the ceiling),
    365.84 on 4 (91 %), 391.37 on 8 with NCCL_MIN_CTAS=24 NCCL_IB_QPS_PER_CONNECTION=2 (98 %).
    The default ``nccl_multi_node_fraction`` is **0.85** (340 GB/s on 8 rails, 170 on 4): six points
    under the worst healthy tuned figure (91 %), while one rail at half rate (the ring runs at its
    slowest channel) or a run without GPUDirect falls far below it. NCCL's *untuned* default on 8
    nodes measured 320.70 (80 %): sites that run many nodes without those two variables must lower
    the fraction to 0.75 or set ``nccl_multi_node_min_busbw_gbs``. A Ring figure more than
    ``CEILING_TOLERANCE`` above the ceiling is impossible over the network: NCCL_ALGO=Ring was not in
    effect (tree reads 469 on two nodes), so such a run fails as "not a ring measurement".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from trainbed.inventory.model import Inventory, Profile, Thresholds
from trainbed.verdicts.latency import P99_MAX_US

LAT_BASIS = "imbue's ib_write_lat bar: p99 ≤ 4.2 µs on NDR (2 B writes)"

#: All-reduce bus bandwidth (GB/s) of one 8× H100 SXM NVSwitch node with NVLS, and without it.
H100_NVLS_BUSBW_GBS = 480.0
H100_NO_NVLS_BUSBW_GBS = 370.0
#: Default single-node gate for that node (see the module docstring for why not 460).
H100_SINGLE_NODE_GATE_GBS = 440.0
#: A single-node figure within this band around the no-NVLS figure means NVLS was not used.
NVLS_OFF_BAND = (0.85, 1.10)
#: A Ring run above ceiling × this cannot have gone over the network only.
CEILING_TOLERANCE = 1.05


@dataclass(frozen=True, slots=True)
class SingleNodeGate:
    """The single-node NCCL gate of one compute node; ``min_busbw_gbs`` None: correctness only."""

    min_busbw_gbs: float | None
    no_nvls_busbw_gbs: float | None
    gpus: int
    basis: str

    def nvls_off(self, busbw_gbs: float) -> bool:
        """Whether ``busbw_gbs`` looks like this node's no-NVLS figure."""
        if self.no_nvls_busbw_gbs is None:
            return False
        low, high = NVLS_OFF_BAND
        return low * self.no_nvls_busbw_gbs <= busbw_gbs <= high * self.no_nvls_busbw_gbs


@dataclass(frozen=True, slots=True)
class ProbeThresholds:
    """Everything the judge compares against. Units: Gb/s for ib_write_bw, GB/s for NCCL busbw."""

    ib_write_bw_min_gbps: float
    ib_write_bw_basis: str
    multi_node_min_busbw_gbs: float
    multi_node_ceiling_gbs: float
    multi_node_basis: str
    large_message_bytes: int
    single_node: Mapping[str, SingleNodeGate] = field(default_factory=dict)
    ib_write_lat_p99_max_us: float = P99_MAX_US
    ib_write_lat_basis: str = LAT_BASIS

    def single(self, hostname: str) -> SingleNodeGate:
        """The gate of ``hostname``; a node the inventory does not know is judged on correctness."""
        return self.single_node.get(
            hostname, SingleNodeGate(None, None, 0, "node not in the inventory")
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["single_node"] = {host: asdict(gate) for host, gate in self.single_node.items()}
        return data


def is_h100_nvswitch_8(profile: Profile) -> bool:
    gpus = profile.gpus
    return "H100" in gpus.model.upper() and gpus.count == 8 and gpus.nvswitch


def single_node_gate(profile: Profile, overrides: Thresholds) -> SingleNodeGate:
    """The single-node gate for a node of ``profile``."""
    known = is_h100_nvswitch_8(profile)
    no_nvls = H100_NO_NVLS_BUSBW_GBS if known else None
    if overrides.nccl_single_node_min_busbw_gbs is not None:
        basis = "probes.thresholds.nccl_single_node_min_busbw_gbs"
        return SingleNodeGate(
            overrides.nccl_single_node_min_busbw_gbs, no_nvls, profile.gpus.count, basis
        )
    if known:
        basis = (
            f"8× H100 SXM with NVSwitch: NVLS measures ~{H100_NVLS_BUSBW_GBS:g} GB/s, "
            f"~{H100_NO_NVLS_BUSBW_GBS:g} without NVLS"
        )
        return SingleNodeGate(H100_SINGLE_NODE_GATE_GBS, no_nvls, profile.gpus.count, basis)
    basis = (
        f"no published figure for {profile.gpus.count}× {profile.gpus.model}: judged on "
        "correctness only; set probes.thresholds.nccl_single_node_min_busbw_gbs"
    )
    return SingleNodeGate(None, None, profile.gpus.count, basis)


def network_ceiling_gbs(rails: int, link_rate_gbps: float) -> float:
    """All-reduce bus bandwidth the rails can carry: rails × line rate (Gb/s) / 8 bits, in GB/s."""
    return rails * link_rate_gbps / 8


def derive_thresholds(inventory: Inventory) -> ProbeThresholds:
    """The thresholds for ``inventory``: hardware defaults, then ``probes.thresholds`` overrides."""
    over = inventory.probes.thresholds
    rate = inventory.networks.infiniband.link_rate_gbps
    if over.ib_write_bw_min_gbps is not None:
        ib_min, ib_basis = over.ib_write_bw_min_gbps, "probes.thresholds.ib_write_bw_min_gbps"
    else:
        ib_min = round(over.ib_write_bw_fraction * rate, 3)
        ib_basis = f"{over.ib_write_bw_fraction:g} × {rate} Gb/s port line rate"
    rails = len(inventory.rails)
    ceiling = network_ceiling_gbs(rails, rate)
    if over.nccl_multi_node_min_busbw_gbs is not None:
        multi = over.nccl_multi_node_min_busbw_gbs
        multi_basis = "probes.thresholds.nccl_multi_node_min_busbw_gbs"
    else:
        multi = round(over.nccl_multi_node_fraction * ceiling, 3)
        multi_basis = (
            f"{over.nccl_multi_node_fraction:g} × {ceiling:g} GB/s network ceiling "
            f"({rails} rails × {rate} Gb/s / 8), NCCL_ALGO=Ring"
        )
    return ProbeThresholds(
        ib_write_bw_min_gbps=ib_min,
        ib_write_bw_basis=ib_basis,
        multi_node_min_busbw_gbs=multi,
        multi_node_ceiling_gbs=ceiling,
        multi_node_basis=multi_basis,
        large_message_bytes=over.nccl_large_message_bytes,
        single_node={
            node.hostname: single_node_gate(node.profile, over) for node in inventory.compute
        },
        ib_write_lat_p99_max_us=over.ib_write_lat_p99_max_us,
        ib_write_lat_basis=(
            LAT_BASIS
            if over.ib_write_lat_p99_max_us == P99_MAX_US
            else "probes.thresholds.ib_write_lat_p99_max_us"
        ),
    )
