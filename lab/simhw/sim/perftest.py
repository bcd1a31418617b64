"""``ib_write_bw`` and ``ib_write_lat`` (perftest) over the simulated fabric.

Server and client really meet over TCP (default port 18515, like perftest's out-of-band exchange),
swap their port attributes, move real bytes for a bounded time, and report in perftest's format a
bandwidth scaled from the hardware model: min(both port rates) x 0.985, small jitter.

Run as ``ib_write_lat`` (the command's name), the same exchange moves no bulk data and both sides
print perftest's latency table (``RESULT_FMT_LAT``/``REPORT_FMT_LAT`` of perftest_parameters.h,
4.x and later: t_min, t_max, t_typical, t_avg, t_stdev, 99 % and 99.9 % percentiles in usec) for
a healthy port pair (~1.0 usec typical at 2 B) plus both ends' ``latency_extra_us`` (``fault NODE
hca DEV latency US``). No real ib_write_lat sample from an NDR fabric backs the healthy figures;
the table's layout follows perftest's source and the real samples in tests/fixtures/real/.
Stdlib only.
"""

from __future__ import annotations

import json
import os
import random
import socket
import struct
import sys
import time
from typing import Any

import hwdesc

DEFAULT_PORT = 18515
EFFICIENCY = 0.985
SERVER_TIMEOUT_S = float(os.environ.get("TRAINBED_SIM_PERFTEST_TIMEOUT", "60"))
#: Bytes a bandwidth run really sends (a stream between the two nodes; its figure is the
#: model's, so more bytes would only cost the machine running the mock CPU).
DATA_BUDGET = 8 << 20
RULE = "-" * 87
PORT_STATES = {"Down": "Down", "Initializing": "Init", "Active": "Active"}


def parse(argv: list[str]) -> dict[str, Any]:
    """perftest's options (those that change the output or the exchange)."""
    o: dict[str, Any] = {
        "device": None,
        "ib_port": 1,
        "port": DEFAULT_PORT,
        "size": 65536,
        "iters": 5000,
        "duration": None,
        "gbits": False,
        "qps": 1,
        "server": None,
        "rdma_cm": False,
        "all": False,
        "mtu": 4096,
        "latency": False,
    }
    value_opts = {
        "-d": "device",
        "--ib-dev": "device",
        "-i": "ib_port",
        "--ib-port": "ib_port",
        "-p": "port",
        "--port": "port",
        "-s": "size",
        "--size": "size",
        "-n": "iters",
        "--iters": "iters",
        "-D": "duration",
        "--duration": "duration",
        "-q": "qps",
        "--qp": "qps",
        "-m": "mtu",
        "--mtu": "mtu",
        "-x": "gid",
        "--gid-index": "gid",
        "-T": "tos",
        "--tos": "tos",
        "--source_ip": "source_ip",
        "-t": "tx_depth",
        "--tx-depth": "tx_depth",
        "-Q": "cq_mod",
        "-c": "conn",
    }
    flags = {
        "--report_gbits": "gbits",
        "-R": "rdma_cm",
        "--rdma_cm": "rdma_cm",
        "-a": "all",
        "--all": "all",
        "-F": "cpu_freq_f",
        "--CPU-freq": "cpu_freq_f",
        "-b": "bidir",
        "--bidirectional": "bidir",
        "--use_cuda_dmabuf": "dmabuf",
        "-z": "z",
    }
    args = list(argv)
    while args:
        a = args.pop(0)
        name, eq, value = a.partition("=")
        if name in value_opts:
            if not eq:
                value = args.pop(0) if args else ""
            o[value_opts[name]] = value
        elif a in flags:
            o[flags[a]] = True
        elif name == "--use_cuda":
            o["use_cuda"] = value or "0"
        elif not a.startswith("-"):
            o["server"] = a
        else:
            raise ValueError(f"invalid option -- '{a}'")
    for key in ("ib_port", "port", "size", "iters", "qps", "mtu"):
        o[key] = int(o[key])
    if o["duration"] is not None:
        o["duration"] = int(o["duration"])
    return o


def local_port(hw: dict[str, Any], device: str | None) -> tuple[dict[str, Any] | None, str]:
    """The chosen HCA and an error message if it cannot be used."""
    hcas = hwdesc.sorted_hcas(hw)
    if not hcas:
        return None, " Failed to get IB devices list\n Couldn't get context for the device\n"
    h = hwdesc.hca(hw, device) if device else hcas[0]
    if h is None:
        return None, f" IB device {device} not found\n Unable to find the Infiniband/RoCE device\n"
    view = hwdesc.port_view(h)
    if not view["active"]:
        return None, (
            f" Port number {h.get('port', 1)} state is {PORT_STATES[view['state']]}\n"
            " Couldn't set the link layer\n Couldn't get context for the device\n"
        )
    return h, ""


