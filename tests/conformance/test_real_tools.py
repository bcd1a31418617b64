"""Each rendered file, fed to the real program that reads it (see conftest.py), and beside each
a negative control: the same judgement on a file with one known defect must fail."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.conformance.conftest import INVENTORIES, Box

NAMES = sorted(INVENTORIES)
#: Keys a container cannot show, with why; nothing else is excused.
CONTAINER_ONLY_SYSCTL = {
    "net.core.netdev_max_backlog": "global, not per network namespace: only the host's "
    "/proc/sys/net has it",
}


def _files(tree: Path, name: str, pattern: str) -> list[Path]:
    return sorted(p for p in (tree / name).glob(pattern) if p.is_file())


def _in_box(tree: Path, path: Path) -> str:
    return "/render/" + str(path.relative_to(tree))


# ------------------------------------------------------------------------------ shellcheck


def _shellcheck(box: Box, paths: list[str]) -> list[str]:
    proc = box.sh(f"shellcheck -S warning -f gcc {' '.join(map(shlex.quote, paths))}")
    return [line for line in proc.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("name", NAMES)
def test_shellcheck_accepts_every_script(box: Box, tree: Path, name: str) -> None:
    # `NAME.files` is a job's archive manifest (the paths its archive holds), not a script.
    scripts = [p for p in _files(tree, name, "scripts/*") if p.suffix != ".files"]
    assert scripts
    assert _shellcheck(box, [_in_box(tree, p) for p in scripts]) == []


def test_shellcheck_control(box: Box) -> None:
    box.put("/tmp/bad.sh", "#!/bin/bash\nexport NCCL_IB_HCA==mlx5_0:1\n")
    assert any("SC1097" in line for line in _shellcheck(box, ["/tmp/bad.sh"]))


# ------------------------------------------------------------------------- systemd-analyze


def _verify(box: Box, units: list[Path], tree: Path) -> list[str]:
    """systemd-analyze verify on the units copied where systemd looks: every line it prints is a
    problem (unknown keys are only printed, with exit status 0)."""
    copy = " ".join(f"cp {shlex.quote(_in_box(tree, u))} /etc/systemd/system/;" for u in units)
    names = [u.name.replace("@.", "@rail0.") for u in units]
    # --man=no: the image has no man(1) to look up Documentation=man:... pages with.
    proc = box.sh(
        f"{copy} cd /etc/systemd/system && systemd-analyze verify --man=no {' '.join(names)}"
    )
    out = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return out if out or proc.returncode == 0 else [f"exit {proc.returncode}"]


@pytest.mark.parametrize("name", NAMES)
def test_systemd_analyze_verifies_every_unit(box: Box, tree: Path, name: str) -> None:
    units = _files(tree, name, "*/etc/systemd/system/*")
    assert units
    by_name = {u.name: u for u in units}  # hosts render the same unit alike
    assert _verify(box, sorted(by_name.values()), tree) == []


def test_systemd_analyze_control(box: Box, tmp_path: Path) -> None:
    box.put(
        "/etc/systemd/system/trainbed-bad.service",
        "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\nRestartSecs=5\n",
    )
    proc = box.sh("cd /etc/systemd/system && systemd-analyze verify --man=no trainbed-bad.service")
    assert "RestartSecs" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------------- sysctl


def _unknown_sysctl_keys(box: Box, text: str) -> list[str]:
    keys = [
        line.split("=", 1)[0].strip().lstrip("-")
        for line in text.splitlines()
        if "=" in line and not line.lstrip().startswith(("#", ";"))
    ]
    assert keys
    return [
        key
        for key in keys
        if key not in CONTAINER_ONLY_SYSCTL and box.sh(f"sysctl -n {shlex.quote(key)}").returncode
    ]


@pytest.mark.parametrize("name", NAMES)
def test_sysctl_knows_every_key(box: Box, tree: Path, name: str) -> None:
    confs = _files(tree, name, "*/etc/sysctl.d/*.conf")
    assert confs
    for conf in confs:
        assert _unknown_sysctl_keys(box, conf.read_text()) == [], conf


def test_sysctl_control(box: Box) -> None:
    assert _unknown_sysctl_keys(box, "net.core.rmem_max = 1\nnet.core.no_such_key = 1\n") == [
        "net.core.no_such_key"
    ]


# -------------------------------------------------------------------------------- chronyd


def _chronyd_parses(box: Box, path: str) -> tuple[bool, str]:
    proc = box.sh(f"chronyd -p -f {shlex.quote(path)}")
    return proc.returncode == 0 and "Could not" not in proc.stderr, proc.stdout + proc.stderr


def test_chronyd_accepts_every_config(box: Box, tree: Path) -> None:
    confs = [c for name in NAMES for c in _files(tree, name, "*/etc/chrony/chrony.conf")]
    assert confs, "no inventory renders chrony.conf"
    for conf in confs:
        ok, out = _chronyd_parses(box, _in_box(tree, conf))
        assert ok, f"{conf}: {out}"


def test_chronyd_control(box: Box) -> None:
    box.put("/tmp/chrony-bad.conf", "server ntp1.example.com iburst\nbogusdirective 1\n")
    ok, out = _chronyd_parses(box, "/tmp/chrony-bad.conf")
    assert not ok, out


# ------------------------------------------------------------------------------------ apt


def _apt_reads(box: Box, sources: list[str], preferences: list[str]) -> tuple[bool, str]:
    """apt-cache policy on just these sources and pins: it parses both and refuses malformed
    entries (E: lines, exit 100); nothing is downloaded."""
    script = (
        "rm -rf /tmp/apt && mkdir -p /tmp/apt/s /tmp/apt/p /tmp/apt/lists/partial && "
        + "".join(f"cp {shlex.quote(s)} /tmp/apt/s/; " for s in sources)
        + "".join(f"cp {shlex.quote(p)} /tmp/apt/p/; " for p in preferences)
        + "apt-cache -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/apt/s "
        "-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/tmp/apt/p "
        "-o Dir::State::Lists=/tmp/apt/lists -o Dir::Cache::pkgcache= "
        "-o Dir::Cache::srcpkgcache= policy"
    )
    proc = box.sh(script)
    out = proc.stdout + proc.stderr
    return proc.returncode == 0 and "E:" not in out, out


@pytest.mark.parametrize("name", NAMES)
def test_apt_reads_sources_and_pins(box: Box, tree: Path, name: str) -> None:
    hosts = sorted({p.parts[len(tree.parts) + 1] for p in _files(tree, name, "*/etc/apt/*/*")})
    assert hosts
    for host in hosts:
        sources = _files(tree, name, f"{host}/etc/apt/sources.list.d/*")
        pins = _files(tree, name, f"{host}/etc/apt/preferences.d/*")
        ok, out = _apt_reads(
            box, [_in_box(tree, s) for s in sources], [_in_box(tree, p) for p in pins]
        )
        assert ok, f"{name}/{host}: {out}"


def test_apt_control(box: Box) -> None:
    box.put("/tmp/bad.sources", "Types: deb\nURIs: http://example.com/x\nComponents main\n")
    ok, out = _apt_reads(box, ["/tmp/bad.sources"], [])
    assert not ok, out


# --------------------------------------------------------------------------------- opensm


@pytest.fixture(scope="module")
def opensm_keys(box: Box) -> set[str]:
    """Every option opensm knows: the configuration it dumps (`--create-config`) names them all."""
    box.sh("rm -f /tmp/opensm-all.conf; opensm --create-config /tmp/opensm-all.conf")
    text = box.ok("cat /tmp/opensm-all.conf")
    keys = {line.split()[0] for line in text.splitlines() if line.strip() and line[0] != "#"}
    assert len(keys) > 100, "opensm dumped too few options"
    return keys


def _unknown_opensm_keys(text: str, known: set[str]) -> list[str]:
    return [
        line.split()[0]
        for line in text.splitlines()
        if line.strip() and not line.startswith("#") and line.split()[0] not in known
    ]


@pytest.mark.parametrize("name", NAMES)
def test_opensm_knows_every_key(tree: Path, name: str, opensm_keys: set[str]) -> None:
    confs = _files(tree, name, "*/etc/opensm/opensm-*.conf")
    assert confs
    for conf in confs:
        assert _unknown_opensm_keys(conf.read_text(), opensm_keys) == [], conf


def test_opensm_control(opensm_keys: set[str]) -> None:
    assert _unknown_opensm_keys("sm_priority 15\nsm_priorty 15\n", opensm_keys) == ["sm_priorty"]
