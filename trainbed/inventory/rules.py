"""Semantic rules the schema cannot express, run on a schema-valid document with its defaults set.

Each rule is a small generator of `Finding`s with the path of the offending node, so the caller can
point at its YAML line. Errors make the inventory invalid; warnings flag departures from the
reference design that a site may choose deliberately.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from trainbed.inventory.model import GPUS_PER_MODEL, HCAS_PER_CONFIG, SWITCH_PORTS_PER_MODEL

Doc = dict[str, Any]
PathT = tuple[str | int, ...]

#: Slurm release series the configuration templates are written for.
SUPPORTED_SLURM_SERIES = ("22.05", "23.02", "23.11", "24.11")
REFERENCE_SLURM_SERIES = "23.02"


@dataclass(frozen=True, slots=True)
class Finding:
    path: PathT
    message: str
    severity: str = "error"


def _warn(path: PathT, message: str) -> Finding:
    return Finding(path, message, "warning")


def _nodes(doc: Doc) -> Iterator[tuple[PathT, Doc]]:
    for section in ("control_plane", "compute"):
        for index, node in enumerate(doc[section]):
            yield (section, index), node


def _duplicates(items: list[tuple[PathT, Any]], what: str) -> Iterator[Finding]:
    first: dict[Any, PathT] = {}
    for path, value in items:
        if value in first:
            yield Finding(path, f"duplicate {what} {value!r} (also at {format_path(first[value])})")
        else:
            first[value] = path


def format_path(path: PathT) -> str:
    """`('compute', 3, 'hcas', 2, 'rail')` → `compute[3].hcas[2].rail`."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "(top level)"


def unique_hostnames(doc: Doc) -> Iterator[Finding]:
    yield from _duplicates([((*p, "hostname"), n["hostname"]) for p, n in _nodes(doc)], "hostname")


def unique_addresses(doc: Doc) -> Iterator[Finding]:
    items: list[tuple[PathT, Any]] = []
    for path, node in _nodes(doc):
        items += [
            ((*path, key), node[key])
            for key in ("address", "ethernet_address", "bmc_address")
            if key in node
        ]
    if "address" in doc["storage"]["powerscale"]:
        items.append(
            (("storage", "powerscale", "address"), doc["storage"]["powerscale"]["address"])
        )
    yield from _duplicates(items, "IP address")


def unique_port_guids(doc: Doc) -> Iterator[Finding]:
    items = [
        ((*path, "hcas", i, "port_guid"), hca["port_guid"])
        for path, node in _nodes(doc)
        for i, hca in enumerate(node.get("hcas", ()))
        if "port_guid" in hca
    ]
    yield from _duplicates(items, "port GUID")


def unique_names(doc: Doc) -> Iterator[Finding]:
    ib = doc["networks"]["infiniband"]
    yield from _duplicates(
        [(("switches", i, "name"), s["name"]) for i, s in enumerate(doc["switches"])], "switch name"
    )
    yield from _duplicates(
        [
            (("networks", "infiniband", "rails", i, "name"), r["name"])
            for i, r in enumerate(ib["rails"])
        ],
        "rail name",
    )
    exports = doc["storage"]["powerscale"]["exports"]
    yield from _duplicates(
        [
            (("storage", "powerscale", "exports", i, "name"), e["name"])
            for i, e in enumerate(exports)
        ],
        "export name",
    )
    yield from _duplicates(
        [(("mounts", i, "mount_point"), m["mount_point"]) for i, m in enumerate(doc["mounts"])],
        "mount point",
    )
    parts = doc["slurm"]["partitions"]
    yield from _duplicates(
        [(("slurm", "partitions", i, "name"), p["name"]) for i, p in enumerate(parts)],
        "partition name",
    )
    for path, node in _nodes(doc):
        hcas = node.get("hcas", ())
        yield from _duplicates(
            [((*path, "hcas", i, "device"), h["device"]) for i, h in enumerate(hcas)], "HCA device"
        )


def addresses_in_subnets(doc: Doc) -> Iterator[Finding]:
    networks = doc["networks"]
    subnets = {}
    for name in ("management", "ethernet"):
        net = networks[name]
        try:
            subnets[name] = ipaddress.ip_network(net["subnet"])
        except ValueError as err:
            yield Finding(("networks", name, "subnet"), f"not a network address: {err}")
            continue
        gateway = net.get("gateway")
        if gateway and ipaddress.ip_address(gateway) not in subnets[name]:
            yield Finding(("networks", name, "gateway"), f"{gateway} is outside {net['subnet']}")
    checks = {"address": "management", "bmc_address": "management", "ethernet_address": "ethernet"}
    for path, node in _nodes(doc):
        for key, network in checks.items():
            if (
                key in node
                and network in subnets
                and ipaddress.ip_address(node[key]) not in subnets[network]
            ):
                yield Finding(
                    (*path, key), f"{node[key]} is outside the {network} subnet {subnets[network]}"
                )


