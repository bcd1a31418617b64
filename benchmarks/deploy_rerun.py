"""Deploy timings on the mock cluster: ``python benchmarks/deploy_rerun.py [--runs 3]``.

Prints, measured side by side in one run (medians of ``--runs``):
- the no-op rerun against the cold first deploy (goal ≤ 0.10), on 1 control + 2 compute nodes;
- the no-op rerun with 4 compute nodes against 1 (goal ≤ 1.5), unless ``--sizes`` leaves them out;
- the previous implementation's cold deploy and no-op rerun (``--baseline REF``, default the
  pre-catalog commit 4a935d1; ``--baseline ''`` skips it) on 2 compute nodes, and the ratio of the
  no-op times (goal: the no-op time does not grow).

``--upgrade-from REF`` instead proves the upgrade: on a fresh cluster it deploys REF cold, snapshots
every node (digest, mode and owner of every path under /etc, /usr/local and /opt; the dpkg package
list; unit file states; the running services with their main PIDs), deploys the current tree once,
snapshots again and prints per host the operations pyinfra reported as executing commands and every
difference. It exits 1 when anything but the catalog (/etc/trainbed/catalog.json and its
directory) changed.

REF runs from a detached ``git worktree`` in a temporary directory, with its own ``trainbed``
package on PYTHONPATH, against the inventory the current tree's lab generates. The cluster is its own
(name ``tb-bench``, subnet 172.31.241.0/24, state dir ``.mock-bench``) and is taken down afterwards;
cached images are kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".mock-bench"
UP_ARGS = ["--name", "tb-bench", "--subnet", "172.31.241.0/24", "--state-dir", str(STATE)]
#: The last main commit before issue 12's catalog work.
PRE_CATALOG = "4a935d1"
#: What a deploy of the current tree may add on top of the previous implementation's.
CATALOG_PATHS = frozenset({"/etc/trainbed", "/etc/trainbed/catalog.json"})
#: Paths under the snapshot roots that change without any deploy (Docker's bind mounts, caches).
VOLATILE = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mtab"})

# One line per resource: "KIND KEY<TAB>VALUE"; KEY is what a difference is reported against.
SNAPSHOT_SCRIPT = r"""
find /etc /usr/local /opt -xdev \( -type f -o -type d -o -type l \) -printf '%p\t%y %m %u:%g %l\n' \
  | sed 's/^/path /'
find /etc /usr/local /opt -xdev -type f -print0 | xargs -0 -r sha256sum \
  | awk '{print "digest " $2 "\t" $1}'
dpkg-query -W -f '${Package}\t${Version} ${db:Status-Abbrev}\n' | sed 's/^/package /'
systemctl list-unit-files --no-legend --plain | awk '{print "unit-file " $1 "\t" $2}'
for u in $(systemctl list-units --type=service --state=running --no-legend --plain | awk '{print $1}')
do printf 'running %s\t%s\n' "$u" "$(systemctl show -p MainPID --value "$u")"; done
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OP_START = re.compile(r"^--> Starting (?:.+ )?operation: (?P<name>.+?)\s*$")
_HOST_STATUS = re.compile(r"^\s*\[(?P<host>[^\]]+)\]\s+(?P<status>Success|No changes)")


def _run(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 1200
) -> tuple[float, str]:
    """(seconds, stdout + stderr) of a command that must succeed; exits with its tail otherwise."""
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} (in {cwd}) failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed, proc.stdout + proc.stderr


def _up(compute: int) -> dict[str, str]:
    _run([str(ROOT / "lab/up"), *UP_ARGS, "--compute", str(compute)])
    inventory = json.loads((STATE / "cluster.json").read_text())["inventory"]
    return {**os.environ, "TRAINBED_INVENTORY": inventory}


def _down() -> None:
    subprocess.run(
        [str(ROOT / "lab/down"), "--state-dir", str(STATE)],
        capture_output=True,
        cwd=ROOT,
        timeout=600,
    )


@contextlib.contextmanager
def _cluster(compute: int) -> Iterator[dict[str, str]]:
    """A fresh cluster of this size for the block (its deploy environment); down afterwards."""
    _down()
    try:
        yield _up(compute)
    finally:
        _down()


@contextlib.contextmanager
def _tree(ref: str) -> Iterator[Path]:
    """REF checked out (detached) into a temporary worktree, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="tb-ref-"))
    path = tmp / "tree"
    _run(["git", "worktree", "add", "--detach", str(path), ref])
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT)
        shutil.rmtree(tmp, ignore_errors=True)


def _deploy(env: dict[str, str], tree: Path = ROOT) -> tuple[float, str]:
    """(seconds, output) of the deploy of `tree`, importing that tree's own trainbed package."""
    return _run(
        [sys.executable, "-m", "pyinfra", "inventory/mock.py", "deploy/cluster.py", "-y"],
        {**env, "PYTHONPATH": str(tree)},
        cwd=tree,
    )


def _cold_and_noop(env: dict[str, str], runs: int, tree: Path = ROOT) -> tuple[float, float]:
    """(cold deploy seconds, median no-op rerun seconds) of `tree` on the fresh cluster `env`."""
    cold = _deploy(env, tree)[0]
    noop = statistics.median(_deploy(env, tree)[0] for _ in range(runs))
    return cold, noop


