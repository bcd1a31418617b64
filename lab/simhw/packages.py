"""The simulated-hardware packages: real package and command names, versions ending in ``sim1``.

This dict is the ONE place for names and versions (the mock inventory pins them exactly).
``commands`` maps an installed path to (simulator module, program name); every package ships its
own copy of the simulator modules under /usr/lib/trainbed-sim/<package>/ so that packages never
share a file.
"""

from __future__ import annotations

from typing import Any

DRIVER = "535.183.01"

FABRICMANAGER_UNIT = """\
[Unit]
Description=NVIDIA fabric manager service
After=network-online.target
Requires=network-online.target

[Service]
User=root
PrivateTmp=false
Type=forking
TimeoutStartSec=240
ExecStart=/usr/bin/nv-fabricmanager -c /usr/share/nvidia/nvswitch/fabricmanager.cfg
LimitCORE=infinity

[Install]
WantedBy=multi-user.target
"""

PERSISTENCED_UNIT = """\
[Unit]
Description=NVIDIA Persistence Daemon
Wants=syslog.target

[Service]
Type=forking
ExecStart=/usr/bin/nvidia-persistenced --user nvidia-persistenced --verbose
ExecStopPost=/bin/rm -rf /var/run/nvidia-persistenced

[Install]
WantedBy=multi-user.target
"""

DEVNODES_UNIT = """\
[Unit]
Description=Create the NVIDIA device nodes of the GPUs present (simulated driver)
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target nvidia-persistenced.service nvidia-fabricmanager.service slurmd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/trainbed-sim/nvidia-driver-535-server/mkdevnodes

[Install]
WantedBy=sysinit.target
"""

DCGM_UNIT = """\
[Unit]
Description=NVIDIA DCGM service
Wants=syslog.target

[Service]
User=root
PrivateTmp=false
Environment="DCGM_HOME_DIR=/var/log/nvidia-dcgm"
ExecStart=/usr/bin/nv-hostengine -n --service-account nvidia-dcgm
Restart=on-abort

[Install]
WantedBy=multi-user.target
"""

FABRICMANAGER_CFG = """\
# Simulated NVSwitch fabric manager configuration (same keys as the real file)
LOG_LEVEL=4
LOG_FILE_NAME=/var/log/fabricmanager.log
LOG_APPEND_TO_LOG=1
LOG_FILE_MAX_SIZE=1024
LOG_USE_SYSLOG=0
DAEMONIZE=1
BIND_INTERFACE_IP=127.0.0.1
STARTING_TCP_PORT=16000
FABRIC_MODE=0
FABRIC_MODE_RESTART=0
STATE_FILE_NAME=/var/tmp/fabricmanager.state
FM_CMD_BIND_INTERFACE=127.0.0.1
FM_CMD_PORT_NUMBER=6666
FM_STAY_RESIDENT_ON_FAILURES=0
ACCESS_LINK_FAILURE_MODE=0
TRUNK_LINK_FAILURE_MODE=0
NVSWITCH_FAILURE_MODE=0
ABORT_CUDA_JOBS_ON_FM_EXIT=1
TOPOLOGY_FILE_PATH=/usr/share/nvidia/nvswitch
"""

ENROOT = "3.4.1"
PYXIS = "0.16.1"
#: The simulated registry enroot imports from: <registry>/<image>/<tag>/{manifest.json,rootfs/}.
REGISTRY = "/usr/lib/trainbed-sim/enroot/registry"
NEMO_IMAGE = f"{REGISTRY}/nvcr.io/nvidia/nemo/23.11"
UBUNTU_IMAGE = f"{REGISTRY}/registry-1.docker.io/library/ubuntu/22.04"
NEMO_EXAMPLES = f"{NEMO_IMAGE}/rootfs/opt/NeMo/examples/nlp/language_modeling"
#: Where nvslurm-plugin-pyxis puts the plugin on amd64 (libdir=/usr/lib/$(DEB_HOST_MULTIARCH)).
PYXIS_PLUGIN = "/usr/lib/x86_64-linux-gnu/slurm/spank_pyxis.so"