def compute_hardware(doc: Doc) -> Iterator[Finding]:
    ib = doc["networks"]["infiniband"]
    expected_hcas = HCAS_PER_CONFIG[ib["network_config"]]
    for index, node in enumerate(doc["compute"]):
        path: PathT = ("compute", index)
        profile = doc["profiles"].get(node["profile"])
        if profile is None:
            known = ", ".join(sorted(doc["profiles"]))
            yield Finding(
                (*path, "profile"), f"unknown profile {node['profile']!r} (declared: {known})"
            )
            continue
        if len(node["hcas"]) != expected_hcas:
            yield Finding(
                (*path, "hcas"),
                f"{len(node['hcas'])} HCAs, but network configuration {ib['network_config']} "
                f"has {expected_hcas} per compute node",
            )
        rails = Counter(hca["rail"] for hca in node["hcas"])
        for i, hca in enumerate(node["hcas"]):
            if rails[hca["rail"]] > 1:
                yield Finding(
                    (*path, "hcas", i, "rail"),
                    f"rail {hca['rail']!r} has more than one HCA on this node",
                )
            gpu = hca.get("nearest_gpu")
            if gpu is not None and gpu >= profile["gpus"]["count"]:
                yield Finding(
                    (*path, "hcas", i, "nearest_gpu"),
                    f"GPU {gpu} does not exist: profile {node['profile']!r} has {profile['gpus']['count']} GPUs",
                )


def profiles_match_models(doc: Doc) -> Iterator[Finding]:
    for name, profile in doc["profiles"].items():
        path: PathT = ("profiles", name)
        expected = GPUS_PER_MODEL.get(profile["model"])
        gpus = profile["gpus"]
        if expected is not None and gpus["count"] != expected:
            yield Finding(
                (*path, "gpus", "count"),
                f"a {profile['model']} has {expected} GPUs, not {gpus['count']}",
            )
        bus_ids = gpus.get("bus_ids")
        if bus_ids is not None and len(bus_ids) != gpus["count"]:
            yield Finding(
                (*path, "gpus", "bus_ids"), f"{len(bus_ids)} bus IDs for {gpus['count']} GPUs"
            )
        if profile["model"] != "XE9680":
            yield _warn(
                (*path, "model"),
                f"the reference design's compute server is the XE9680, not {profile['model']}",
            )


#: Firmware major of the reference design's HCA, the ConnectX-7 (`28.39.1002`; CX-6 Dx is 22).
CONNECTX7_FIRMWARE_MAJOR = "28"
#: VBIOS family of GH100 GPUs (`96.00.74.00.01` on H100 SXM; A100s run 92.00, A10s 94.02).
H100_VBIOS_FAMILY = "96.00."


def firmware_locks(doc: Doc) -> Iterator[Finding]:
    """A locked version that cannot be the reference design's hardware is flagged."""
    for name, profile in doc["profiles"].items():
        lock = profile.get("firmware", {})
        path: PathT = ("profiles", name, "firmware")
        hca = lock.get("hca")
        if hca is not None and hca.split(".", 1)[0] != CONNECTX7_FIRMWARE_MAJOR:
            yield _warn(
                (*path, "hca"),
                f"{hca} is not ConnectX-7 firmware ({CONNECTX7_FIRMWARE_MAJOR}.x), the reference "
                "design's HCA",
            )
        vbios = lock.get("vbios")
        gpu = profile["gpus"]["model"]
        if vbios is not None and "H100" in gpu and not vbios.upper().startswith(H100_VBIOS_FAMILY):
            yield _warn(
                (*path, "vbios"),
                f"{vbios} is not an H100 VBIOS ({H100_VBIOS_FAMILY}xx.xx.xx), but the profile's "
                f"GPUs are {gpu}",
            )