def model_bw_gbits(
    rate_a: float, rate_b: float, size: int, seed: float, factor: float = 1.0
) -> float:
    """Average bandwidth in Gb/s: the slower port's rate x efficiency, small-message penalty,
    times `factor` (the slower end's ``bandwidth_factor``: a port slow below its link rate)."""
    rng = random.Random(seed)
    eff = EFFICIENCY * size / (size + 64)
    return min(rate_a, rate_b) * eff * factor * (1 + rng.uniform(-0.002, 0.002))


def other_fabric(me: dict[str, Any], peer: dict[str, Any]) -> bool:
    """The two ports are cabled to different rails (fabrics): no path between their LIDs."""
    return str(me.get("rail", "")) != str(peer.get("rail", ""))


#: What perftest prints when the RC QP's retries run out (IBV_WC_RETRY_EXC_ERR = 12): the remote
#: LID is not reachable on this port's fabric.
RETRY_EXCEEDED = " Completion with error at {side}:\n Failed status 12: wr_id 0 syndrom 0x81\n"


def _factor(me: dict[str, Any], peer: dict[str, Any]) -> float:
    return min(float(me.get("factor", 1.0)), float(peer.get("factor", 1.0)))


def header(o: dict[str, Any], device: str, server_side: bool) -> str:
    """The parameter block."""
    if o["latency"]:
        return lat_header(o, device, server_side)
    lines = [
        RULE,
        "                    RDMA_Write BW Test",
        f" Dual-port       : OFF\t\tDevice         : {device}",
        f" Number of qps   : {o['qps']}\t\tTransport type : IB",
        " Connection type : RC\t\tUsing SRQ      : OFF",
        " PCIe relax order: ON\t\tLock-free      : OFF",
        " ibv_wr* API     : ON\t\tUsing DDP      : OFF",
    ]
    if not server_side:
        lines.append(" TX depth        : 128")
    lines += [
        " CQ Moderation   : 1",
        f" Mtu             : {o['mtu']}[B]",
        " Link type       : IB",
        " Max inline data : 0[B]",
        f" rdma_cm QPs\t : {'ON' if o['rdma_cm'] else 'OFF'}",
        f" Data ex. method : {'rdma_cm' if o['rdma_cm'] else 'Ethernet'}",
        RULE,
    ]
    return "\n".join(lines) + "\n"


def addresses(me: dict[str, Any], peer: dict[str, Any]) -> str:
    """``local address`` / ``remote address`` lines for each QP."""
    out = []
    for side, info in (("local", me), ("remote", peer)):
        for q in range(info["qps"]):
            out.append(
                f" {side} address: LID {info['lid']:#06x} QPN {info['qpn'] + q:#06x} "
                f"PSN {info['psn']:#08x} RKey {info['rkey']:#08x} "
                f"VAddr 0x{info['vaddr']:016x}"
            )
    return "\n".join(out) + "\n" + RULE + "\n"


def result(o: dict[str, Any], gbits: float) -> str:
    """The result table."""
    unit = "Gb/sec" if o["gbits"] else "MB/sec"
    bytes_per_s = gbits * 1e9 / 8
    value = gbits if o["gbits"] else bytes_per_s / 2**20
    msg_rate = bytes_per_s / o["size"] / 1e6
    iters = int(bytes_per_s * o["duration"] / o["size"]) if o["duration"] else o["iters"]
    peak = 0.0 if o["duration"] else value * 1.0003
    sizes = [2**k for k in range(1, 24)] if o["all"] else [o["size"]]
    lines = [f" #bytes     #iterations    BW peak[{unit}]    BW average[{unit}]   MsgRate[Mpps]"]
    for size in sizes:
        scale = (size / (size + 64)) / (o["size"] / (o["size"] + 64))
        v, p = value * scale, peak * scale
        rate = msg_rate * scale * o["size"] / size
        lines.append(
            f" {size:<7d}    {iters:<10d}       {p:<7.2f}            {v:<7.2f}\t\t     {rate:<7.6f}"
        )
    return "\n".join(lines) + "\n" + RULE + "\n"


def latency_options(o: dict[str, Any], argv: list[str]) -> dict[str, Any]:
    """``o`` for ib_write_lat: its own defaults (2 B, 1000 iterations) where argv set none."""
    given = {a.partition("=")[0] for a in argv}
    o = {**o, "latency": True}
    if not given & {"-s", "--size"}:
        o["size"] = LAT_DEFAULT_SIZE
    if not given & {"-n", "--iters"}:
        o["iters"] = LAT_DEFAULT_ITERS
    return o