def executed_ops(output: str) -> dict[str, list[str]]:
    """Per host, the operations pyinfra reported as ``Success`` (commands executed) in `output`."""
    ops: dict[str, list[str]] = {}
    current = "?"
    for raw in output.splitlines():
        line = _ANSI.sub("", raw)
        if start := _OP_START.match(line):
            current = start["name"]
        elif (status := _HOST_STATUS.match(line)) and status["status"] == "Success":
            ops.setdefault(status["host"], []).append(current)
    return ops


def parse_snapshot(text: str) -> dict[str, str]:
    """{"KIND KEY": VALUE} from the snapshot script's lines."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("\t")
        if sep and key.split(" ", 1)[-1] not in VOLATILE:
            out[key] = value
    return out


def _snapshot(nodes: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Each node's resources; exits when a node yields no paths or packages (nothing compared)."""
    snaps = {
        n["hostname"]: parse_snapshot(
            _run(["docker", "exec", n["container"], "sh", "-c", SNAPSHOT_SCRIPT])[1]
        )
        for n in nodes
    }
    for host, snap in snaps.items():
        if not {"path", "package"} <= {key.split(" ", 1)[0] for key in snap}:
            sys.exit(f"{host}: the snapshot lists no paths or no packages")
    return snaps


def _counts(snap: dict[str, str]) -> str:
    kinds = [key.split(" ", 1)[0] for key in snap]
    return ", ".join(f"{kinds.count(k)} {k}" for k in sorted(set(kinds)))


def differences(before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str]]:
    """(key, "old -> new") of every resource added, removed or changed, sorted by key."""
    keys = sorted(set(before) | set(after))
    return [
        (k, f"{before.get(k, '(absent)')} -> {after.get(k, '(absent)')}")
        for k in keys
        if before.get(k) != after.get(k)
    ]


def is_catalog(key: str) -> bool:
    """Whether a difference's key is the catalog file or its directory."""
    return key.split(" ", 1)[-1] in CATALOG_PATHS


def upgrade(ref: str) -> int:
    """Deploy REF cold, then the current tree once; 1 when more than the catalog changed."""
    with _tree(ref) as tree, _cluster(2) as env:
        nodes = json.loads((STATE / "cluster.json").read_text())["nodes"]
        cold, _ = _deploy(env, tree)
        before = _snapshot(nodes)
        seconds, output = _deploy(env)
        after = _snapshot(nodes)
    log = STATE / "logs" / "upgrade-deploy.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(output)
    print(f"{ref} cold deploy {cold:6.1f} s; then the current tree's deploy {seconds:6.1f} s")
    print(f"(the current tree's deploy output: {log})")
    bad = 0
    ops = executed_ops(output)
    for host in sorted(before):
        print(f"\n{host} (compared: {_counts(before[host])})")
        print(f"  operations that executed commands: {'; '.join(ops.get(host, [])) or '-'}")
        for key, change in differences(before[host], after[host]):
            verdict = "catalog" if is_catalog(key) else "CHANGED"
            bad += verdict == "CHANGED"
            print(f"  {verdict:8} {key}: {change}")
    print(f"\n{bad} change(s) besides the catalog" + ("" if bad else " (upgrade changes nothing)"))
    return 1 if bad else 0


def timings(runs: int, sizes: list[int], baseline: str) -> None:
    results: dict[int, tuple[float, float]] = {}
    for n in sizes:
        with _cluster(n) as env:
            results[n] = _cold_and_noop(env, runs)
    base: tuple[float, float] | None = None
    if baseline:
        with _tree(baseline) as tree, _cluster(2) as env:
            base = _cold_and_noop(env, runs, tree)
    for n, (cold, noop) in results.items():
        print(
            f"1 control + {n} compute: cold deploy {cold:6.1f} s, no-op rerun median {noop:5.1f} s"
        )
    if 2 in results:
        cold2, noop2 = results[2]
        print(f"no-op rerun / cold deploy (2 compute): {noop2 / cold2:.3f}  (goal <= 0.10)")
    if 1 in results and 4 in results:
        ratio = results[4][1] / results[1][1]
        print(f"no-op rerun 4 compute / 1 compute:     {ratio:.2f}  (goal <= 1.5)")
    if base is not None:
        cold_b, noop_b = base
        print(
            f"{baseline} (previous), 1 control + 2 compute: cold deploy {cold_b:6.1f} s, "
            f"no-op rerun median {noop_b:5.1f} s"
        )
        if 2 in results:
            print(
                f"no-op rerun current / {baseline} (2 compute): "
                f"{results[2][1] / noop_b:.2f}  (goal: <= 1, the no-op time does not grow)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="no-op reruns per size (median)")
    parser.add_argument(
        "--sizes", default="1,2,4", help="compute node counts to time the current tree on"
    )
    parser.add_argument(
        "--baseline",
        default=PRE_CATALOG,
        metavar="REF",
        help=f"previous implementation to time side by side ('' skips; default {PRE_CATALOG})",
    )
    parser.add_argument(
        "--upgrade-from",
        metavar="REF",
        help="instead of timing: deploy REF, then the current tree; fail if more than the catalog changed",
    )
    args = parser.parse_args()
    if args.upgrade_from:
        sys.exit(upgrade(args.upgrade_from))
    timings(args.runs, [int(n) for n in args.sizes.split(",") if n], args.baseline)


if __name__ == "__main__":
    main()
