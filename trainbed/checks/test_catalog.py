"""The catalog on every node: one check per resource kind, each parametrized over the host's own
catalog (files, packages, users and groups, directories, units, kernel modules)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from trainbed.catalog.model import Directory, File, Group, Module, Package, Unit, User
from trainbed.checks import expected, reads
from trainbed.health import bundle
from trainbed.inventory.model import Inventory, Node
from trainbed.remote import Remote, command
from trainbed.verdicts import check, mismatch, service

pytestmark = pytest.mark.nodes(expected.ALL)


def _stat_command(paths: list[str]) -> str:
    return command("stat -c '%%n\t%%a:%%U:%%G'" + " %s" * len(paths) + " 2>/dev/null", *paths)


def _sha256_command(paths: list[str]) -> str:
    return command("sha256sum" + " %s" * len(paths) + " 2>/dev/null", *paths)


def _dpkg_command(names: list[str]) -> str:
    return command(
        "dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'" + " %s" * len(names),
        *names,
    )


def _digested(files: dict[str, File]) -> list[str]:
    return [p for p, f in files.items() if f.sha256]


def _built_or_copied(file: File) -> bool:
    """A file whose content `test_managed_file` compares by its own `sha256sum`."""
    return file.sha256 is None and (file.build == bundle.NAME or file.source is not None)


def _directory_command(path: str) -> str:
    return command("test -d %s && stat -c '%%a:%%U:%%G' %s", path, path)


HOLDS = "apt-mark showhold"


def _unit_state_command(unit: str) -> str:
    template, args = service.state_command(unit)
    return command(template, *args)


@reads.register(expected.ALL)
def _reads(inventory: Inventory, node: Node) -> list[str]:
    """Every read of this module's checks on `node` whose command the catalog decides (a user's
    group by the gid the catalog gives it: the check reads another gid alone)."""
    files = expected.files(inventory, node)
    packages = list(expected.packages(inventory, node))
    users = expected.users(inventory, node)
    groups = expected.groups(inventory, node)
    return [
        _stat_command(list(files)),
        _sha256_command(_digested(files)),
        *(command("sha256sum %s", path) for path, f in files.items() if _built_or_copied(f)),
        *([_dpkg_command(packages), HOLDS] if packages else []),
        *(command("getent passwd %s", name) for name in users),
        *(
            command("getent group %s", groups[u.group].gid)
            for u in users.values()
            if u.group in groups
        ),
        *(command("getent group %s", name) for name in groups),
        *(_directory_command(path) for path in expected.directories(inventory, node)),
        *(_unit_state_command(name) for name in expected.units(inventory, node)),
        *(command("cat %s", m.config) for m in expected.modules(inventory, node).values()),
    ]


def _stat(remote: Remote, paths: list[str]) -> dict[str, str]:
    """path → `mode:owner:group` (octal mode, as stat prints it) for those that exist."""
    out = remote.run(_stat_command(paths)).stdout
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def _ownership(mode: str, owner: str | None, group: str | None) -> str:
    return f"{int(mode, 8):o}:{owner or '*'}:{group or '*'}"


def _matches(want: str, got: str) -> bool:
    return all(w in ("*", g) for w, g in zip(want.split(":"), got.split(":"), strict=True))


def _dpkg(remote: Remote, names: list[str]) -> dict[str, tuple[str, str]]:
    """name → (version, status abbreviation) of the installed packages among `names`."""
    out = remote.run(_dpkg_command(names)).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            found[parts[0]] = (parts[1], parts[2].strip())
    return found


@pytest.mark.each("file", expected.files)
def test_managed_file(remote: Remote, inventory: Inventory, node: Node, file: File) -> None:
    """Mode and owner as the catalog says; the content's digest too where the inventory gives it
    (a secret's content is not the catalog's to know)."""
    files = expected.files(inventory, node)
    states = _stat(remote, list(files))
    what = f"{remote.hostname} {file.path}"
    got = states.get(file.path)
    assert got is not None, mismatch(what, "present", "missing")
    problems = []
    want = _ownership(file.mode, file.owner, file.group)
    if not _matches(want, got):
        problems.append(mismatch(f"{what} mode:owner:group", want, got))
    if file.sha256 is not None:
        sums = {}
        summed = remote.run(_sha256_command(_digested(files)))
        for line in summed.stdout.splitlines():
            digest, _, name = line.partition("  ")
            sums[name] = digest
        have = sums.get(file.path)
        if have != file.sha256:
            problems.append(
                mismatch(
                    what,
                    f"the rendered content (sha256 {file.sha256[:12]})",
                    f"sha256 {have[:12]}" if have else "unreadable",
                )
            )
    elif file.build == bundle.NAME:
        local = bundle.sha256()
        have = remote.output("sha256sum %s", file.path).split()[0]
        if have != local:
            problems.append(
                mismatch(what, f"this trainbed's {file.build} (sha256 {local[:12]})", have[:12])
            )
    elif file.source is not None:
        local = hashlib.sha256(Path(file.source).read_bytes()).hexdigest()
        have = remote.output("sha256sum %s", file.path).split()[0]
        if have != local:
            problems.append(mismatch(what, f"{file.source} (sha256 {local[:12]})", have[:12]))
    check(problems)


@pytest.mark.each("package", expected.packages)
def test_locked_package(remote: Remote, inventory: Inventory, node: Node, package: Package) -> None:
    """Installed at exactly the catalog's version, and on hold."""
    installed = _dpkg(remote, list(expected.packages(inventory, node)))
    held = set(remote.output(HOLDS).split())
    what = f"{remote.hostname} {package.name}"
    version, status = installed.get(package.name, ("not installed", ""))
    # db:Status-Abbrev: wanted (h = hold, i = install), state (i = installed), error flag
    if status[1:2] != "i" and version != "not installed":
        version = f"{version} (dpkg status {status})"
    check(
        [
            mismatch(f"{what} version", package.version, version)
            if version != package.version
            else None,
            mismatch(f"{what} apt hold", "held", "not held") if package.name not in held else None,
        ]
    )


