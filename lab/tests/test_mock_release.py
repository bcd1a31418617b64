"""Another Debian release for the nodes (`lab/up --release trixie`): sources, versions, inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import aptsources, image, inventory
from lab.config import REPO_ROOT
from lab.simhw import packages
from lab.tests.test_mock_plan import DEB822

#: `apt-cache policy slurmctld munge no-such-package` in the Debian 13 node image, 2026-12-01
#: (stdout; the mirror's URL replaced by MIRROR; the unknown name prints only to stderr).
POLICY = """\
slurmctld:
  Installed: (none)
  Candidate: 24.11.5-4+deb13u1
  Version table:
     24.11.5-4+deb13u1 500
        500 MIRROR trixie/main amd64 Packages
        500 MIRROR trixie-security/main amd64 Packages
munge:
  Installed: (none)
  Candidate: 0.5.16-1.1~deb13u1
  Version table:
     0.5.16-1.1~deb13u1 500
        500 MIRROR trixie/main amd64 Packages
        500 MIRROR trixie-security/main amd64 Packages
"""

#: What apt offered in that image for every Debian package the mock inventory pins.
TRIXIE = {
    "munge": "0.5.16-1.1~deb13u1",
    "slurm-client": "24.11.5-4+deb13u1",
    "slurmctld": "24.11.5-4+deb13u1",
    "slurmdbd": "24.11.5-4+deb13u1",
    "mariadb-server": "1:11.8.9+ds-0+deb13u1",
    "slurmd": "24.11.5-4+deb13u1",
    "fio": "3.39-1",
    "rdma-core": "56.1-1",
}


def test_deb822_suites_retargeted_only() -> None:
    text = aptsources.retarget("debian.sources", DEB822, "bookworm", "trixie")
    assert "Suites: trixie trixie-updates" in text.splitlines()
    assert "Suites: trixie-security" in text.splitlines()
    assert "bookworm" not in text
    assert text.count("\n") == DEB822.count("\n")
    assert "URIs: http://mirror.example/debian-security" in text  # the rest is kept


def test_one_line_suite_retargeted_not_a_lookalike() -> None:
    text = (
        "deb [signed-by=/k.gpg arch=amd64] http://one.example/debian bookworm-updates main\n"
        "deb http://one.example/debian bookworm main\n"
        "deb https://other.example/apt cloud-sdk-bookworm main\n"
        "# deb http://one.example/debian bookworm main\n"
    )
    got = aptsources.retarget("x.list", text, "bookworm", "trixie").splitlines()
    assert got == [
        "deb [signed-by=/k.gpg arch=amd64] http://one.example/debian trixie-updates main",
        "deb http://one.example/debian trixie main",
        "deb https://other.example/apt cloud-sdk-bookworm main",
        "# deb http://one.example/debian bookworm main",
    ]


def test_release_plan_reads_the_host_mirror_with_other_suites(tmp_path: Path) -> None:
    sources = tmp_path / "etc/apt/sources.list.d"
    sources.mkdir(parents=True)
    (sources / "debian.sources").write_text(DEB822)
    bookworm, _, mirror = image.plan(tmp_path)
    trixie, files, trixie_mirror = image.plan(tmp_path, "trixie")
    assert mirror == trixie_mirror == "http://mirror.example/debian"
    assert "Suites: trixie trixie-updates" in files["etc/apt/sources.list.d/debian.sources"]
    assert len({bookworm.base, trixie.base, bookworm.node, trixie.node}) == 4


def test_unknown_release_is_refused(tmp_path: Path) -> None:
    with pytest.raises(image.MockError, match="unknown Debian release 'sid'"):
        image.plan(tmp_path, "sid")


def test_parse_policy() -> None:
    assert image.parse_policy(POLICY) == {
        "slurmctld": "24.11.5-4+deb13u1",
        "munge": "0.5.16-1.1~deb13u1",
    }
    assert image.parse_policy("foo:\n  Installed: (none)\n  Candidate: (none)\n") == {}


@pytest.fixture
def inv() -> dict:
    return inventory.load(REPO_ROOT / "inventory/mock.yaml")


def test_for_release_states_the_release_and_its_versions(inv: dict) -> None:
    simulated = set(packages.PACKAGES)
    assert sorted(inventory.debian_package_names(inv, simulated)) == sorted(TRIXIE)
    out = inventory.for_release(inv, "debian-13", TRIXIE, simulated)
    assert out["cluster"]["os_release"] == "debian-13"
    software = out["software"]
    assert software["slurm"]["version"] == "24.11.5"
    pinned = {p["name"]: p["version"] for g in software["slurm"]["packages"].values() for p in g}
    assert pinned["mariadb-server"] == "1:11.8.9+ds-0+deb13u1"
    assert pinned["slurmd"] == "24.11.5-4+deb13u1"
    assert software["probe_tools"] == [{"name": "fio", "version": "3.39-1"}]
    assert software["infiniband"]["ofed"]["version"] == "56.1"
    # the simulated packages keep theirs; the input is not modified
    assert software["health_tools"] == inv["software"]["health_tools"]
    assert inv["cluster"]["os_release"] == "debian-12"


def test_for_release_refuses_a_package_the_release_lacks(inv: dict) -> None:
    versions = {k: v for k, v in TRIXIE.items() if k != "slurmdbd"}
    with pytest.raises(ValueError, match="debian-13 offers no version of slurmdbd"):
        inventory.for_release(inv, "debian-13", versions, set(packages.PACKAGES))


def test_upstream() -> None:
    assert inventory.upstream("1:11.8.9+ds-0+deb13u1") == "11.8.9+ds"
    assert inventory.upstream("24.11.5-4+deb13u1") == "24.11.5"
