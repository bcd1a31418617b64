"""The inventory becomes testinfra hosts, and each check runs once per node of its group.

    pytest --pyargs trainbed.checks --inventory inventory/prod.yaml [--limit 'gpu0*,slurmctld'] [-n auto]

The options come from the plugin (``trainbed.checks.plugin``, a ``pytest11`` entry point).

A check declares its hosts with ``@pytest.mark.nodes(GROUP)`` (``all`` or a name from
``Inventory.groups()``) and takes ``hostname``, ``node`` (the model) and ``remote`` (the host over
SSH). ``@pytest.mark.each(ARGNAME, FUNCTION)`` adds one test per item ``FUNCTION(inventory, node)``
returns (a dict id → value), so ids read ``test_hca_port[gpu02-mlx5_4]``: node first, then item.

Before any check, every selected host (and the primary controller) is asked once, in parallel,
to run ``true`` over SSH (bounded by ConnectTimeout). A host that does not answer is one finding,
``test_ssh[HOST]``; its other checks are skipped as "could not run: …", never passed or failed.
Then every reachable host's HCA port counters are read (the `late` link-quality checks read
them again and judge the growth). With pytest-xdist the controller process does both and hands
the answers to the workers, and the workers get the checks host by host
(`trainbed.checks.scheduling`), so a node is read by one process, once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import pytest
from _pytest import junitxml

from trainbed.checks import health, reads, scheduling
from trainbed.checks.expected import ALL, hosts_of, select_hosts
from trainbed.checks.junit import COULD_NOT_RUN, WARNING, could_not_run
from trainbed.inventory import Inventory, InventoryError, load_inventory
from trainbed.inventory.model import Node
from trainbed.remote import Remote, reach_all

#: hostname → why SSH to it failed, for the hosts the pre-pass found unreachable.
UNREACHABLE = pytest.StashKey[dict[str, str]]()
_WORKERINPUT_KEY = "trainbed_unreachable"
#: Every reachable selected host's HCA port counters, read before the first check.
FIRST_COUNTERS = pytest.StashKey[health.FirstReadings]()
_WORKERINPUT_COUNTERS = "trainbed_first_counters"


#: Every warning the checks recorded (`warn`), in order, on the controller process.
WARNED = pytest.StashKey[dict[str, None]]()


class _SuiteWarnings:
    """Moves the `warn` fixture's findings off each test case into the run's test-suite
    properties before junitxml writes the case (xunit2 allows no properties there). On the
    controller process only: a pytest-xdist worker's reports carry them there."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        found = [str(v) for name, v in report.user_properties if name == WARNING]
        if not found:
            return
        report.user_properties = [(n, v) for n, v in report.user_properties if n != WARNING]
        seen = self.config.stash.setdefault(WARNED, {})
        xml = self.config.stash.get(junitxml.xml_key, None)  # record_testsuite_property's key
        for line in found:
            if line not in seen:
                seen[line] = None
                if xml is not None:
                    xml.add_global_property(WARNING, line)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # xdist workers send theirs with the reports
        config.pluginmanager.register(_SuiteWarnings(config), "trainbed-suite-warnings")
    config.addinivalue_line("markers", "nodes(group): run the check on every host of the group")
    config.addinivalue_line(
        "markers", "each(argname, function): one test per item function(inventory, node) returns"
    )
    config.addinivalue_line("markers", "late: run after every other check")
    # A bad inventory or a --limit that selects nothing stops the run before any test.
    _selected(str(config.getoption("inventory")), config.getoption("limit"))


@cache
def _load(path: str) -> Inventory:
    try:
        return load_inventory(Path(path)).inventory
    except InventoryError as err:
        raise pytest.UsageError(f"invalid inventory {path}:\n{err}") from None


def _inventory(config: pytest.Config) -> Inventory:
    return _load(str(config.getoption("inventory")))


