"""``opensm`` for the simulated fabric: binds to one local port GUID and manages its rail.

Accepts the real options the deploy uses (``-g/--guid``, ``-p/--priority``, ``-F/--config``,
``--subnet_prefix``, ``-B/--daemon``, ``-f/--log_file``). Refuses a GUID that is not a port of this
node. While it runs it registers itself (with a heartbeat) in the shared fabric directory; the
ports of its rail read Active and ``sminfo`` reports it. Stdlib only.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import hwdesc

VERSION = "5.20.0.MLNX20240806.6ad2b7e6"


class UsageError(Exception):
    """Bad command line."""


def parse_config(text: str) -> dict[str, str]:
    """opensm.conf: ``key value`` lines, ``#`` comments."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition(" ")
            out[key] = value.strip()
    return out


def parse_args(argv: list[str]) -> dict[str, Any]:
    """The subset of opensm's options that matter here; others are accepted and ignored."""
    opts: dict[str, Any] = {"daemon": False, "log_file": "/var/log/opensm.log"}
    with_value = {
        "-g": "guid",
        "--guid": "guid",
        "-p": "priority",
        "--priority": "priority",
        "-F": "config",
        "--config": "config",
        "--subnet_prefix": "subnet_prefix",
        "-f": "log_file",
        "--log_file": "log_file",
        "-D": "debug",
        "-d": "debug",
        "--debug": "debug",
        "-t": "timeout",
        "--timeout": "timeout",
        "-m": "max_log",
        "--sm_sl": "sm_sl",
    }
    flags = {
        "-B": "daemon",
        "--daemon": "daemon",
        "-s": "sweep",
        "-e": "erase_log",
        "--erase_log_file": "erase_log",
        "-y": "stay_on_fatal",
        "--stay_on_fatal": "x",
    }
    args = list(argv)
    while args:
        a = args.pop(0)
        name, eq, value = a.partition("=")
        if name in with_value:
            if not eq:
                if not args:
                    raise UsageError(f"option requires an argument -- '{a.lstrip('-')}'")
                value = args.pop(0)
            opts[with_value[name]] = value
        elif a in flags:
            opts[flags[a]] = True
        elif a in ("-h", "--help", "-V", "--version"):
            opts["help"] = True
        else:
            raise UsageError(f"unrecognized option '{a}'")
    if "config" in opts:
        try:
            conf = parse_config(Path(opts["config"]).read_text())
        except OSError as exc:
            raise UsageError(f"cannot open config file {opts['config']}: {exc.strerror}") from exc
        for key, name in (
            ("guid", "guid"),
            ("sm_priority", "priority"),
            ("subnet_prefix", "subnet_prefix"),
            ("log_file", "log_file"),
        ):
            if key in conf and name not in opts:
                opts[name] = conf[key]
    return opts


def _norm_guid(text: str) -> str:
    return f"0x{int(text, 16):016x}"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        opts = parse_args(args)
    except UsageError as exc:
        print(f"opensm: {exc}\nTry 'opensm --help' for more information.", file=sys.stderr)
        return 1
    print("-------------------------------------------------")
    print(f"OpenSM {VERSION}")
    if opts.get("help"):
        return 0
    hw = hwdesc.load()
    hcas = hwdesc.sorted_hcas(hw)
    guid = opts.get("guid")
    if guid in (None, "0", "0x0"):
        hca = hcas[0] if hcas else None
    else:
        try:
            wanted = _norm_guid(guid)
        except ValueError:
            print(f"opensm: invalid GUID '{guid}'", file=sys.stderr)
            return 1
        hca = next((h for h in hcas if _norm_guid(h["port_guid"]) == wanted), None)
    print("Command Line Arguments:")
    if guid:
        print(f" Guid <{guid}>")
    priority = int(opts.get("priority", 0))
    print(f" Priority = {priority}")
    print(f" Log File: {opts['log_file']}")
    print("-------------------------------------------------")
    print(f"OpenSM {VERSION}\n")
    if hca is None:
        if guid:
            print(f"ERR 7511: Unable to find port GUID {guid} on any local HCA", file=sys.stderr)
        print("\nError from osm_opensm_bind (0x2A)")
        print("Perhaps another instance of OpenSM is already running")
        print("Exiting SM")
        return 1
    if hwdesc.port_view({**hca, "rail": ""})["state"] == "Down":
        print(f"Using default GUID {hca['port_guid']}\nEntering DISCOVERING state\n")
        print("ERR 3E09: Port is DOWN, cannot sweep the subnet", file=sys.stderr)
        print("Exiting SM")
        return 1
    print(
        f"Using default GUID {hca['port_guid']}"
        if not guid
        else f"Binding to port {hca['port_guid']}"
    )
    print("Entering DISCOVERING state\n")
    registry = hwdesc.sm_dir(hca.get("rail", "")) / f"{_norm_guid(hca['port_guid'])}.json"
    if opts.get("daemon"):
        pid = os.fork()
        if pid > 0:
            return 0
        os.setsid()
    record = {
        "guid": _norm_guid(hca["port_guid"]),
        "priority": priority,
        "hostname": hwdesc.hostname(hw) or socket.gethostname(),
        "device": hca["device"],
        "rail": hca.get("rail", ""),
        "subnet_prefix": opts.get("subnet_prefix", "0xfe80000000000000"),
        "pid": os.getpid(),
        "started": time.time(),
    }
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text(json.dumps(record))
    sms = hwdesc.live_sms(hca.get("rail", ""))
    master = bool(sms) and sms[0]["guid"] == record["guid"]
    print("Entering MASTER state\n" if master else "Entering STANDBY state\n", flush=True)
    hwdesc.log_line(
        Path(opts["log_file"]), f"SM port is {hca['device']} {record['guid']} rail {record['rail']}"
    )

    def heartbeat() -> int:
        try:
            current = hwdesc.load()
            port = hwdesc.hca(current, hca["device"])
            if port is None or port.get("state", "Active") != "Active":
                registry.unlink(missing_ok=True)  # our port went down: we manage nothing
                return 0
            if not registry.exists():
                registry.write_text(json.dumps(record))
            os.utime(registry)
        except OSError:
            pass
        return 0

    try:
        rc = hwdesc.serve_until_signal(None, tick=hwdesc.SM_HEARTBEAT_S, check=heartbeat)
    finally:
        registry.unlink(missing_ok=True)
    print("Exiting SM")
    return rc


if __name__ == "__main__":
    sys.exit(main())