def lat_header(o: dict[str, Any], device: str, server_side: bool) -> str:
    """ib_write_lat's parameter block (as perftest 24.x prints it on an IB port)."""
    lines = [
        RULE,
        "                    RDMA_Write Latency Test",
        f" Dual-port       : OFF\t\tDevice         : {device}",
        f" Number of qps   : {o['qps']}\t\tTransport type : IB",
        " Connection type : RC\t\tUsing SRQ      : OFF",
        " PCIe relax order: OFF",
        " ibv_wr* API     : ON",
    ]
    if not server_side:
        lines.append(" TX depth        : 1")
    lines += [
        f" Mtu             : {o['mtu']}[B]",
        " Link type       : IB",
        " Max inline data : 220[B]",
        f" rdma_cm QPs\t : {'ON' if o['rdma_cm'] else 'OFF'}",
        f" Data ex. method : {'rdma_cm' if o['rdma_cm'] else 'Ethernet'}",
        RULE,
    ]
    return "\n".join(lines) + "\n"


#: ib_write_lat's defaults (perftest_parameters.h DEF_SIZE_LAT, DEF_ITERS).
LAT_DEFAULT_SIZE = 2
LAT_DEFAULT_ITERS = 1000
#: A healthy port pair's typical one-way write latency at 2 B, usec, and its growth per byte.
LAT_BASE_US = 1.0
LAT_PER_BYTE_US = 8 / 400e3
#: perftest_parameters.h RESULT_FMT_LAT and REPORT_FMT_LAT (+ REPORT_EXT), verbatim.
LAT_HEADER = (
    " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    "
    "t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] "
)
LAT_ROW = (
    " %-7lu %d          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t"
    "%-7.2f\t\t%-7.2f \t\t%-7.2f\n"
)


def model_latency_us(size: int, extra_us: float, seed: float) -> dict[str, float]:
    """The figures of one run: typical from the size, the tail a little above it; ``extra_us``
    (both ends' added latency) shifts every figure."""
    rng = random.Random(seed)
    typical = LAT_BASE_US + size * LAT_PER_BYTE_US + extra_us + rng.uniform(-0.02, 0.02)
    return {
        "t_min": typical - 0.06,
        "t_max": typical + 3.4,
        "t_typical": typical,
        "t_avg": typical + 0.01,
        "t_stdev": 0.07,
        "p99": typical + 0.12,
        "p999": typical + 1.1,
    }


def lat_result(o: dict[str, Any], me: dict[str, Any], peer: dict[str, Any], seed: float) -> str:
    """ib_write_lat's result table (every size with ``-a``)."""
    extra = me["latency_extra_us"] + peer["latency_extra_us"]
    sizes = [2**k for k in range(1, 24)] if o["all"] else [o["size"]]
    rows = []
    for size in sizes:
        f = model_latency_us(size, extra, seed)
        rows.append(
            LAT_ROW
            % (
                size,
                o["iters"],
                f["t_min"],
                f["t_max"],
                f["t_typical"],
                f["t_avg"],
                f["t_stdev"],
                f["p99"],
                f["p999"],
            )
        )
    return LAT_HEADER + "\n" + "".join(rows) + RULE + "\n"


