"""Turn a schema-valid, rule-checked inventory document into the typed model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainbed.inventory.model import (
    DEFAULT_MOUNT_OPTIONS,
    Accounting,
    Cluster,
    ComputeNode,
    Containers,
    ControlNode,
    Cpu,
    Export,
    FirmwareLock,
    Gpus,
    Hca,
    Health,
    HealthThresholds,
    InfiniBand,
    InfinibandSoftware,
    Inventory,
    IpNetwork,
    Mount,
    Networks,
    NvidiaSoftware,
    Package,
    Partition,
    PcieLink,
    PcieLinks,
    PowerScale,
    Probes,
    Profile,
    Rail,
    Repository,
    SlurmSettings,
    SlurmSoftware,
    Software,
    Ssh,
    StorageProbe,
    SubnetManager,
    Switch,
    Thresholds,
)
from trainbed.inventory.rules import externally_managed


def _path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _package(doc: dict[str, Any]) -> Package:
    return Package(doc["name"], str(doc["version"]))


def _packages(docs: list[dict[str, Any]] | None) -> tuple[Package, ...]:
    return tuple(_package(doc) for doc in docs or ())


def _cpu(doc: dict[str, Any]) -> Cpu:
    return Cpu(doc["sockets"], doc["cores_per_socket"], doc["threads_per_core"])


def _hca(doc: dict[str, Any]) -> Hca:
    return Hca(
        doc["device"],
        doc["rail"],
        doc["port"],
        doc.get("port_guid"),
        doc.get("nearest_gpu"),
        doc.get("switch"),
        doc.get("switch_port"),
    )


def _network(doc: dict[str, Any]) -> IpNetwork:
    return IpNetwork(doc["subnet"], doc.get("gateway"), doc.get("mtu"))


def _profile(name: str, doc: dict[str, Any]) -> Profile:
    gpus = doc["gpus"]
    return Profile(
        name=name,
        model=doc["model"],
        cpu=_cpu(doc["cpu"]),
        real_memory_mb=doc["real_memory_mb"],
        gpus=Gpus(
            gpus["model"],
            gpus["count"],
            gpus.get("memory_mib"),
            gpus["nvswitch"],
            tuple(gpus.get("bus_ids", ())),
        ),
        local_scratch=doc.get("local_scratch"),
        firmware=FirmwareLock(
            doc.get("firmware", {}).get("hca"), _vbios(doc.get("firmware", {}).get("vbios"))
        ),
        pcie=PcieLinks(PcieLink(**doc["pcie"]["gpu"]), PcieLink(**doc["pcie"]["hca"])),
    )


def _health(doc: dict[str, Any]) -> Health:
    thresholds = dict(doc["thresholds"])
    thresholds["critical_xids"] = tuple(thresholds["critical_xids"])
    settings = {k: v for k, v in doc.items() if k != "thresholds"}
    return Health(HealthThresholds(**thresholds), **settings)


def _vbios(version: str | None) -> str | None:
    """nvidia-smi prints VBIOS hex digits in upper case."""
    return version.upper() if version else None


def _software(doc: dict[str, Any], base: Path) -> Software:
    nvidia, ib, slurm = doc["nvidia"], doc["infiniband"], doc["slurm"]
    nv_packages, ib_packages, slurm_packages = nvidia["packages"], ib["packages"], slurm["packages"]
    return Software(
        repositories=tuple(
            Repository(
                repo["name"],
                tuple(repo["uris"]),
                tuple(repo["suites"]),
                tuple(repo.get("components", ())),
                _path(base, repo["signed_by"]),
                tuple(repo["on"]),
            )
            for repo in doc["repositories"]
        ),
        kernel=_packages(doc.get("kernel", {}).get("packages")),
        nvidia=NvidiaSoftware(
            driver_branch=nvidia["driver_branch"],
            driver_version=nvidia["driver_version"],
            fabricmanager_version=nvidia["fabricmanager_version"],
            driver=_package(nv_packages["driver"]),
            fabricmanager=_package(nv_packages["fabricmanager"]),
            dcgm=_package(nv_packages["dcgm"]) if "dcgm" in nv_packages else None,
            extra=_packages(nv_packages.get("extra")),
            kernel_modules=nvidia["kernel_modules"],
        ),
        infiniband=InfinibandSoftware(
            ofed_flavour=ib["ofed"]["flavour"],
            ofed_version=str(ib["ofed"]["version"]),
            ofed=_packages(ib_packages.get("ofed")),
            diagnostics=_packages(ib_packages["diagnostics"]),
            subnet_manager=_package(ib_packages["subnet_manager"]),
            perftest=_package(ib_packages["perftest"]),
            nccl=_packages(ib_packages.get("nccl")),
        ),
        slurm=SlurmSoftware(
            version=slurm["version"],
            common=_packages(slurm_packages["common"]),
            controller=_packages(slurm_packages["controller"]),
            database=_packages(slurm_packages.get("database")),
            compute=_packages(slurm_packages["compute"]),
        ),
        health_tools=_packages(doc["health_tools"]),
        probe_tools=_packages(doc["probe_tools"]),
    )


def _slurm(doc: dict[str, Any], base: Path, compute: tuple[ComputeNode, ...]) -> SlurmSettings:
    accounting = doc["accounting"]
    password_file = accounting.get("database_password_file")
    users = doc["users"]
    all_compute = tuple(node.hostname for node in compute)
    return SlurmSettings(
        partitions=tuple(
            Partition(
                part["name"],
                all_compute if part["nodes"] == "ALL" else tuple(part["nodes"]),
                part["default"],
                part["max_time"],
                part["state"],
            )
            for part in doc["partitions"]
        ),
        accounting=Accounting(
            enabled=accounting["enabled"],
            database_name=accounting["database_name"],
            database_user=accounting["database_user"],
            database_password_file=_path(base, password_file) if password_file else None,
            database_password_env=accounting.get("database_password_env"),
        ),
        gres_autodetect=doc["gres"]["autodetect"],
        gres_device_files=doc["gres"].get("device_files"),
        proctrack_type=doc["proctrack_type"],
        task_plugins=tuple(doc["task_plugins"]),
        mpi_default=doc["mpi_default"],
        state_save_location=doc["state_save_location"],
        plugins=dict(doc.get("plugins", {})),
        munge_uid=users["munge_uid"],
        slurm_uid=users["slurm_uid"],
    )


def _containers(doc: dict[str, Any] | None) -> Containers | None:
    if doc is None:
        return None
    nemo = doc["nemo"]
    dataset = nemo.get("dataset")
    default_mounts = [dataset.rsplit("/", 1)[0] or "/"] if dataset else []
    return Containers(
        repository=doc["repository"],
        enroot_packages=_packages(doc["packages"]["enroot"]),
        pyxis=_package(doc["packages"]["pyxis"]),
        enroot_overrides=dict(doc.get("enroot", {})),
        nemo_image=nemo["image"],
        dataset=dataset,
        mounts=tuple(nemo.get("mounts", default_mounts)),
    )


def gpudirect_method(doc: dict[str, Any]) -> str | None:
    """How GPUDirect RDMA reaches GPU memory: the inventory's choice, else DMA-BUF with the open
    kernel modules (NVIDIA's recommendation) and nvidia-peermem with the proprietary ones; None
    without GPUDirect RDMA."""
    ib = doc["networks"]["infiniband"]
    if not ib["gpudirect_rdma"]:
        return None
    modules = doc["software"]["nvidia"]["kernel_modules"]
    return str(ib.get("gpudirect_rdma_method") or ("dmabuf" if modules == "open" else "peermem"))


def build_inventory(doc: dict[str, Any], source: Path) -> Inventory:
    """Build the model; `doc` must satisfy the schema and the semantic rules, its defaults set
    (`trainbed.inventory.schema.apply_defaults`): the schema is the one source of defaults."""
    base = source.parent
    cluster, ssh, networks, ib = (
        doc["cluster"],
        doc["ssh"],
        doc["networks"],
        doc["networks"]["infiniband"],
    )
    profiles = {name: _profile(name, body) for name, body in doc["profiles"].items()}
    compute = tuple(
        ComputeNode(
            node["hostname"],
            node["address"],
            node.get("ethernet_address"),
            node.get("bmc_address"),
            profiles[node["profile"]],
            tuple(_hca(hca) for hca in node["hcas"]),
        )
        for node in doc["compute"]
    )
    powerscale = doc["storage"]["powerscale"]
    exports = {e["name"]: Export(e["name"], e["path"], e["purpose"]) for e in powerscale["exports"]}
    probes = doc["probes"]
    return Inventory(
        source=source,
        cluster=Cluster(
            cluster["name"],
            cluster["domain"],
            cluster["os_release"],
            tuple(cluster.get("ntp_servers", ())),
            cluster["timezone"],
            cluster["time_sync"],
        ),
        ssh=Ssh(
            ssh["user"],
            ssh["port"],
            _path(base, ssh["key_file"]),
            _path(base, ssh["known_hosts_file"]),
            ssh["strict_host_key_checking"],
        ),
        networks=Networks(
            _network(networks["management"]),
            _network(networks["ethernet"]),
            InfiniBand(
                ib["network_config"],
                ib["link_rate_gbps"],
                ib["link_layer"],
                ib["gpudirect_rdma"],
                tuple(
                    Rail(
                        rail["name"],
                        rail["switch"],
                        rail["subnet_prefix"],
                        tuple(
                            SubnetManager(sm["host"], sm["priority"])
                            for sm in rail["subnet_managers"]
                        ),
                    )
                    for rail in ib["rails"]
                ),
                gpudirect_method=gpudirect_method(doc),
            ),
        ),
        switches=tuple(
            Switch(
                sw["name"],
                sw["model"],
                sw["role"],
                sw["fabric"],
                externally_managed(sw),
                tuple(sw.get("uplinks", ())),
            )
            for sw in doc["switches"]
        ),
        control_plane=tuple(
            ControlNode(
                node["hostname"],
                node["address"],
                node.get("ethernet_address"),
                tuple(node["roles"]),
                tuple(_hca(hca) for hca in node.get("hcas", ())),
                _cpu(node["cpu"]) if "cpu" in node else None,
                node.get("real_memory_mb"),
            )
            for node in doc["control_plane"]
        ),
        profiles=profiles,
        compute=compute,
        storage=PowerScale(
            powerscale["name"],
            powerscale["model"],
            powerscale.get("onefs_version"),
            powerscale["smartconnect_zone"],
            powerscale.get("address"),
            tuple(exports.values()),
        ),
        mounts=tuple(
            Mount(
                exports[mount["export"]],
                mount["mount_point"],
                mount["nfs_version"],
                tuple(mount.get("options", DEFAULT_MOUNT_OPTIONS)),
                mount["automount"],
                tuple(mount["on"]),
                mount["mount_now"],
            )
            for mount in doc["mounts"]
        ),
        software=_software(doc["software"], base),
        slurm=_slurm(doc["slurm"], base, compute),
        probes=Probes(
            probes.get("submit_host"),
            probes.get("partition"),
            probes["job_time_limit"],
            Thresholds(**probes["thresholds"]),
            probes["work_dir"],
            StorageProbe(**probes["storage"]),
        ),
        raw=doc,
        containers=_containers(doc.get("containers")),
        health=_health(doc["health"]),
    )
