"""Daemons of the simulated driver stack: ``nv-fabricmanager``, ``nvidia-persistenced``,
``nv-hostengine``. Each behaves like the real one towards systemd (forking, pid file, SIGTERM).
Stdlib only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import hwdesc

FM_LOG = Path(os.environ.get("TRAINBED_SIM_FM_LOG", "/var/log/fabricmanager.log"))
#: Beside this module in the fabric manager package: the version it was built for (the real
#: binary has it compiled in).
FM_VERSION_FILE = Path(__file__).with_name("fabricmanager-version")


def fabricmanager_version() -> str:
    """The fabric manager's own version (``$TRAINBED_SIM_FM_VERSION`` overrides, for tests)."""
    override = os.environ.get("TRAINBED_SIM_FM_VERSION")
    if override:
        return override
    try:
        return FM_VERSION_FILE.read_text().strip()
    except OSError:
        return hwdesc.DEFAULT_DRIVER


def version_mismatch(own: str, driver: str) -> str | None:
    """The real fabric manager's refusal of a driver of another version, or None when they match.

    Wording of nv-fabricmanager 525-550 as reported in NVIDIA/gpu-operator#544,
    siderolabs/pkgs#720 and NVIDIA/gpu-driver-container#735.
    """
    if own == driver:
        return None
    return (
        f"fabric manager NVIDIA GPU driver interface version {own} don't match with driver "
        f"version {driver}. Please update with matching NVIDIA driver package."
    )


def fabricmanager(argv: list[str]) -> int:
    """``nv-fabricmanager [-c CONFIG]``: trains the NVSwitch fabric, then stays resident."""
    parser = argparse.ArgumentParser(prog="nv-fabricmanager", add_help=True)
    parser.add_argument("-c", "--config", default="/usr/share/nvidia/nvswitch/fabricmanager.cfg")
    parser.add_argument("-v", "--version", action="store_true")
    parser.add_argument("--foreground", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    hw = hwdesc.load()
    version = fabricmanager_version()
    if args.version:
        print(f"Fabric Manager version is : {version}")
        return 0
    refusal = version_mismatch(version, hwdesc.driver(hw)["version"])
    if refusal:
        print(refusal, file=sys.stderr)
        hwdesc.log_line(FM_LOG, refusal, level="ERROR")
        return 1
    if not Path(args.config).is_file():
        print(f"Fabric Manager failed to open config file {args.config}", file=sys.stderr)
        return 1
    pid_file = hwdesc.fabricmanager_pid_file()
    if hwdesc.pid_alive(pid_file):
        print("Fabric Manager is already running", file=sys.stderr)
        return 1
    gpus = hwdesc.present_gpus(hw)
    if not gpus:
        print(
            "request to query NVSwitch device information from NVSwitch driver failed with "
            "error:WARNING Nothing to do [NV_WARN_NOTHING_TO_DO]",
            file=sys.stderr,
        )
        return 1
    if hw.get("fabric_manager", {}).get("fault"):
        print(
            "fabric manager failed to initialize: NVSwitch fatal error detected on one or "
            "more NVSwitch devices, NVLink fabric cannot be trained",
            file=sys.stderr,
        )
        return 1
    print(f"Starting Fabric Manager version {version}")
    if not args.foreground:
        hwdesc.daemonize(pid_file)
    else:
        hwdesc.write_pid(pid_file)
    hwdesc.log_line(
        FM_LOG,
        f"Fabric Manager version {version} is running with the following "
        f"configuration options: {args.config}",
    )
    hwdesc.log_line(
        FM_LOG,
        f"Successfully configured all the available GPUs ({len(gpus)}) and "
        "NVSwitches to route NVLink traffic.",
    )

    def healthy() -> int:
        now = hwdesc.load()
        if now.get("fabric_manager", {}).get("fault"):
            hwdesc.log_line(FM_LOG, "fatal NVSwitch error, fabric manager exiting")
            return 1
        # The driver changed under it (a reinstall without a reboot): it stops, as it would
        # refuse to start.
        refusal = version_mismatch(version, hwdesc.driver(now)["version"])
        if refusal:
            hwdesc.log_line(FM_LOG, f"{refusal} fabric manager exiting", level="ERROR")
            return 1
        return 0

    return hwdesc.serve_until_signal(pid_file, check=healthy)


def persistenced(argv: list[str]) -> int:
    """``nvidia-persistenced [--user U] [--no-persistence-mode] [--verbose]``."""
    parser = argparse.ArgumentParser(prog="nvidia-persistenced")
    parser.add_argument("-u", "--user")
    parser.add_argument("-g", "--group")
    parser.add_argument("-V", "--verbose", action="store_true")
    parser.add_argument("--persistence-mode", dest="pm", action="store_true", default=True)
    parser.add_argument("--no-persistence-mode", dest="pm", action="store_false")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("-f", "--foreground", action="store_true")
    args = parser.parse_args(argv)
    hw = hwdesc.load()
    if args.version:
        print(f"nvidia-persistenced:  version {hwdesc.driver(hw)['version']}")
        return 0
    if os.geteuid() != 0:
        print(
            "nvidia-persistenced failed to initialize. Check syslog for more details.",
            file=sys.stderr,
        )
        return 1
    if args.user:
        import pwd

        try:
            pwd.getpwnam(args.user)
        except KeyError:
            print(
                f"nvidia-persistenced failed to initialize. Check syslog for more details.\n"
                f"(user '{args.user}' does not exist)",
                file=sys.stderr,
            )
            return 1
    pid_file = hwdesc.persistenced_pid_file()
    mode = hwdesc.run_dir() / "persistenced-mode"
    mode.parent.mkdir(parents=True, exist_ok=True)
    mode.write_text("1\n" if args.pm else "0\n")
    if args.foreground:
        hwdesc.write_pid(pid_file)
    else:
        hwdesc.daemonize(pid_file)
    return hwdesc.serve_until_signal(pid_file, tick=2.0)


def hostengine(argv: list[str]) -> int:
    """``nv-hostengine [-n] [--service-account U]``: the DCGM host engine."""
    parser = argparse.ArgumentParser(prog="nv-hostengine")
    parser.add_argument("-n", "--no-daemon", action="store_true")
    parser.add_argument("--service-account")
    parser.add_argument("-t", "--term", action="store_true")
    parser.add_argument("--pid", default="/run/nvhostengine.pid")
    args = parser.parse_args(argv)
    pid_file = Path(os.environ.get("TRAINBED_SIM_HOSTENGINE_PID", args.pid))
    if args.term:
        if not hwdesc.pid_alive(pid_file):
            print("Unable to terminate host engine, it may not be running.")
            return 1
        os.kill(int(pid_file.read_text().split()[0]), 15)
        print("Host engine successfully terminated.")
        return 0
    if hwdesc.pid_alive(pid_file):
        print("Host engine already running with pid " + pid_file.read_text().strip())
        return 1
    print("Started host engine version 3.3.8 using port number: 5555 ")
    if args.no_daemon:
        hwdesc.write_pid(pid_file)
    else:
        hwdesc.daemonize(pid_file)
    return hwdesc.serve_until_signal(pid_file, tick=2.0)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Dispatch on the program name."""
    prog = os.path.basename(prog or sys.argv[0])
    args = list(sys.argv[1:] if argv is None else argv)
    if "persistenced" in prog:
        return persistenced(args)
    if "hostengine" in prog:
        return hostengine(args)
    return fabricmanager(args)


if __name__ == "__main__":
    sys.exit(main())