def rails_and_switches(doc: Doc) -> Iterator[Finding]:
    ib = doc["networks"]["infiniband"]
    switches = {s["name"]: s for s in doc["switches"]}
    rail_names = {r["name"] for r in ib["rails"]}
    for i, switch in enumerate(doc["switches"]):
        for j, uplink in enumerate(switch.get("uplinks", ())):
            if uplink not in switches:
                yield Finding(("switches", i, "uplinks", j), f"unknown switch {uplink!r}")
    for i, rail in enumerate(ib["rails"]):
        switch = switches.get(rail["switch"])
        path: PathT = ("networks", "infiniband", "rails", i, "switch")
        if switch is None:
            yield Finding(path, f"rail {rail['name']!r} names unknown switch {rail['switch']!r}")
        elif switch["fabric"] != "infiniband" or switch["role"] not in ("rail", "leaf"):
            yield Finding(
                path,
                f"switch {rail['switch']!r} is a {switch['fabric']} {switch['role']} switch, not an InfiniBand rail or leaf switch",
            )
    for path, node in _nodes(doc):
        for j, hca in enumerate(node.get("hcas", ())):
            if hca["rail"] not in rail_names:
                yield Finding(
                    (*path, "hcas", j, "rail"),
                    f"unknown rail {hca['rail']!r} (declared: {', '.join(sorted(rail_names))})",
                )
            leaf = hca.get("switch")
            if leaf is not None and (
                leaf not in switches
                or switches[leaf]["fabric"] != "infiniband"
                or switches[leaf]["role"] not in ("rail", "leaf")
            ):
                yield Finding(
                    (*path, "hcas", j, "switch"),
                    f"{leaf!r} is not an InfiniBand rail or leaf switch",
                )
    if len(ib["rails"]) != HCAS_PER_CONFIG[ib["network_config"]]:
        yield _warn(
            ("networks", "infiniband", "rails"),
            f"{len(ib['rails'])} rails for network configuration {ib['network_config']} "
            f"({HCAS_PER_CONFIG[ib['network_config']]} HCAs per node, one rail each)",
        )


def switch_ports(doc: Doc) -> Iterator[Finding]:
    """An HCA's `switch_port` is within its leaf's port count (where the model's is known), and
    no two HCAs are cabled to one (leaf, port)."""
    switches = {s["name"]: s for s in doc["switches"]}
    rail_switch = {r["name"]: r["switch"] for r in doc["networks"]["infiniband"]["rails"]}
    taken: dict[tuple[str, int], tuple[PathT, str]] = {}
    for path, node in _nodes(doc):
        for j, hca in enumerate(node.get("hcas", ())):
            port = hca.get("switch_port")
            if port is None:
                continue
            where: PathT = (*path, "hcas", j, "switch_port")
            leaf = hca.get("switch") or rail_switch.get(hca["rail"])
            if leaf is None:
                continue  # an unknown rail: rails_and_switches says so
            who = f"{node['hostname']} {hca['device']}"
            model = switches[leaf]["model"] if leaf in switches else None
            count = SWITCH_PORTS_PER_MODEL.get(model) if model else None
            if count is not None and port > count:
                yield Finding(where, f"{leaf} ({model}) has ports 1-{count}, not {port}")
            if (leaf, port) in taken:
                first, other = taken[(leaf, port)]
                yield Finding(
                    where,
                    f"{who} and {other} are both cabled to {leaf} port {port} "
                    f"(also at {format_path(first)})",
                )
            else:
                taken[(leaf, port)] = (where, who)


def externally_managed(switch: Doc) -> bool:
    """A switch document's `externally_managed`; absent: a QM9790 (it runs no subnet manager)."""
    return switch.get("externally_managed", switch["model"] == "QM9790")