NEMO_ENTRY = """\
# NeMo 23.11 GPT pre-training entry point (simulated image of the trainbed mock cluster)
import importlib.util
import sys

for name in ("hwdesc", "nemo_sim"):  # by their bare names: nemo_sim does `import hwdesc`
    spec = importlib.util.spec_from_file_location(name, "/opt/trainbed-sim/" + name + ".py")
    sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[name])

sys.exit(sys.modules["nemo_sim"].main())
"""

PACKAGES: dict[str, dict[str, Any]] = {
    "nvidia-driver-535-server": {
        "version": f"{DRIVER}-0ubuntu1sim1",
        "description": "NVIDIA driver metapackage (simulated H100 GPUs for the trainbed mock)",
        "modules": ["hwdesc", "nvidia_smi", "nvidia_daemons", "mkdevnodes"],
        "commands": {
            "/usr/bin/nvidia-smi": "nvidia_smi",
            "/usr/bin/nvidia-persistenced": "nvidia_daemons",
            "/usr/lib/trainbed-sim/nvidia-driver-535-server/mkdevnodes": "mkdevnodes",
        },
        "units": {
            "nvidia-persistenced.service": PERSISTENCED_UNIT,
            "trainbed-sim-nvidia-devices.service": DEVNODES_UNIT,
        },
        "enable": ["trainbed-sim-nvidia-devices.service"],
        "system_users": ["nvidia-persistenced"],
        "postinst_run": ["/usr/lib/trainbed-sim/nvidia-driver-535-server/mkdevnodes"],
        "provides": ["nvidia-smi", "nvidia-persistenced"],
    },
    "nvidia-fabricmanager-535": {
        "version": f"{DRIVER}-1sim1",
        "description": "Fabric Manager for NVSwitch based systems (simulated)",
        "modules": ["hwdesc", "nvidia_daemons"],
        "commands": {"/usr/bin/nv-fabricmanager": "nvidia_daemons"},
        "units": {"nvidia-fabricmanager.service": FABRICMANAGER_UNIT},
        "files": {
            "/usr/share/nvidia/nvswitch/fabricmanager.cfg": FABRICMANAGER_CFG,
            # nv-fabricmanager's own version (compiled into the real binary): it refuses a
            # driver of any other version.
            "/usr/lib/trainbed-sim/nvidia-fabricmanager-535/fabricmanager-version": f"{DRIVER}\n",
        },
        "conffiles": ["/usr/share/nvidia/nvswitch/fabricmanager.cfg"],
    },
    "datacenter-gpu-manager": {
        "version": "1:3.3.8-1sim1",
        "description": "NVIDIA Data Center GPU Manager (simulated dcgmi and nv-hostengine)",
        "modules": ["hwdesc", "dcgmi", "nvidia_daemons"],
        "commands": {"/usr/bin/dcgmi": "dcgmi", "/usr/bin/nv-hostengine": "nvidia_daemons"},
        "units": {"nvidia-dcgm.service": DCGM_UNIT},
        "system_users": ["nvidia-dcgm"],
    },
    "infiniband-diags": {
        "version": "2410mlnx54-1.2410068sim1",
        "description": "InfiniBand diagnostic programs (simulated ConnectX-7 ports)",
        "modules": ["hwdesc", "ibdiags"],
        "commands": {
            "/usr/sbin/ibstat": "ibdiags",
            "/usr/sbin/ibstatus": "ibdiags",
            "/usr/sbin/sminfo": "ibdiags",
            "/usr/sbin/perfquery": "ibdiags",
            "/usr/sbin/ibnetdiscover": "ibdiags",
        },
    },
    "ibverbs-utils": {
        "version": "2410mlnx54-1.2410068sim1",
        "description": "Examples for the libibverbs library (simulated ibv_devinfo, ibv_devices)",
        "modules": ["hwdesc", "ibverbs"],
        "commands": {"/usr/bin/ibv_devinfo": "ibverbs", "/usr/bin/ibv_devices": "ibverbs"},
    },
    "opensm": {
        "version": "5.20.0.MLNX20240806.6ad2b7e6-0.1.2410068sim1",
        "description": "InfiniBand subnet manager (simulated fabric; no service enabled)",
        "modules": ["hwdesc", "opensm"],
        "commands": {"/usr/sbin/opensm": "opensm"},
    },
    "perftest": {
        "version": "24.10.0-0.65.g9093bae.2410068sim1",
        "description": "InfiniBand verbs performance tests (simulated ib_write_bw, ib_write_lat)",
        "modules": ["hwdesc", "perftest"],
        "commands": {"/usr/bin/ib_write_bw": "perftest", "/usr/bin/ib_write_lat": "perftest"},
    },
    "nccl-tests": {
        "version": "2.17.9-1sim1",
        "description": "NCCL tests (simulated all_reduce_perf, all_gather_perf)",
        "modules": ["hwdesc", "nccl_tests"],
        "commands": {
            "/usr/bin/all_reduce_perf": "nccl_tests",
            "/usr/bin/all_gather_perf": "nccl_tests",
        },
    },
    "enroot": {
        "version": f"{ENROOT}-1sim1",
        "description": "Unprivileged container sandboxing utility (simulated; images from a "
        "simulated registry holding the NeMo 23.11 image)",
        "modules": ["enroot"],
        "commands": {"/usr/bin/enroot": "enroot"},
        "files": {
            f"{NEMO_IMAGE}/manifest.json": '{"image": "nvcr.io/nvidia/nemo:23.11", "layers": 47}\n',
            f"{NEMO_EXAMPLES}/megatron_gpt_pretraining.py": NEMO_ENTRY,
            f"{NEMO_IMAGE}/rootfs/usr/local/bin/python": '#!/bin/sh\nexec /usr/bin/python3 "$@"\n',
            f"{UBUNTU_IMAGE}/manifest.json": '{"image": "ubuntu:22.04", "layers": 1}\n',
            f"{UBUNTU_IMAGE}/rootfs/etc/os-release": 'NAME="Ubuntu"\nVERSION_ID="22.04"\n',
        },
        "copy": {
            f"{NEMO_EXAMPLES}/conf/megatron_gpt_config.yaml": "nemo_image/megatron_gpt_config.yaml",
            f"{NEMO_IMAGE}/rootfs/opt/trainbed-sim/nemo_sim.py": "nemo_sim.py",
            f"{NEMO_IMAGE}/rootfs/opt/trainbed-sim/hwdesc.py": "hwdesc.py",
        },
        "executables": [f"{NEMO_IMAGE}/rootfs/usr/local/bin/python"],
        "depends": ["python3", "util-linux"],
    },
    "enroot+caps": {
        "version": f"{ENROOT}-1sim1",
        "description": "Unprivileged container sandboxing utility - extra capabilities (simulated)",
        "modules": [],
        "commands": {},
        "depends": [f"enroot (= {ENROOT}-1sim1)"],
    },
    "pciutils": {
        "version": "1:3.9.0-4sim1",
        "description": "PCI utilities (simulated lspci: the XE9680 PCIe tree of the description)",
        "modules": ["hwdesc", "lspci"],
        "commands": {"/usr/bin/lspci": "lspci"},
    },
    # NVIDIA publishes nvbandwidth as source only; the package is named after the tool.
    "nvbandwidth": {
        "version": "0.8-1sim1",
        "description": "GPU memcpy bandwidth microbenchmark (simulated nvbandwidth v0.8)",
        "modules": ["hwdesc", "nvbandwidth"],
        "commands": {"/usr/bin/nvbandwidth": "nvbandwidth"},
    },
    "nvslurm-plugin-pyxis": {
        "version": f"{PYXIS}-1sim1",
        "description": "Pyxis is a SPANK plugin for the SLURM workload manager (simulated "
        "containers: a real SPANK plugin built against the host's Slurm headers)",
        "modules": [],
        "commands": {},
        "c_plugins": {PYXIS_PLUGIN: "spank_pyxis.c"},
        "files": {"/usr/share/pyxis/pyxis.conf": f"required {PYXIS_PLUGIN}\n"},
        "depends": ["enroot (>= 1.1.0)"],
    },
}


def versions() -> dict[str, str]:
    """Package name -> exact version (what the mock inventory pins)."""
    return {name: spec["version"] for name, spec in PACKAGES.items()}
