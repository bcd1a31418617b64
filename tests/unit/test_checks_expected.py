"""The expected state the acceptance checks assert, derived from the inventory (no SSH)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PROD_YAML, REPO
from trainbed.checks import expected
from trainbed.inventory import load_inventory
from trainbed.remote import host_spec

MOCK_YAML = REPO / "inventory" / "mock.yaml"


@pytest.fixture(scope="module")
def prod():
    return load_inventory(PROD_YAML).inventory


@pytest.fixture(scope="module")
def mock():
    return load_inventory(MOCK_YAML).inventory


def test_units_by_role(prod) -> None:
    def units(host: str) -> list[str]:
        return list(expected.units(prod, prod.node(host)))

    assert units("gpu01")[1:4] == ["nvidia-fabricmanager", "nvidia-persistenced", "nvidia-dcgm"]
    assert {"munge", "slurmd"} <= set(units("gpu01")) and "slurmctld" not in units("gpu01")
    assert {"slurmctld", "munge"} <= set(units("cp1")) and "slurmd" not in units("cp1")
    assert "slurmctld" in units("cp2")  # the backup controller
    assert {"mariadb", "slurmdbd"} <= set(units("cp3"))
    opensm = [u for u in units("cp1") if u.startswith("opensm@")]
    assert opensm == [f"opensm@{rail.name}" for rail in prod.rails]
    assert "opensm" not in units("cp1")  # the distribution's unit is switched off, not run
    assert not [u for u in units("cp3") if u.startswith("opensm")]


def test_units_of_the_mock(mock) -> None:
    gpu = set(expected.units(mock, mock.node("gpu01")))
    assert {"nvidia-fabricmanager", "nvidia-persistenced", "nvidia-dcgm", "munge", "slurmd"} <= gpu
    # gpu01 is the standby subnet manager of every rail in the mock inventory
    assert len([u for u in gpu if u.startswith("opensm@")]) == len(mock.rails)


def test_users_groups_directories_modules(prod) -> None:
    gpu = prod.node("gpu01")
    assert expected.users(prod, gpu)["slurm"].uid == prod.slurm.slurm_uid
    assert expected.groups(prod, gpu)["munge"].gid == prod.slurm.munge_uid
    assert expected.directories(prod, gpu)["/var/log/slurm"].owner == "slurm"
    assert prod.slurm.state_save_location not in expected.directories(prod, gpu)
    assert prod.slurm.state_save_location in expected.directories(prod, prod.node("cp1"))
    assert list(expected.modules(prod, gpu)) == ["nvidia-peermem"]
    assert expected.modules(prod, prod.node("cp1")) == {}


def test_packages_are_the_locked_ones(prod) -> None:
    packages = expected.packages(prod, prod.node("gpu01"))
    driver = prod.software.nvidia.driver
    assert (packages[driver.name].version, packages[driver.name].held) == (driver.version, True)
    assert "nvidia-driver-535-server" not in expected.packages(prod, prod.node("cp1"))


def test_hcas_and_rails(prod) -> None:
    node = prod.node("gpu01")
    assert list(expected.hcas(prod, node)) == [h.device for h in node.hcas]
    assert set(expected.rails_of(prod, node)) == {r.name for r in prod.rails}


def test_hosts_of_groups_and_functions(mock) -> None:
    assert expected.hosts_of(mock, "all") == ["cp1", "gpu01", "gpu02"]
    assert expected.hosts_of(mock, "compute") == ["gpu01", "gpu02"]
    assert expected.hosts_of(mock, "opensm") == ["cp1", "gpu01"]
    assert expected.hosts_of(mock, expected.munge_peers) == ["gpu01", "gpu02"]


@pytest.mark.parametrize(
    ("limit", "hosts"),
    [
        (None, ["cp1", "cp2", "cp3", "gpu01"]),
        ("compute", ["gpu01", "gpu02", "gpu03", "gpu04", "gpu05", "gpu06"]),
        ("gpu0[12]", ["gpu01", "gpu02"]),
        ("slurmdbd,gpu02", ["cp3", "gpu02"]),
        ("cp*", ["cp1", "cp2", "cp3"]),
    ],
)
def test_select_hosts(prod, limit, hosts) -> None:
    selected = expected.select_hosts(prod, limit)
    if limit is None:
        assert selected[:4] == hosts and len(selected) == len(prod.nodes)
    else:
        assert selected == hosts


def test_select_hosts_refuses_a_pattern_matching_nothing(prod) -> None:
    with pytest.raises(ValueError, match="'gpu99' matches no host or group"):
        expected.select_hosts(prod, "compute,gpu99")


def test_slurm_plugins_follow_what_the_inventory_relies_on(prod, mock) -> None:
    assert set(expected.slurm_plugins(prod)) == {"gpu_nvml.so", "cgroup_v2.so", "mpi_pmix*.so"}
    assert expected.slurm_plugins(prod)["gpu_nvml.so"] == "gres.autodetect is nvml"
    assert expected.slurm_plugins(mock) == {}


def test_mount_options(mock) -> None:
    mount = expected.mounts(mock, mock.node("gpu01"))["/mnt/datasets"]
    assert expected.expected_mount_options(mount) == [
        "vers=3",
        "hard",
        "nofail",
        "proto=tcp",
        "_netdev",
    ]
    assert expected.kernel_mount_options(mount) == ["vers=3", "hard", "proto=tcp"]
    assert expected.mount_unit_path(mount) == "/etc/systemd/system/mnt-datasets.mount"


def test_managed_files_leave_secrets_out(prod) -> None:
    files = expected.managed_files(prod, prod.node("cp3"))
    assert "/etc/slurm/slurm.conf" in files and "/etc/trainbed/catalog.json" in files
    assert "/etc/slurm/slurmdbd.conf" not in files  # holds the database password
    assert "/etc/munge/munge.key" not in files
    everything = expected.files(prod, prod.node("cp3"))
    assert everything["/etc/slurm/slurmdbd.conf"].secret
    assert everything["/etc/munge/munge.key"].mode == "0400"
    assert "/etc/modules-load.d/nvidia-peermem.conf" in expected.managed_files(
        prod, prod.node("gpu01")
    )


def test_limits_parse() -> None:
    text = "# c\n*\tsoft\tmemlock\tunlimited\nroot hard nofile 1048576 # x\nbad line\n"
    assert expected.limits(text) == {
        ("*", "soft", "memlock"): "unlimited",
        ("root", "hard", "nofile"): "1048576",
    }


def test_node_role(prod) -> None:
    assert expected.node_role(prod.node("gpu01")) == "compute"
    assert expected.node_role(prod.node("cp3")) == "slurmdbd"


def test_host_spec_uses_openssh_with_known_hosts(prod) -> None:
    spec, kwargs = host_spec(prod, prod.node("gpu01"))
    assert spec == f"ssh://{prod.ssh.user}@{prod.node('gpu01').address}:{prod.ssh.port}"
    extra = kwargs["ssh_extra_args"]
    assert "-o StrictHostKeyChecking=yes" in extra
    assert f"-o UserKnownHostsFile={prod.ssh.known_hosts_file}" in extra
    assert "ControlPath=" in extra and "%C" in extra
    assert kwargs["ssh_identity_file"] == str(prod.ssh.key_file)
    assert Path(kwargs["ssh_identity_file"]).is_absolute()


class _FakeHost:
    """A testinfra host whose ssh backend raises on exit 255, like the real one."""

    def __init__(self, reachable: bool) -> None:
        self.reachable = reachable

    def run(self, command: str):
        from types import SimpleNamespace

        from testinfra.backend.base import CommandResult

        backend = SimpleNamespace(decode=bytes.decode)
        if command == "true" and self.reachable:
            return CommandResult(backend, 0, command.encode(), b"", b"")
        stderr = b"sminfo: iberror: failed: query" if self.reachable else b"ssh: connect: No route"
        raise RuntimeError(CommandResult(backend, 255, command.encode(), b"", stderr))


def test_a_command_exiting_255_is_not_an_ssh_failure() -> None:
    from trainbed.remote import Remote, Unreachable

    result = Remote("gpu02", _FakeHost(reachable=True), "10.0.0.2").run("sminfo -C mlx5_4 -P 1")
    assert result.rc == 255 and "iberror" in result.stderr
    with pytest.raises(
        Unreachable, match=r"gpu02: SSH to 10.0.0.2:22 failed: ssh: connect: No route"
    ):
        Remote("gpu02", _FakeHost(reachable=False), "10.0.0.2").run("sminfo")