def subnet_managers(doc: Doc) -> Iterator[Finding]:
    switches = {s["name"]: s for s in doc["switches"]}
    control = {n["hostname"]: n for n in doc["control_plane"]}
    compute = {n["hostname"]: n for n in doc["compute"]}
    warned: set[str] = set()
    for i, rail in enumerate(doc["networks"]["infiniband"]["rails"]):
        path: PathT = ("networks", "infiniband", "rails", i, "subnet_managers")
        sms = rail["subnet_managers"]
        switch = switches.get(rail["switch"])
        hosts = [sm["host"] for sm in sms]
        if switch is not None and externally_managed(switch):
            if len(set(hosts)) < 2:
                yield Finding(
                    path,
                    f"rail {rail['name']!r}: switch {switch['name']!r} ({switch['model']}) runs no subnet "
                    "manager, so it needs a primary and a standby OpenSM on two distinct hosts",
                )
            priorities = [sm["priority"] for sm in sms]
            if len(priorities) >= 2 and priorities.count(max(priorities)) > 1:
                yield Finding(
                    path,
                    f"rail {rail['name']!r}: two subnet managers share the top priority {max(priorities)}; the primary must be unique",
                )
        yield from _duplicates(
            [((*path, j, "host"), h) for j, h in enumerate(hosts)], "subnet manager host"
        )
        for j, sm in enumerate(sms):
            host = sm["host"]
            sm_path = (*path, j, "host")
            node = control.get(host) or compute.get(host)
            if node is None:
                yield Finding(sm_path, f"unknown host {host!r}")
                continue
            if host in compute and host not in warned:
                warned.add(host)
                yield _warn(
                    sm_path,
                    f"{host} is a compute node; the design runs OpenSM on control-plane nodes",
                )
            elif host in control and "opensm" not in node["roles"]:
                yield Finding(sm_path, f"{host} runs a subnet manager but lacks the 'opensm' role")
            ports = [h for h in node.get("hcas", ()) if h["rail"] == rail["name"]]
            if not ports:
                yield Finding(
                    sm_path, f"{host} has no HCA on rail {rail['name']!r} to bind OpenSM to"
                )
            elif "port_guid" not in ports[0]:
                yield Finding(
                    sm_path,
                    f"{host}'s HCA {ports[0]['device']} on rail {rail['name']!r} needs a port_guid: OpenSM binds to it",
                )


def control_roles(doc: Doc) -> Iterator[Finding]:
    roles = Counter(role for node in doc["control_plane"] for role in node["roles"])
    if roles["slurmctld_primary"] != 1:
        yield Finding(
            ("control_plane",),
            f"exactly one node needs the slurmctld_primary role (found {roles['slurmctld_primary']})",
        )
    if roles["slurmctld_backup"] > 1:
        yield Finding(
            ("control_plane",),
            f"at most one node may have the slurmctld_backup role (found {roles['slurmctld_backup']})",
        )
    for i, node in enumerate(doc["control_plane"]):
        if {"slurmctld_primary", "slurmctld_backup"} <= set(node["roles"]):
            yield Finding(
                ("control_plane", i, "roles"), "a node cannot be both slurmctld primary and backup"
            )
    accounting = doc["slurm"]["accounting"]
    if accounting["enabled"] and roles["slurmdbd"] != 1:
        yield Finding(
            ("slurm", "accounting", "enabled"),
            f"accounting needs exactly one node with the slurmdbd role (found {roles['slurmdbd']})",
        )
    if len(doc["control_plane"]) < 3:
        yield _warn(
            ("control_plane",),
            f"{len(doc['control_plane'])} control-plane node(s); the reference design has 3 (manager, controller and backup, accounting)",
        )
    if roles["slurmctld_backup"] == 0:
        yield _warn(
            ("control_plane",), "no slurmctld_backup: the controller is a single point of failure"
        )


def software_versions(doc: Doc) -> Iterator[Finding]:
    software = doc["software"]
    nvidia = software["nvidia"]
    path: PathT = ("software", "nvidia")
    if nvidia["fabricmanager_version"] != nvidia["driver_version"]:
        yield Finding(
            (*path, "fabricmanager_version"),
            f"fabric manager {nvidia['fabricmanager_version']} must equal the driver version {nvidia['driver_version']}",
        )
    if not nvidia["driver_version"].startswith(nvidia["driver_branch"] + "."):
        yield Finding(
            (*path, "driver_branch"),
            f"driver {nvidia['driver_version']} is not on branch {nvidia['driver_branch']}",
        )
    for key, version in (
        ("driver", nvidia["driver_version"]),
        ("fabricmanager", nvidia["fabricmanager_version"]),
    ):
        package = nvidia["packages"][key]
        upstream = str(package["version"]).split(":", 1)[-1]
        if not upstream.startswith(version):
            yield Finding(
                (*path, "packages", key, "version"),
                f"package version {package['version']} is not {key} version {version}",
            )
    slurm_version = software["slurm"]["version"]
    series = ".".join(slurm_version.split(".")[:2])
    if series not in SUPPORTED_SLURM_SERIES:
        yield Finding(
            ("software", "slurm", "version"),
            f"Slurm {slurm_version} is not supported by the templates (supported: {', '.join(SUPPORTED_SLURM_SERIES)})",
        )
    elif series != REFERENCE_SLURM_SERIES:
        yield _warn(
            ("software", "slurm", "version"),
            f"the reference design validated Slurm {REFERENCE_SLURM_SERIES}, not {slurm_version}",
        )
    if doc["cluster"]["os_release"] != "ubuntu-22.04":
        yield _warn(
            ("cluster", "os_release"),
            f"the reference design runs Ubuntu 22.04, not {doc['cluster']['os_release']}",
        )