@cache
def _selected(path: str, limit: str | None) -> tuple[str, ...]:
    try:
        return tuple(select_hosts(_load(path), limit))
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hostname" not in metafunc.fixturenames:
        return
    config = metafunc.config
    inv = _inventory(config)
    selected = _selected(str(config.getoption("inventory")), config.getoption("limit"))
    marker = metafunc.definition.get_closest_marker("nodes")
    group = marker.args[0] if marker else ALL
    hosts = [h for h in hosts_of(inv, group) if h in selected]
    each = metafunc.definition.get_closest_marker("each")
    if each is None:
        metafunc.parametrize("hostname", hosts, ids=hosts)
        return
    argname, items_of = each.args
    params = [
        pytest.param(host, value, id=f"{host}-{item_id}")
        for host in hosts
        for item_id, value in items_of(inv, inv.node(host)).items()
    ]
    metafunc.parametrize(("hostname", argname), params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the checks that have no host here (an empty group, or one outside --limit), and
    move the checks marked `late` to the end (they compare with what the run read first).

    pytest would otherwise report each as a skipped `[NOTSET]` case that names no node.
    """
    items[:] = sorted(items, key=lambda item: item.get_closest_marker("late") is not None)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        hostname = callspec.params.get("hostname") if callspec else None
        wants_host = "hostname" in getattr(item, "fixturenames", ())
        (drop if wants_host and not isinstance(hostname, str) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _hosts_to_reach(config: pytest.Config) -> list[str]:
    inv = _inventory(config)
    selected = _selected(str(config.getoption("inventory")), config.getoption("limit"))
    primary = inv.slurmctld_hosts[0].hostname
    return [*selected, *([primary] if primary not in selected else [])]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """The reachability pre-pass and the first counter readings (on the controller process;
    workers get its answers)."""
    config = session.config
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        config.stash[UNREACHABLE] = dict(workerinput.get(_WORKERINPUT_KEY, {}))
        plain = workerinput.get(_WORKERINPUT_COUNTERS, [])
        config.stash[FIRST_COUNTERS] = health.FirstReadings.from_plain(plain)
    elif config.option.collectonly:
        config.stash[UNREACHABLE] = {}
        config.stash[FIRST_COUNTERS] = health.FirstReadings({})
    else:
        inv = _inventory(config)
        unreachable = reach_all(inv, _hosts_to_reach(config))
        config.stash[UNREACHABLE] = unreachable
        selected = _selected(str(config.getoption("inventory")), config.getoption("limit"))
        remotes = [
            (Remote.connect(inv, host), inv.node(host).hcas)
            for host in selected
            if host not in unreachable and inv.node(host).hcas
        ]
        config.stash[FIRST_COUNTERS] = health.first_readings(remotes)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # pytest-xdist: before a worker starts
    node.workerinput[_WORKERINPUT_KEY] = node.config.stash.get(UNREACHABLE, {})
    first = node.config.stash.get(FIRST_COUNTERS, health.FirstReadings({}))
    node.workerinput[_WORKERINPUT_COUNTERS] = first.to_plain()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker per `scheduling.HOSTS_PER_WORKER` selected hosts (none for a few)."""
    selected = _selected(str(config.getoption("inventory")), config.getoption("limit"))
    return scheduling.auto_workers(len(selected), scheduling.cpu_count())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> scheduling.HostScheduling:
    """Each host's checks on one worker (`scheduling.HostScheduling`)."""
    selected = _selected(str(config.getoption("inventory")), config.getoption("limit"))
    return scheduling.HostScheduling(config, log, selected)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter) -> None:
    """Checks that could not run: one line per reason, not one per check in `-ra`'s summary.

    They count as "could not run" in the final line, apart from genuine skips. Then every
    warning a check recorded (`warn`), one line each.
    """
    for line in terminalreporter.config.stash.get(WARNED, {}):
        terminalreporter.write_line(f"warning: {line}")
    skipped = terminalreporter.stats.get("skipped", [])
    not_run = [r for r in skipped if _skip_reason(r).startswith(COULD_NOT_RUN)]
    if not not_run:
        return
    terminalreporter.stats["skipped"] = [r for r in skipped if r not in not_run]
    terminalreporter.stats[COULD_NOT_RUN] = not_run
    for why, count in Counter(_skip_reason(r) for r in not_run).items():
        terminalreporter.write_line(f"{why} ({count} checks)")


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> Inventory:
    return _inventory(pytestconfig)


