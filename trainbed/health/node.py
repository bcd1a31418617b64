"""`trainbed-health [--level passive|prolog|epilog]`: one run on this node (the I/O edge).

Slurm runs it as HealthCheckProgram (passive; no arguments), and through the Prolog/Epilog
wrappers. It reads the catalog, gathers the level's facts (`facts`), judges them (`judge`),
drains or resumes the node (`decide`, `scontrol update`), writes the run's JSON document to
`STATE_DIR/last.json` and to the journal (identifier `trainbed-health`), and exits 0 when the
level passed or could not run below the drain count, 1 when it failed or drained.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import syslog
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic
from typing import Any

from trainbed.health import LEVELS, STATE_DIR, facts
from trainbed.health.decide import Action, Memory, SlurmView, decide, level_to_run, outcome
from trainbed.health.judge import Verdict, commands, judge
from trainbed.health.plan import from_catalog
from trainbed.parse.slurm import parse_scontrol_show_node

CATALOG = "/etc/trainbed/catalog.json"
#: Slurm starts the program with a bare environment.
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Each scontrol call: with the prolog's DCGM bound (45 s at most) a run stays under 60 s.
SCONTROL_TIMEOUT_S = 5


def slurm_view(host: str, timeout_s: float) -> SlurmView:
    fact = facts.run(
        facts.Command(f"{host} scontrol show node", ("scontrol", "show", "node", host), timeout_s)
    )
    if not isinstance(fact.output, str):
        return SlurmView(False)
    for node in parse_scontrol_show_node(fact.output):
        if node.name == host:
            return SlurmView(True, node.drained, node.reason or "")
    return SlurmView(False)


def act(host: str, action: Action, timeout_s: float) -> str | None:
    """Apply a drain or resume; the error when scontrol failed."""
    if action.kind == "none":
        return None
    argv = ["scontrol", "update", f"NodeName={host}"]
    argv += (
        ["State=DRAIN", f"Reason={action.reason}"] if action.kind == "drain" else ["State=RESUME"]
    )
    fact = facts.run(facts.Command(f"{host} scontrol update", tuple(argv), timeout_s))
    return None if isinstance(fact.output, str) else str(fact.output)


def load_memory(path: Path) -> Memory:
    try:
        data = json.loads(path.read_text())
        runs = tuple((str(k), int(v)) for k, v in dict(data.get("not_run_runs", {})).items())
        return Memory(runs, data.get("drained_by"))
    except (OSError, ValueError, TypeError, AttributeError):
        return Memory()


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # runs may overlap
    tmp.write_text(text)
    os.replace(tmp, path)


def journal(doc: dict[str, Any]) -> None:
    syslog.openlog("trainbed-health", 0, syslog.LOG_DAEMON)
    priority = syslog.LOG_INFO if doc["result"] == "pass" else syslog.LOG_WARNING
    syslog.syslog(priority, json.dumps(doc, separators=(",", ":")))


def _memory(memory: Memory) -> dict[str, Any]:
    return {"not_run_runs": dict(memory.not_run_runs), "drained_by": memory.drained_by}


def records(verdicts: Sequence[Verdict]) -> list[dict[str, Any]]:
    """The run document's `verdicts`: each check's status, failures, warnings, could-not-run."""
    return [{"status": v.status, **asdict(v)} for v in verdicts]


@contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Hold the node's decision lock: the periodic run, a prolog and an epilog may overlap, and
    each reads the memory, decides and writes it back (a lost update would reset a count)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def run_level(level: str, catalog: Path, state_dir: Path, use_slurm: bool) -> dict[str, Any]:
    """One run; its JSON document. The facts are gathered unlocked; the memory and Slurm's view
    are read again under the lock for the decision (another run may have drained meanwhile)."""
    start = monotonic()
    now = datetime.now(UTC)
    node = from_catalog(catalog)
    host, plan = node.hostname, node.plan

    def view() -> SlurmView:
        return slurm_view(host, SCONTROL_TIMEOUT_S) if use_slurm else SlurmView(False)

    ran = level_to_run(level, view(), load_memory(state_dir / "state.json"))
    job_failed = os.environ.get("SLURM_JOB_EXIT_CODE", "0") not in ("", "0")
    gathered = facts.gather(commands(host, plan, ran, now, job_failed))
    verdicts = judge(host, plan, ran, {name: f.output for name, f in gathered.items()})
    with locked(state_dir):
        slurm = view()
        action, memory = decide(
            host, ran, verdicts, slurm, load_memory(state_dir / "state.json"), plan
        )
        if not use_slurm:
            action = Action("none", "judged only (--no-slurm): Slurm neither read nor changed")
        error = act(host, action, SCONTROL_TIMEOUT_S) if use_slurm else None
        write_atomically(state_dir / "state.json", json.dumps(_memory(memory)) + "\n")
    doc = {
        "host": host,
        "level": ran,
        "asked": level,
        "time": now.isoformat(timespec="seconds"),
        "seconds": round(monotonic() - start, 3),
        "result": outcome(verdicts),
        "verdicts": records(verdicts),
        "timings": {name: round(f.seconds, 3) for name, f in gathered.items()},
        "slurm": asdict(slurm),
        "action": {**asdict(action), "error": error},
        "memory": _memory(memory),
    }
    write_atomically(state_dir / "last.json", json.dumps(doc, indent=1) + "\n")
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trainbed-health", description=__doc__.splitlines()[0])
    parser.add_argument("--level", choices=LEVELS, default="passive")
    parser.add_argument("--catalog", type=Path, default=Path(CATALOG))
    parser.add_argument("--state-dir", type=Path, default=Path(STATE_DIR))
    parser.add_argument(
        "--no-slurm", action="store_true", help="judge only: neither read nor change Slurm"
    )
    parser.add_argument("--json", action="store_true", help="print the run's JSON document")
    args = parser.parse_args(argv)
    os.environ["PATH"] = ":".join(p for p in (os.environ.get("PATH"), PATH) if p)
    try:
        doc = run_level(args.level, args.catalog, args.state_dir, not args.no_slurm)
    except ValueError as exc:
        print(f"trainbed-health: {exc}", file=sys.stderr)
        return 2
    journal(doc)
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        for verdict in doc["verdicts"]:
            for line in verdict["failures"] or verdict["warnings"] or ():
                print(f"{verdict['status']}: {line}")
            if verdict["could_not_run"]:
                print(f"could not run: {verdict['could_not_run']}")
        print(
            f"{doc['host']} {doc['level']}: {doc['result']} in {doc['seconds']} s; "
            f"{doc['action']['kind']} ({doc['action']['note']})"
        )
    failed = doc["result"] == "fail" or doc["action"]["kind"] == "drain"
    if args.level == "epilog" and failed and doc["action"]["error"] is None:
        return 0  # drained with our reason: a failing epilog would overwrite it ("Epilog error")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
