"""`trainbed parse`: read saved benchmark or hardware-tool output and report what it holds.

Exit status for the benchmarks (nccl, ib-write-bw, ib-write-lat): 0 when every run in the file is ok, 1 when any
is not. For the hardware kinds (trainbed/cli/parse_hardware.py: dmesg, nvidia-smi-q, nvlink, lspci,
perfquery, ibnetdiscover, mlxlink, dcgmi-diag, nvbandwidth, fio): 0 when something of the kind was found, 1 when
nothing was. 2 when the file cannot be read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from trainbed.cli.parse_hardware import KINDS, Kind
from trainbed.parse.nccl import parse_nccl
from trainbed.parse.perftest import parse_ib_write_bw
from trainbed.parse.perftest_lat import parse_ib_write_lat
from trainbed.text import binary_reason, printable

_JSON_HELP = "Print the parsed result as JSON instead of a summary."


@click.group("parse")
def parse() -> None:
    """Parse benchmark or hardware-tool output saved to a file ('-' reads stdin)."""


@parse.command("nccl")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
def nccl(file: str, as_json: bool) -> None:
    """Parse nccl-tests output (text or -J JSON) from FILE."""
    _run(file, as_json, parse_nccl, _nccl_summary)


@parse.command("ib-write-bw")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
def ib_write_bw(file: str, as_json: bool) -> None:
    """Parse ib_write_bw output (client or server side) from FILE."""
    _run(file, as_json, parse_ib_write_bw, _ib_summary)


@parse.command("ib-write-lat")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
def ib_write_lat(file: str, as_json: bool) -> None:
    """Parse ib_write_lat output (client or server side; ib_read_lat and ib_send_lat print the
    same table) from FILE."""
    _run(file, as_json, parse_ib_write_lat, _lat_summary)


def _hardware_command(name: str, kind: Kind) -> click.Command:
    @click.argument("file")
    @click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
    def command(file: str, as_json: bool) -> None:
        result = kind.read(_read(file))
        if as_json:
            click.echo(json.dumps(result, indent=2))
        else:
            for record in result[kind.key]:
                click.echo(printable(kind.summary(record), limit=2000))
        if not result[kind.key]:
            click.echo(f"trainbed parse {name}: no {name} output found in {file}", err=True)
        sys.exit(0 if result[kind.key] else 1)

    command.__doc__ = f"{kind.help} Reads FILE."
    return click.command(name)(command)


for _name, _kind in KINDS.items():
    parse.add_command(_hardware_command(_name, _kind))

COMMANDS = [parse]


def _run(
    file: str,
    as_json: bool,
    parser: Callable[[str], dict[str, Any]],
    summary: Callable[[int, dict[str, Any]], list[str]],
) -> None:
    text = _read(file)
    result = parser(text)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        for index, run in enumerate(result["runs"], start=1):
            for line in summary(index, run):
                click.echo(printable(line, limit=1000))
    sys.exit(0 if all(run["ok"] for run in result["runs"]) else 1)


def _read(file: str) -> str:
    """The text of `file` ('-' for stdin); exits 2 with a one-line message when unreadable or binary."""
    try:
        if file == "-":
            data = click.get_binary_stream("stdin").read()
        else:
            with open(file, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        click.echo(f"trainbed parse: cannot read {file}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    reason = binary_reason(data)
    if reason:
        click.echo(f"trainbed parse: {file} is not benchmark output: {reason}", err=True)
        sys.exit(2)
    # Captured output can hold stray bytes (progress bars, other encodings): never fail on them.
    return data.decode("utf-8", errors="replace")


def _status(run: dict[str, Any]) -> str:
    return "OK" if run["ok"] else "FAILED"


def _issues(run: dict[str, Any]) -> list[str]:
    return [f"  error: {e}" for e in run["errors"]] + [f"  warning: {w}" for w in run["warnings"]]


def _nccl_summary(index: int, run: dict[str, Any]) -> list[str]:
    parts = [f"run {index}: {_status(run)}"]
    if run.get("collective"):
        parts.append(run["collective"])
    if run["version"]:
        parts.append(f"version {run['version']}")
    if run["ranks"]:
        parts.append(f"{run['ranks']} ranks")
    rows = run["rows"]
    if rows:
        sizes = f"{_bytes(rows[0]['size_bytes'])}..{_bytes(rows[-1]['size_bytes'])}"
        parts.append(f"{len(rows)} sizes {sizes}")
    if run["peak_busbw_gbs"] is not None:
        parts.append(f"peak busbw {run['peak_busbw_gbs']:.2f} GB/s")
    if run["avg_busbw_gbs"] is not None:
        parts.append(f"avg busbw {run['avg_busbw_gbs']:g} GB/s")
    return ["  ".join(parts), *_issues(run)]


def _perftest_parts(index: int, run: dict[str, Any]) -> list[str]:
    """``run 1: OK  client  mlx5_0 (IB)``: what every perftest summary starts with."""
    parts = [f"run {index}: {_status(run)}"]
    if run["side"]:
        parts.append(run["side"])
    if run["device"]:
        link = f" ({run['link_type']})" if run["link_type"] else ""
        parts.append(f"{run['device']}{link}")
    return parts


def _ib_summary(index: int, run: dict[str, Any]) -> list[str]:
    parts = _perftest_parts(index, run)
    if run["rows"]:
        largest = max(row["bytes"] for row in run["rows"])
        parts.append(f"{len(run['rows'])} sizes, largest {_bytes(largest)}")
    if run["bw_avg_gbps"] is not None:
        parts.append(f"avg {run['bw_avg_gbps']:.2f} Gb/s")
    return ["  ".join(parts), *_issues(run)]


def _lat_summary(index: int, run: dict[str, Any]) -> list[str]:
    parts = _perftest_parts(index, run)
    if run["bytes"] is not None:
        parts.append(f"{len(run['rows'])} sizes, smallest {_bytes(run['bytes'])}")
    for label, key in (("typical", "typical_us"), ("p99", "p99_us"), ("p99.9", "p999_us")):
        if run[key] is not None:
            parts.append(f"{label} {run[key]:.2f} us")
    return ["  ".join(parts), *_issues(run)]


def _bytes(size: int) -> str:
    """A message size in binary units (8 B, 1 MiB, 16 GiB)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"