@pytest.mark.each("user", expected.users)
def test_user(remote: Remote, user: User) -> None:
    """The system user exists with its fixed uid, its own group, home and shell."""
    entry = remote.run("getent passwd %s", user.name).stdout.strip()
    what = f"{remote.hostname} user {user.name}"
    assert entry, mismatch(what, f"uid {user.uid}", "missing")
    _, _, uid, gid, _, home, shell = entry.split(":")
    group = remote.run("getent group %s", gid).stdout.split(":")[0] or gid
    got = f"uid {uid} group {group} home {home} shell {shell}"
    want = f"uid {user.uid} group {user.group} home {user.home} shell {user.shell}"
    assert got == want, mismatch(what, want, got)


@pytest.mark.each("group", expected.groups)
def test_group(remote: Remote, group: Group) -> None:
    entry = remote.run("getent group %s", group.name).stdout.strip()
    got = entry.split(":")[2] if entry else "missing"
    assert got == str(group.gid), mismatch(
        f"{remote.hostname} group {group.name} gid", group.gid, got
    )


@pytest.mark.each("directory", expected.directories)
def test_directory(remote: Remote, directory: Directory) -> None:
    result = remote.run(_directory_command(directory.path))
    what = f"{remote.hostname} directory {directory.path}"
    assert result.rc == 0, mismatch(what, "present", "missing")
    want = _ownership(directory.mode, directory.owner, directory.group)
    got = result.stdout.strip()
    assert _matches(want, got), mismatch(f"{what} mode:owner:group", want, got)


@pytest.mark.each("unit", expected.units)
def test_service(remote: Remote, unit: Unit) -> None:
    """Every unit the catalog runs is enabled and active (daemons, OpenSM per rail, mounts)."""
    check([service.problem(remote.hostname, unit.name, *remote.unit_state(unit.name))])


@pytest.mark.each("module", expected.modules)
def test_module_configured(remote: Remote, module: Module) -> None:
    """The module is listed for systemd-modules-load at every boot (loading it is
    `test_peermem_loaded`'s: containers cannot load modules)."""
    result = remote.run("cat %s", module.config)
    listed = result.rc == 0 and module.name in result.stdout.split()
    assert listed, mismatch(
        f"{remote.hostname} {module.config}",
        f"a line {module.name}",
        "missing" if result.rc else "no such line",
    )