@pytest.fixture(scope="session")
def selected(pytestconfig: pytest.Config) -> tuple[str, ...]:
    """The hosts this run checks (`--limit`), in the inventory's order."""
    return _selected(str(pytestconfig.getoption("inventory")), pytestconfig.getoption("limit"))


@pytest.fixture(scope="session")
def unreachable(pytestconfig: pytest.Config) -> dict[str, str]:
    """hostname → why SSH to it failed, from the pre-pass."""
    return pytestconfig.stash.get(UNREACHABLE, {})


@pytest.fixture(scope="session")
def connect(inventory: Inventory) -> Callable[[str], Remote]:
    """`connect(hostname)`: the node's Remote, one per host for the session (shared cache)."""
    remotes: dict[str, Remote] = {}

    def get(hostname: str) -> Remote:
        if hostname not in remotes:
            remotes[hostname] = Remote.connect(inventory, hostname)
        return remotes[hostname]

    return get


@pytest.fixture(scope="session")
def level(pytestconfig: pytest.Config) -> str:
    """The run's check level (`--level`): quick, standard or burn-in."""
    return str(pytestconfig.getoption("level"))


@pytest.fixture
def warn(request: pytest.FixtureRequest) -> Callable[[Iterable[str]], None]:
    """`warn(lines)`: record findings that do not fail the check; they become `warning`
    properties of the JUnit test suite (`pytest_runtest_logreport`), the per-node table counts
    them and the terminal summary and `trainbed check` print them."""

    def record(lines: Iterable[str]) -> None:
        for line in lines:
            request.node.user_properties.append((WARNING, line))

    return record


@pytest.fixture(scope="session")
def first_counters(pytestconfig: pytest.Config) -> health.FirstReadings:
    """Every selected node's HCA port counters as read before the first check (the session's
    start, on the controller process): the link quality checks (`late`) read them again and
    judge the growth."""
    return pytestconfig.stash[FIRST_COUNTERS]


@pytest.fixture(autouse=True)
def read_ahead(
    request: pytest.FixtureRequest,
    inventory: Inventory,
    connect: Callable[[str], Remote],
    unreachable: dict[str, str],
) -> None:
    """Every check module's reads of the check's node (`reads.node_reads`) in one round trip,
    asked by the first check of the node: a node costs one round trip for all of them (nothing
    is read from a node the pre-pass found unreachable)."""
    callspec = getattr(request.node, "callspec", None)
    hostname = callspec.params.get("hostname") if callspec else None
    if isinstance(hostname, str) and hostname not in unreachable:
        connect(hostname).prefetch(
            "node reads", reads.node_reads(inventory, inventory.node(hostname))
        )


@pytest.fixture
def node(inventory: Inventory, hostname: str) -> Node:
    return inventory.node(hostname)


def reachable(
    connect: Callable[[str], Remote], unreachable: dict[str, str], hostname: str
) -> Remote:
    """The node's Remote; the calling check is skipped as "could not run" when SSH to it failed."""
    remote = connect(hostname)
    why = unreachable.get(hostname) or remote.unreachable
    if why:
        pytest.skip(could_not_run(why))
    return remote


@pytest.fixture
def remote(connect: Callable[[str], Remote], unreachable: dict[str, str], hostname: str) -> Remote:
    return reachable(connect, unreachable, hostname)


@pytest.fixture
def host(remote: Remote):
    """The testinfra host (for testinfra's modules: file, service, package, ...)."""
    return remote.host


@pytest.fixture
def controller(
    inventory: Inventory, connect: Callable[[str], Remote], unreachable: dict[str, str]
) -> Remote:
    """The primary slurmctld host: Slurm's view of the cluster and the reference munge key."""
    return reachable(connect, unreachable, inventory.slurmctld_hosts[0].hostname)