def container_settings(doc: Doc) -> Iterator[Finding]:
    """enroot/pyxis come from a declared repository compute nodes use; enroot has somewhere to live."""
    containers = doc.get("containers")
    if containers is None:
        return
    repos = {r["name"]: r for r in doc["software"]["repositories"]}
    repo = repos.get(containers["repository"])
    if repo is None:
        yield Finding(
            ("containers", "repository"),
            f"unknown repository {containers['repository']!r} "
            f"(declared: {', '.join(sorted(repos)) or 'none'})",
        )
    else:
        on = repo["on"]
        # pyxis goes on compute nodes and on the login/submit nodes, where srun parses its options.
        for kind in ("compute", "control_plane"):
            if kind not in on:
                yield Finding(
                    ("containers", "repository"),
                    f"repository {repo['name']!r} is not configured on {kind} nodes "
                    "(pyxis is installed on compute nodes and where users run srun)",
                )
    names = [p["name"] for p in containers["packages"]["enroot"]]
    if not any(name in ("enroot", "enroot-hardened") for name in names):
        yield Finding(
            ("containers", "packages", "enroot"), "needs the enroot (or enroot-hardened) package"
        )
    given = set(containers.get("enroot", {}))
    if given < {"data_path", "cache_path", "runtime_path", "temp_path"}:
        for node in doc["compute"]:
            profile = doc["profiles"].get(node["profile"], {})
            if "local_scratch" not in profile:
                yield Finding(
                    ("profiles", node["profile"]),
                    "containers need local_scratch (local NVMe for enroot's data and cache) "
                    "or every path under containers.enroot",
                )
                break
    dataset = containers["nemo"].get("dataset")
    mounted = [m["mount_point"] for m in doc["mounts"] if "compute" in m["on"]]
    if dataset and not any(dataset.startswith(point.rstrip("/") + "/") for point in mounted):
        yield _warn(
            ("containers", "nemo", "dataset"),
            f"{dataset} is not under a storage mount of the compute nodes",
        )


def gpudirect_settings(doc: Doc) -> Iterator[Finding]:
    ib = doc["networks"]["infiniband"]
    method = ib.get("gpudirect_rdma_method")
    path: PathT = ("networks", "infiniband", "gpudirect_rdma_method")
    if method is not None and not ib["gpudirect_rdma"]:
        yield Finding(path, f"{method} is set but gpudirect_rdma is false")
    modules = doc["software"]["nvidia"]["kernel_modules"]
    if method == "dmabuf" and modules != "open":
        yield Finding(
            path,
            "dmabuf needs the open kernel modules (software.nvidia.kernel_modules: open); "
            "with the proprietary ones use peermem",
        )


def storage_mounts(doc: Doc) -> Iterator[Finding]:
    exports = {e["name"] for e in doc["storage"]["powerscale"]["exports"]}
    for i, mount in enumerate(doc["mounts"]):
        if mount["export"] not in exports:
            yield Finding(
                ("mounts", i, "export"),
                f"unknown export {mount['export']!r} (declared: {', '.join(sorted(exports))})",
            )


