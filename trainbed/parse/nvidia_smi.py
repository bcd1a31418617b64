"""Parsers for ``nvidia-smi`` output: ``-q``, the default table, ``--query-gpu`` CSV, ``topo -m``.

Every parser takes the command's text and returns what it could read; none raises on malformed
input. Fields a given output or driver version does not print come back as ``None``; GPUs or
rows that cannot be recognised are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

_NA = {"", "N/A", "[N/A]", "[Not Supported]", "Not Supported", "[Unknown Error]"}

_BUS_ID = re.compile(
    r"^(?:(?P<domain>[0-9A-Fa-f]{1,8}):)?(?P<bus>[0-9A-Fa-f]{1,2}):"
    r"(?P<dev>[0-9A-Fa-f]{1,2})\.(?P<fn>[0-7])$"
)


def normalize_bus_id(bus_id: str) -> str:
    """PCI bus id in nvidia-smi's long form, ``00000000:19:00.0``, upper-case hex.

    Accepts the short ``0000:19:00.0`` / ``19:00.0`` forms; returns the stripped, upper-cased
    input unchanged when it is not a bus id.
    """
    text = bus_id.strip()
    m = _BUS_ID.match(text)
    if not m:
        return text.upper()
    domain = int(m["domain"] or "0", 16)
    return f"{domain:08X}:{int(m['bus'], 16):02X}:{int(m['dev'], 16):02X}.{m['fn']}"


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.match(r"^\s*(-?\d{1,30})", value)
    return int(m.group(1)) if m else None


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in {"enabled", "on", "yes", "true", "1"}:
        return True
    if v in {"disabled", "off", "no", "false", "0"}:
        return False
    return None


def _value(value: str | None) -> str | None:
    if value is None or value.strip() in _NA:
        return None
    return value.strip()


# --------------------------------------------------------------------------- nvidia-smi -q


@dataclass(frozen=True)
class GpuInfo:
    """One GPU from ``nvidia-smi -q``. ``index`` is its position in the output (index order)."""

    index: int
    bus_id: str
    product_name: str | None = None
    serial: str | None = None
    uuid: str | None = None
    minor_number: int | None = None
    module_id: int | None = None
    vbios_version: str | None = None
    persistence_mode: bool | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    ecc_mode: str | None = None
    ecc_mode_pending: str | None = None
    volatile_uncorrectable_ecc: int | None = None
    aggregate_uncorrectable_ecc: int | None = None
    remapped_rows_correctable: int | None = None
    remapped_rows_uncorrectable: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    fabric_state: str | None = None
    fabric_status: str | None = None
    memory_total_mib: int | None = None
    ecc: EccCounts | None = None
    retired_pages_single_bit: int | None = None
    retired_pages_double_bit: int | None = None
    retired_pages_pending: bool | None = None
    clock_event_reasons: Mapping[str, bool] = field(default_factory=dict)
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_gen_device_max: int | None = None
    pcie_gen_host_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    pcie_replays: int | None = None

    @property
    def active_clock_event_reasons(self) -> tuple[str, ...]:
        """Names of the clock-event (throttle) reasons that are ``Active``, in output order."""
        return tuple(name for name, active in self.clock_event_reasons.items() if active)


@dataclass(frozen=True)
class EccCounts:
    """ECC error counters of one GPU, ``None`` where not printed or ``N/A``.

    SRAM uncorrectable is the sum of what the driver splits it into (555+: ``Parity`` and
    ``SEC-DED``; 535: one ``SRAM Uncorrectable``). Drivers before 525 print ``Single Bit`` /
    ``Double Bit`` per memory instead (no real sample in the fixture set): there ``Device
    Memory`` counts as DRAM and the on-chip memories (register file, L1, L2, texture, ...) as
    SRAM.
    """

    volatile_sram_correctable: int | None = None
    volatile_sram_uncorrectable: int | None = None
    volatile_dram_correctable: int | None = None
    volatile_dram_uncorrectable: int | None = None
    aggregate_sram_correctable: int | None = None
    aggregate_sram_uncorrectable: int | None = None
    aggregate_dram_correctable: int | None = None
    aggregate_dram_uncorrectable: int | None = None


_GPU_HEADER = re.compile(r"^GPU\s+([0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+\.[0-7])\s*$")
_KEY_VALUE = re.compile(r"^(\s*)([^:]*?)\s*:(?:\s(.*))?$")

Path = tuple[str, ...]


def _tree(lines: Sequence[str]) -> dict[Path, str]:
    """Flatten an indented ``Key : value`` block into ``{(section, ..., key): value}``.

    The first occurrence of a path wins (repeated keys only occur under ``Processes``).
    """
    flat: dict[Path, str] = {}
    stack: list[tuple[int, str]] = []
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        m = _KEY_VALUE.match(line)
        if m and m.group(2):
            path = (*(name for _, name in stack), m.group(2).strip())
            flat.setdefault(path, (m.group(3) or "").strip())
        else:
            stack.append((indent, line.strip()))
    return flat


def _sum_uncorrectable(tree: Mapping[Path, str], kind: str) -> int | None:
    """Uncorrectable ECC errors for ``kind`` (``Volatile``/``Aggregate``), summed over sources.

    Drivers ≥ 525 print ``SRAM Uncorrectable …`` / ``DRAM Uncorrectable`` counters; older ones
    print ``Double Bit`` → ``Total``. ``None`` when no counter is numeric (e.g. all ``N/A``).
    """
    values = [
        _int(v)
        for path, v in tree.items()
        if len(path) == 3 and path[:2] == ("ECC Errors", kind) and "Uncorrectable" in path[2]
    ]
    numbers = [v for v in values if v is not None]
    if numbers:
        return sum(numbers)
    return _int(tree.get(("ECC Errors", kind, "Double Bit", "Total")))


def _sum(values: Sequence[int | None]) -> int | None:
    numbers = [v for v in values if v is not None]
    return sum(numbers) if numbers else None


def _ecc_counter(tree: Mapping[Path, str], kind: str, memory: str, correctable: bool) -> int | None:
    """One ECC counter (`kind` Volatile/Aggregate, `memory` SRAM/DRAM), new or old layout."""
    wanted = "Correctable" if correctable else "Uncorrectable"
    new = [
        _int(v)
        for path, v in tree.items()
        if len(path) == 3
        and path[:2] == ("ECC Errors", kind)
        and path[2].split()[:2] == [memory, wanted]
    ]
    if any(v is not None for v in new):
        return _sum(new)
    bits = "Single Bit" if correctable else "Double Bit"
    old = [
        _int(v)
        for path, v in tree.items()
        if len(path) == 4
        and path[:3] == ("ECC Errors", kind, bits)
        and path[3] != "Total"
        and (path[3] == "Device Memory") == (memory == "DRAM")
    ]
    return _sum(old)


def _ecc(tree: Mapping[Path, str]) -> EccCounts | None:
    counts = EccCounts(
        **{
            f"{kind.lower()}_{memory.lower()}_{'correctable' if c else 'uncorrectable'}": (
                _ecc_counter(tree, kind, memory, c)
            )
            for kind in ("Volatile", "Aggregate")
            for memory in ("SRAM", "DRAM")
            for c in (True, False)
        }
    )
    return None if counts == EccCounts() else counts


def _active(value: str | None) -> bool | None:
    if value == "Active":
        return True
    if value == "Not Active":
        return False
    return None


def _clock_event_reasons(tree: Mapping[Path, str]) -> dict[str, bool]:
    # 535+ call the section "Clocks Event Reasons", older drivers "Clocks Throttle Reasons".
    out: dict[str, bool] = {}
    for path, value in tree.items():
        if len(path) == 2 and path[0] in ("Clocks Event Reasons", "Clocks Throttle Reasons"):
            active = _active(value.strip())
            if active is not None:
                out.setdefault(path[1], active)
    return out


def _gpu_from_tree(
    index: int, bus_id: str, tree: Mapping[Path, str], top: Mapping[Path, str]
) -> GpuInfo:
    def get(*path: str) -> str | None:
        return _value(tree.get(path))

    return GpuInfo(
        index=index,
        bus_id=normalize_bus_id(get("PCI", "Bus Id") or bus_id),
        product_name=get("Product Name"),
        serial=get("Serial Number"),
        uuid=get("GPU UUID"),
        minor_number=_int(get("Minor Number")),
        module_id=_int(get("Module ID")),
        vbios_version=get("VBIOS Version"),
        persistence_mode=_bool(get("Persistence Mode")),
        driver_version=_value(top.get(("Driver Version",))),
        cuda_version=_value(top.get(("CUDA Version",))),
        ecc_mode=get("ECC Mode", "Current"),
        ecc_mode_pending=get("ECC Mode", "Pending"),
        volatile_uncorrectable_ecc=_sum_uncorrectable(tree, "Volatile"),
        aggregate_uncorrectable_ecc=_sum_uncorrectable(tree, "Aggregate"),
        remapped_rows_correctable=_int(get("Remapped Rows", "Correctable Error")),
        remapped_rows_uncorrectable=_int(get("Remapped Rows", "Uncorrectable Error")),
        remapped_rows_pending=_bool(get("Remapped Rows", "Pending")),
        remapped_rows_failure=_bool(get("Remapped Rows", "Remapping Failure Occurred")),
        fabric_state=get("Fabric", "State"),
        fabric_status=get("Fabric", "Status"),
        memory_total_mib=_int(get("FB Memory Usage", "Total")),
        ecc=_ecc(tree),
        retired_pages_single_bit=_int(get("Retired Pages", "Single Bit ECC")),
        retired_pages_double_bit=_int(get("Retired Pages", "Double Bit ECC")),
        retired_pages_pending=_bool(
            get("Retired Pages", "Pending Page Blacklist") or get("Retired Pages", "Pending")
        ),
        clock_event_reasons=_clock_event_reasons(tree),
        pcie_gen_current=_int(get("PCI", "GPU Link Info", "PCIe Generation", "Current")),
        pcie_gen_max=_int(get("PCI", "GPU Link Info", "PCIe Generation", "Max")),
        pcie_gen_device_max=_int(get("PCI", "GPU Link Info", "PCIe Generation", "Device Max")),
        pcie_gen_host_max=_int(get("PCI", "GPU Link Info", "PCIe Generation", "Host Max")),
        pcie_width_current=_int(get("PCI", "GPU Link Info", "Link Width", "Current")),
        pcie_width_max=_int(get("PCI", "GPU Link Info", "Link Width", "Max")),
        pcie_replays=_int(get("PCI", "Replays Since Reset")),
    )


def parse_query(text: str) -> list[GpuInfo]:
    """GPUs from ``nvidia-smi -q``, in output order (which is nvidia-smi's index order).

    Driver and CUDA versions come from the log header and are copied into every GPU. A GPU
    section starts at a ``GPU 00000000:19:00.0`` line at column 0.
    """
    header: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        m = _GPU_HEADER.match(line)
        if m:
            sections.append((m.group(1), []))
        elif sections:
            sections[-1][1].append(line)
        else:
            header.append(line)
    top = _tree(header)
    return [
        _gpu_from_tree(index, bus_id, _tree(body), top)
        for index, (bus_id, body) in enumerate(sections)
    ]


# --------------------------------------------------------------------------- nvidia-smi (table)


@dataclass(frozen=True)
class TableGpu:
    """One GPU row of the default ``nvidia-smi`` table. ``name`` may be truncated by nvidia-smi."""

    index: int
    name: str
    bus_id: str
    persistence_mode: bool | None
    memory_used_mib: int | None = None
    memory_total_mib: int | None = None
    temperature_c: int | None = None
    performance_state: str | None = None
    power_draw_w: int | None = None
    power_cap_w: int | None = None
    utilization_pct: int | None = None
    compute_mode: str | None = None
    volatile_uncorrectable_ecc: int | None = None


@dataclass(frozen=True)
class SmiTable:
    """The default ``nvidia-smi`` table: banner versions and one entry per GPU."""

    smi_version: str | None
    driver_version: str | None
    cuda_version: str | None
    gpus: tuple[TableGpu, ...] = ()


_BANNER = re.compile(
    r"NVIDIA-SMI\s+(?P<smi>\S+)\s+Driver Version:\s+(?P<driver>\S+)"
    r"(?:\s+CUDA Version:\s+(?P<cuda>[^\s|]+))?"
)
_ROW1 = re.compile(
    r"^\|\s*(?P<index>\d+)\s+(?P<name>.+?)\s+(?P<pm>On|Off)\s*\|"
    r"\s*(?P<bus>[0-9A-Fa-f:.]+)\s+(?P<disp>\S+)\s*\|\s*(?P<ecc>\S+)\s*\|"
)
_ROW2 = re.compile(
    r"^\|\s*(?P<fan>\S+)\s+(?P<temp>\S+)\s+(?P<perf>P\d+|\S+)\s+(?P<pwr>\S+)\s*/\s*(?P<cap>\S+)\s*\|"
    r"\s*(?P<used>\d+)MiB\s*/\s*(?P<total>\d+)MiB\s*\|\s*(?P<util>\S+)\s+(?P<mode>\S+)\s*\|"
)


def parse_table(text: str) -> SmiTable:
    """The default ``nvidia-smi`` table.

    Each GPU is a box whose first line holds index, name, persistence and bus id and whose
    second line holds temperature, power and memory; lines that do not fit are skipped. The
    Processes box is not read.
    """
    smi = driver = cuda = None
    gpus: list[TableGpu] = []
    pending: dict[str, str] | None = None
    for line in text.splitlines():
        if "Processes:" in line:
            break
        banner = _BANNER.search(line)
        if banner:
            smi, driver, cuda = banner["smi"], banner["driver"], banner["cuda"]
            continue
        row1 = _ROW1.match(line)
        if row1:
            if pending is not None:
                gpus.append(_table_gpu(pending, None))
            pending = row1.groupdict()
            continue
        row2 = _ROW2.match(line)
        if row2 and pending is not None:
            gpus.append(_table_gpu(pending, row2.groupdict()))
            pending = None
    if pending is not None:
        gpus.append(_table_gpu(pending, None))
    return SmiTable(smi_version=smi, driver_version=driver, cuda_version=cuda, gpus=tuple(gpus))


def _table_gpu(row1: Mapping[str, str], row2: Mapping[str, str] | None) -> TableGpu:
    r2 = row2 or {}
    return TableGpu(
        index=int(row1["index"]),
        name=row1["name"].strip(),
        bus_id=normalize_bus_id(row1["bus"]),
        persistence_mode=_bool(row1["pm"]),
        volatile_uncorrectable_ecc=_int(row1["ecc"]),
        memory_used_mib=_int(r2.get("used")),
        memory_total_mib=_int(r2.get("total")),
        temperature_c=_int(r2.get("temp")),
        performance_state=_value(r2.get("perf")),
        power_draw_w=_int(r2.get("pwr")),
        power_cap_w=_int(r2.get("cap")),
        utilization_pct=_int(r2.get("util")),
        compute_mode=_value(r2.get("mode")),
    )


# --------------------------------------------------------------------------- --query-gpu CSV

CsvValue = str | int | float | bool | None

_INT_FIELDS = {"index", "count", "minor_number", "pci.bus", "pci.device", "pci.domain"}
_BOOL_FIELDS = {"persistence_mode"}


def _csv_value(field_name: str, raw: str) -> CsvValue:
    value = raw.strip()
    if value in _NA:
        return None
    if field_name in _BOOL_FIELDS:
        return _bool(value)
    if field_name == "pci.bus_id":
        return normalize_bus_id(value)
    if field_name in _INT_FIELDS or field_name.startswith(("memory.", "ecc.errors.")):
        return _int(value)  # without ``nounits`` the value reads "81559 MiB"
    if field_name.startswith(("power.", "clocks.", "temperature.", "utilization.")):
        m = re.match(r"^-?\d+(?:\.\d+)?", value)
        if m:
            number = float(m.group(0))
            return int(number) if number.is_integer() and "." not in m.group(0) else number
        return None
    return value


def parse_csv_query(text: str, fields: Sequence[str]) -> list[dict[str, CsvValue]]:
    """Rows of ``nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits``.

    ``fields`` are the names passed to ``--query-gpu``, in order. Values are typed: ``index``
    and ``memory.*`` are ints (MiB), ``persistence_mode`` is a bool, ``pci.bus_id`` is
    normalised, ``[N/A]``/``[Not Supported]`` become ``None``, anything else stays a string.
    A header line (``--format=csv`` without ``noheader``) is skipped; rows whose cell count
    differs from ``len(fields)`` are skipped.
    """
    names = [f.strip() for f in fields]
    rows: list[dict[str, CsvValue]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(names):
            continue
        if [c.split(" [")[0] for c in cells] == names:
            continue  # header line
        rows.append({name: _csv_value(name, cell) for name, cell in zip(names, cells, strict=True)})
    return rows


# --------------------------------------------------------------------------- topo -m / -mp

# Closest first. NV# links (GPU↔GPU) never appear between a GPU and a NIC.
NIC_RELATION_RANK: dict[str, int] = {"PIX": 0, "PXB": 1, "PHB": 2, "NODE": 3, "SYS": 4}

_MULTIWORD_COLUMNS = ("CPU Affinity", "NUMA Affinity", "GPU NUMA ID")
_LEGEND_ENTRY = re.compile(r"^\s*(NIC\d+)\s*:\s*(\S+)\s*$")


@dataclass(frozen=True)
class Topology:
    """``nvidia-smi topo -m``: the relation matrix, NIC legend and per-GPU CPU/NUMA affinity.

    ``relations[row][column]`` is the cell text (``X``, ``NV18``, ``PIX``, ``NODE``, ``SYS`` …)
    keyed by the matrix labels (``GPU0``, ``NIC3``; older drivers label NICs ``mlx5_0``).
    ``nic_legend`` maps ``NIC0`` to ``mlx5_0``. Affinity maps are keyed by GPU index.
    """

    gpus: tuple[str, ...] = ()
    nics: tuple[str, ...] = ()
    relations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    nic_legend: Mapping[str, str] = field(default_factory=dict)
    cpu_affinity: Mapping[int, str] = field(default_factory=dict)
    numa_affinity: Mapping[int, str] = field(default_factory=dict)

    def nic_name(self, label: str) -> str:
        """The device name for a matrix label (``NIC0`` → ``mlx5_0``), or the label itself."""
        return self.nic_legend.get(label, label)


def _header_columns(line: str) -> list[str]:
    # Columns are tab-separated in the real output, but copies often render tabs as spaces;
    # only the three trailing column names contain spaces, so protect them and split.
    protected = line
    for i, name in enumerate(_MULTIWORD_COLUMNS):
        protected = protected.replace(name, f"\0{i}\0")
    cols = protected.split()
    for i, name in enumerate(_MULTIWORD_COLUMNS):
        cols = [name if c == f"\0{i}\0" else c for c in cols]
    return cols


def parse_topology(text: str) -> Topology:
    """``nvidia-smi topo -m`` or ``-mp`` output, tab-separated or with tabs rendered as spaces.

    The header line is the first line whose first column is ``GPU0``. Rows are split on
    whitespace, which works for both renderings because no cell contains a space; empty cells
    (tab padding) vanish. A row shorter than the header keeps what it has.
    """
    lines = text.splitlines()
    columns: list[str] = []
    relations: dict[str, dict[str, str]] = {}
    legend: dict[str, str] = {}
    cpu: dict[int, str] = {}
    numa: dict[int, str] = {}
    devices: list[str] = []
    for line in lines:
        legend_entry = _LEGEND_ENTRY.match(line)
        if legend_entry:
            legend[legend_entry.group(1)] = legend_entry.group(2)
            continue
        if not columns:
            cols = _header_columns(line)
            if cols and cols[0] == "GPU0":
                columns = cols
                devices = [c for c in cols if c not in _MULTIWORD_COLUMNS]
            continue
        cells = line.split()
        if not cells or cells[0] not in devices:
            continue
        label, values = cells[0], cells[1:]
        relations[label] = dict(zip(devices, values[: len(devices)], strict=False))
        extra = dict(zip(columns[len(devices) :], values[len(devices) :], strict=False))
        m = re.match(r"^GPU(\d+)$", label)
        if m:
            if "CPU Affinity" in extra:
                cpu[int(m.group(1))] = extra["CPU Affinity"]
            if "NUMA Affinity" in extra:
                numa[int(m.group(1))] = extra["NUMA Affinity"]
    gpus = tuple(d for d in devices if d.startswith("GPU"))
    nics = tuple(d for d in devices if not d.startswith("GPU"))
    return Topology(
        gpus=gpus,
        nics=nics,
        relations=relations,
        nic_legend=legend,
        cpu_affinity=cpu,
        numa_affinity=numa,
    )


def nearest_nic(
    topology: Topology, gpu_index: int, among: Sequence[str] | None = None
) -> str | None:
    """Device name (e.g. ``mlx5_0``) of the NIC closest to GPU ``gpu_index``.

    Closeness is PIX, then PXB, PHB, NODE, SYS; ties go to the NIC listed first. ``among``
    restricts the choice to these device names (e.g. only the InfiniBand HCAs, when Ethernet
    NICs share the PCIe switch). ``None`` when the GPU or a ranked NIC is missing.
    """
    row = topology.relations.get(f"GPU{gpu_index}")
    if row is None:
        return None
    best: tuple[int, int, str] | None = None
    for position, label in enumerate(topology.nics):
        name = topology.nic_name(label)
        if among is not None and name not in among:
            continue
        rank = NIC_RELATION_RANK.get(row.get(label, ""))
        if rank is None:
            continue
        if best is None or (rank, position) < best[:2]:
            best = (rank, position, name)
    return best[2] if best else None