def _send(sock: socket.socket, obj: dict[str, Any]) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(struct.pack("!I", len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        buf += chunk
    return bytes(buf)


def _drain(sock: socket.socket, n: int) -> None:
    """Receive and drop `n` bytes."""
    chunk = bytearray(1 << 20)
    while n > 0:
        got = sock.recv_into(chunk, min(len(chunk), n))
        if not got:
            raise ConnectionError("peer closed the connection")
        n -= got


def _recv(sock: socket.socket) -> dict[str, Any]:
    (n,) = struct.unpack("!I", _recv_exact(sock, 4))
    return json.loads(_recv_exact(sock, n))


def _endpoint(h: dict[str, Any], o: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random()
    return {
        "rate": hwdesc.port_view(h)["rate"],
        "active": hwdesc.port_view(h)["active"],
        "lid": hwdesc.port_view(h)["lid"],
        "qpn": rng.randrange(0x40, 0x3000),
        "psn": rng.randrange(1 << 24),
        "rkey": rng.randrange(1 << 21),
        "vaddr": 0x7F0000000000 + rng.randrange(1 << 32),
        "qps": o["qps"],
        "rail": h.get("rail", ""),
        "device": h["device"],
        "factor": float(h.get("bandwidth_factor", 1.0)),
        "latency_extra_us": float(h.get("latency_extra_us", 0.0)),
    }


def server(o: dict[str, Any], h: dict[str, Any]) -> int:
    """Wait (bounded) for one client, exchange, receive the data, report."""
    if o["duration"]:
        print(" WARNING: BW peak won't be measured in this run.")
    print(
        "\n************************************\n* Waiting for client to connect... *\n"
        "************************************",
        flush=True,
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lsock:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            lsock.bind(("0.0.0.0", o["port"]))
        except OSError:
            print(
                f" Couldn't bind to port {o['port']}\n Unable to open file descriptor for "
                "socket connection Unable to init the socket connection",
                file=sys.stderr,
            )
            return 1
        lsock.listen(1)
        lsock.settimeout(SERVER_TIMEOUT_S)
        try:
            conn, _ = lsock.accept()
        except TimeoutError:
            print(
                f" No client connected within {SERVER_TIMEOUT_S:.0f} s\n Unable to open file "
                "descriptor for socket connection Unable to init the socket connection",
                file=sys.stderr,
            )
            return 1
    with conn:
        conn.settimeout(30)
        me = _endpoint(h, o)
        try:
            peer = _recv(conn)
            _send(conn, me)
            if not peer.get("active"):
                raise ConnectionError("remote port not active")
            total = struct.unpack("!Q", _recv_exact(conn, 8))[0]
            _drain(conn, total)
            _send(conn, {"done": True})
        except (OSError, ConnectionError, ValueError):
            print(" Failed to exchange data between server and clients", file=sys.stderr)
            return 1
    sys.stdout.write(header(o, h["device"], True) + addresses(me, peer))
    if other_fabric(me, peer):
        sys.stderr.write(RETRY_EXCEEDED.format(side="server"))
        return 1
    if o["latency"]:
        sys.stdout.write(lat_result(o, me, peer, peer["psn"]))
        return 0
    bw = model_bw_gbits(me["rate"], peer["rate"], o["size"], peer["psn"], _factor(me, peer))
    sys.stdout.write(result(o, bw))
    return 0


def client(o: dict[str, Any], h: dict[str, Any]) -> int:
    """Connect to the server, exchange, send the data, report."""
    if o["duration"]:
        print(" WARNING: BW peak won't be measured in this run.")
    me = _endpoint(h, o)
    deadline = time.monotonic() + 2.0
    sock = None
    while sock is None:
        try:
            sock = socket.create_connection((o["server"], o["port"]), timeout=5)
        except OSError:
            if time.monotonic() >= deadline:  # perftest retries briefly, then gives up
                print(
                    f"Couldn't connect to {o['server']}:{o['port']}\nUnable to open file "
                    "descriptor for socket connection Unable to init the socket connection",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.2)
    with sock:
        sock.settimeout(30)
        try:
            _send(sock, me)
            peer = _recv(sock)
            if not peer.get("active"):
                raise ConnectionError("remote port not active")
            total = 0 if o["latency"] else min(DATA_BUDGET, o["size"] * o["iters"])
            sock.sendall(struct.pack("!Q", total))
            payload = b"\xa5" * (1 << 20)
            sent = 0
            while sent < total:
                n = min(len(payload), total - sent)
                sock.sendall(payload[:n])
                sent += n
            _recv(sock)
        except (OSError, ConnectionError, ValueError):
            print(" Failed to exchange data between server and clients", file=sys.stderr)
            return 1
    sys.stdout.write(header(o, h["device"], False) + addresses(me, peer))
    if other_fabric(me, peer):
        sys.stderr.write(RETRY_EXCEEDED.format(side="client"))
        return 1
    if o["latency"]:
        sys.stdout.write(lat_result(o, me, peer, me["psn"]))
        return 0
    bw = model_bw_gbits(me["rate"], peer["rate"], o["size"], me["psn"], _factor(me, peer))
    sys.stdout.write(result(o, bw))
    return 0


def main(argv: list[str] | None = None, prog: str = "ib_write_bw") -> int:
    """Entry point: client when a server name is given, else server; ``prog`` (the command's
    name) ``ib_write_lat`` measures latency."""
    name = os.path.basename(prog)
    try:
        o = parse(list(sys.argv[1:] if argv is None else argv))
    except (ValueError, IndexError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    if name == "ib_write_lat":
        o = latency_options(o, argv if argv is not None else sys.argv[1:])
    h, error = local_port(hwdesc.load(), o["device"])
    if h is None:
        sys.stderr.write(error)
        return 1
    return client(o, h) if o["server"] else server(o, h)


if __name__ == "__main__":
    sys.exit(main())