def slurm_settings(doc: Doc) -> Iterator[Finding]:
    slurm = doc["slurm"]
    compute = {n["hostname"] for n in doc["compute"]}
    defaults = [i for i, p in enumerate(slurm["partitions"]) if p["default"]]
    for i in defaults[1:]:
        yield Finding(("slurm", "partitions", i, "default"), "more than one default partition")
    for i, part in enumerate(slurm["partitions"]):
        if part["nodes"] != "ALL":
            for j, host in enumerate(part["nodes"]):
                if host not in compute:
                    yield Finding(
                        ("slurm", "partitions", i, "nodes", j), f"{host!r} is not a compute node"
                    )
    gres = slurm["gres"]
    plugins = slurm.get("plugins", {})
    if gres["autodetect"] == "off" and "device_files" not in gres:
        yield Finding(
            ("slurm", "gres"), "autodetect 'off' needs device_files (e.g. /dev/nvidia[0-7])"
        )
    if gres["autodetect"] == "nvml" and plugins.get("nvml") is False:
        yield Finding(
            ("slurm", "gres", "autodetect"),
            "autodetect 'nvml' needs a Slurm build with NVML (plugins.nvml is false)",
        )
    if slurm["mpi_default"] == "pmix" and plugins.get("pmix") is False:
        yield Finding(
            ("slurm", "mpi_default"),
            "MpiDefault pmix needs a Slurm build with PMIx (plugins.pmix is false)",
        )
    cgroup_used = (
        slurm["proctrack_type"] == "proctrack/cgroup" or "task/cgroup" in slurm["task_plugins"]
    )
    if cgroup_used and plugins.get("cgroup_v2") is False:
        yield Finding(
            ("slurm", "proctrack_type"), "cgroup plugins need a Slurm build with cgroup v2 support"
        )
    if "task/none" in slurm["task_plugins"] and len(slurm["task_plugins"]) > 1:
        yield Finding(
            ("slurm", "task_plugins"), "task/none cannot be combined with other task plugins"
        )
    has_backup = any("slurmctld_backup" in n["roles"] for n in doc["control_plane"])
    state = slurm["state_save_location"]
    shared = [
        m["mount_point"].rstrip("/") + "/" for m in doc["mounts"] if "control_plane" in m["on"]
    ]
    if has_backup and not any((state.rstrip("/") + "/").startswith(p) for p in shared):
        yield _warn(
            ("slurm", "state_save_location"),
            f"{state} is not on a mount both controllers share: the backup slurmctld cannot take over",
        )
    accounting = slurm["accounting"]
    if accounting["enabled"]:
        sources = [
            k for k in ("database_password_file", "database_password_env") if k in accounting
        ]
        if len(sources) != 1:
            yield Finding(
                ("slurm", "accounting"),
                "accounting needs exactly one of database_password_file or database_password_env (the password never goes in the inventory)",
            )


def probe_settings(doc: Doc) -> Iterator[Finding]:
    probes = doc["probes"]
    host = probes.get("submit_host")
    if host is not None and host not in {n["hostname"] for n in doc["control_plane"]}:
        yield Finding(("probes", "submit_host"), f"{host!r} is not a control-plane node")
    partition = probes.get("partition")
    if partition is not None and partition not in {p["name"] for p in doc["slurm"]["partitions"]}:
        yield Finding(("probes", "partition"), f"unknown partition {partition!r}")
    yield from _storage_probe(doc)


def _storage_probe(doc: Doc) -> Iterator[Finding]:
    """The storage suite measures at the mount point of the export that holds checkpoints."""
    exports = {
        e["name"] for e in doc["storage"]["powerscale"]["exports"] if e["purpose"] == "checkpoints"
    }
    if not any(m["export"] in exports for m in doc["mounts"]):
        yield _warn(
            ("probes", "storage"),
            "no mount of an export with purpose 'checkpoints': the storage suite cannot run",
        )


def health_settings(doc: Doc) -> Iterator[Finding]:
    thresholds = doc["health"]["thresholds"]
    if thresholds["ber_warn"] >= thresholds["ber_error"]:
        yield Finding(
            ("health", "thresholds", "ber_warn"),
            f"ber_warn {thresholds['ber_warn']:g} must be below ber_error {thresholds['ber_error']:g}",
        )
    names = [tool["name"] for tool in doc["software"]["health_tools"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        yield Finding(
            ("software", "health_tools", names.index(name), "name"),
            f"{name!r} is listed more than once",
        )


def time_settings(doc: Doc) -> Iterator[Finding]:
    cluster = doc["cluster"]
    if cluster["time_sync"] == "chrony" and not cluster.get("ntp_servers"):
        yield Finding(("cluster",), "time_sync 'chrony' needs ntp_servers")


def ssh_settings(doc: Doc) -> Iterator[Finding]:
    if doc["ssh"]["strict_host_key_checking"] != "yes":
        yield _warn(
            ("ssh", "strict_host_key_checking"),
            f"{doc['ssh']['strict_host_key_checking']!r} does not verify host keys; production inventories use 'yes'",
        )


RULES: tuple[Callable[[Doc], Iterator[Finding]], ...] = (
    unique_hostnames,
    unique_addresses,
    unique_port_guids,
    unique_names,
    addresses_in_subnets,
    profiles_match_models,
    firmware_locks,
    compute_hardware,
    rails_and_switches,
    switch_ports,
    subnet_managers,
    control_roles,
    software_versions,
    gpudirect_settings,
    storage_mounts,
    slurm_settings,
    container_settings,
    probe_settings,
    health_settings,
    time_settings,
    ssh_settings,
)


def check_rules(doc: Doc) -> list[Finding]:
    """Every finding of every rule, in rule order."""
    return [finding for rule in RULES for finding in rule(doc)]
