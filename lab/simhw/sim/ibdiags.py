"""infiniband-diags for simulated ConnectX-7 HCAs: ``ibstat``, ``ibstatus``, ``sminfo``, ``perfquery``,
``ibnetdiscover -p``.

Port state combines the hardware description with the fabric: a linked-up port is Active only
while a subnet manager (``opensm``) of its rail runs somewhere. Stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from typing import Any

import hwdesc

RATE_NAMES = {
    10: "4X SDR",
    25: "1X EDR",
    40: "4X QDR",
    50: "1X HDR",
    56: "4X FDR",
    100: "4X EDR",
    200: "4X HDR",
    400: "4X NDR",
    800: "4X XDR",
}
STATE_NUM = {"Down": 1, "Initializing": 2, "Armed": 3, "Active": 4}
PHYS_NUM = {"Sleep": 1, "Polling": 2, "Disabled": 3, "LinkUp": 5}
CAP_MASK = 0xA751E848
IS_SM = 0x2


def _runs_sm(h: dict[str, Any]) -> bool:
    return any(sm["guid"] == h["port_guid"] for sm in hwdesc.live_sms(h.get("rail", "")))


def _ca_names(hw: dict[str, Any]) -> list[str]:
    # umad_get_cas_names() sorts with alphasort: mlx5_10 before mlx5_2
    return sorted(h["device"] for h in hw.get("hcas", []))


def ibstat_ca(h: dict[str, Any]) -> str:
    """One CA block of ``ibstat``."""
    view = hwdesc.port_view(h)
    mask = CAP_MASK | (IS_SM if view["active"] and _runs_sm(h) else 0)
    ib = h.get("link_layer", "InfiniBand") == "InfiniBand"
    return (
        f"CA '{h['device']}'\n"
        f"\tCA type: {h.get('ca_type', 'MT4129')}\n"
        "\tNumber of ports: 1\n"
        f"\tFirmware version: {h.get('firmware', '28.39.1002')}\n"
        "\tHardware version: 0\n"
        f"\tNode GUID: {h['node_guid']}\n"
        f"\tSystem image GUID: {h['node_guid']}\n"
        f"\tPort {h.get('port', 1)}:\n"
        f"\t\tState: {view['state']}\n"
        f"\t\tPhysical state: {view['phys']}\n"
        f"\t\tRate: {view['rate']}\n"
        f"\t\tBase lid: {view['lid']}\n"
        "\t\tLMC: 0\n"
        f"\t\tSM lid: {view['sm_lid']}\n"
        f"\t\tCapability mask: 0x{mask if ib else 0x00010000:08x}\n"
        f"\t\tPort GUID: {h['port_guid'] if ib else '0x0000000000000000'}\n"
        f"\t\tLink layer: {h.get('link_layer', 'InfiniBand')}\n"
    )


def ibstat(argv: list[str]) -> int:
    """``ibstat [-l | -p | -s] [CA [PORT]]``."""
    hw = hwdesc.load()
    names = _ca_names(hw)
    flags = [a for a in argv if a.startswith("-")]
    args = [a for a in argv if not a.startswith("-")]
    if not names:
        print(
            f"ibpanic: [{os.getpid()}] main: can't list IB device names: "
            "(No such file or directory)",
            file=sys.stderr,
        )
        return 255
    if "-l" in flags or "--list_of_cas" in flags:
        sys.stdout.write("".join(n + "\n" for n in names))
        return 0
    if args and args[0] not in names:
        print(
            f"ibpanic: [{os.getpid()}] main: '{args[0]}' IB device can't be found: Success",
            file=sys.stderr,
        )
        return 255
    chosen = [hwdesc.hca(hw, n) for n in (args[:1] or names)]
    if "-p" in flags or "--port_list" in flags:
        sys.stdout.write("".join(f"{h['port_guid']}\n" for h in chosen if h))
        return 0
    sys.stdout.write("".join(ibstat_ca(h) for h in chosen if h))
    return 0


def gid_prefix(h: dict[str, Any]) -> str:
    """The port's GID prefix as 4 colon groups: the master SM's ``subnet_prefix`` of the fabric
    the port is cabled to (the SM programs it), the default fe80:: without one."""
    sms = hwdesc.live_sms(h.get("rail", "")) if hwdesc.port_view(h)["active"] else []
    prefix = (
        int(str(sms[0].get("subnet_prefix", "0xfe80000000000000")), 16) if sms else 0xFE80 << 48
    )
    p = f"{prefix:016x}"
    return ":".join(p[i : i + 4] for i in range(0, 16, 4))


def ibstatus_port(h: dict[str, Any]) -> str:
    """One port block of ``ibstatus``."""
    view = hwdesc.port_view(h)
    g = h["port_guid"][2:].rjust(16, "0")
    gid = gid_prefix(h) + ":" + ":".join(g[i : i + 4] for i in range(0, 16, 4))
    state = view["state"].upper() if view["state"] != "Initializing" else "INIT"
    return (
        f"Infiniband device '{h['device']}' port {h.get('port', 1)} status:\n"
        f"\tdefault gid:\t {gid}\n"
        f"\tbase lid:\t 0x{view['lid']:x}\n"
        f"\tsm lid:\t\t 0x{view['sm_lid']:x}\n"
        f"\tstate:\t\t {STATE_NUM[view['state']]}: {state}\n"
        f"\tphys state:\t {PHYS_NUM[view['phys']]}: {view['phys']}\n"
        f"\trate:\t\t {view['rate']} Gb/sec ({RATE_NAMES.get(view['rate'], '4X')})\n"
        f"\tlink_layer:\t {h.get('link_layer', 'InfiniBand')}\n\n"
    )


def ibstatus(argv: list[str]) -> int:
    """``ibstatus [DEVICE[:PORT] ...]``."""
    hw = hwdesc.load()
    wanted = [a.split(":")[0] for a in argv if not a.startswith("-")]
    hcas = [hwdesc.hca(hw, n) for n in (wanted or _ca_names(hw))]
    for name, h in zip(wanted or _ca_names(hw), hcas, strict=True):
        if h is None:
            print(f"Infiniband device '{name}' not found", file=sys.stderr)
            return 1
    sys.stdout.write("".join(ibstatus_port(h) for h in hcas if h))
    return 0


def sminfo(argv: list[str]) -> int:
    """``sminfo [-C CA] [-P PORT]``: the master SM of the local port's fabric (rail)."""
    hw = hwdesc.load()
    ca = None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("-C", "--Ca") and args:
            ca = args.pop(0)
        elif a in ("-P", "--Port") and args:
            args.pop(0)
    names = sorted(hwdesc.sorted_hcas(hw), key=lambda h: int(h["device"].rsplit("_", 1)[1]))
    h = hwdesc.hca(hw, ca) if ca else (names[0] if names else None)
    pid = os.getpid()
    if h is None:
        print(
            f"ibwarn: [{pid}] mad_rpc_open_port: can't open UMAD port ({ca or '(null)'}:0)",
            file=sys.stderr,
        )
        print(
            "sminfo: iberror: failed: Failed to open '%s' port '0'" % (ca or "(null)"),
            file=sys.stderr,
        )
        return 255
    view = hwdesc.port_view(h)
    sms = hwdesc.live_sms(h.get("rail", "")) if view["active"] else []
    if not sms:
        print(f"ibwarn: [{pid}] _do_madrpc: recv failed: Connection timed out", file=sys.stderr)
        print(f"ibwarn: [{pid}] mad_rpc: _do_madrpc failed; dport (Lid 0)", file=sys.stderr)
        print("sminfo: iberror: failed: query", file=sys.stderr)
        return 255
    sm = sms[0]
    activity = int(time.time() - float(sm.get("started", time.time())))
    print(
        f"sminfo: sm lid {hwdesc.lid_of(sm['guid'])} sm guid {sm['guid']}, activity count "
        f"{activity} priority {sm.get('priority', 0)} state 3 SMINFO_MASTER"
    )
    return 0


#: ``perfquery -x`` lines in the real order (perfquery_x_*.txt); error counters come from the
#: description (growing after a fault), data counters grow with time like a busy port's.
PERFQUERY_X = (
    "PortSelect",
    "CounterSelect",
    "PortXmitData",
    "PortRcvData",
    "PortXmitPkts",
    "PortRcvPkts",
    "PortUnicastXmitPkts",
    "PortUnicastRcvPkts",
    "PortMulticastXmitPkts",
    "PortMulticastRcvPkts",
    "CounterSelect2",
    "SymbolErrorCounter",
    "LinkErrorRecoveryCounter",
    "LinkDownedCounter",
    "PortRcvErrors",
    "PortRcvRemotePhysicalErrors",
    "PortRcvSwitchRelayErrors",
    "PortXmitDiscards",
    "PortXmitConstraintErrors",
    "PortRcvConstraintErrors",
    "LocalLinkIntegrityErrors",
    "ExcessiveBufferOverrunErrors",
    "VL15Dropped",
    "PortXmitWait",
    "QP1Dropped",
)
#: Bytes/4 and packets per second the data counters grow by (a lightly loaded NDR port).
DATA_RATES = {"PortXmitData": 2_500_000, "PortXmitPkts": 600, "PortXmitWait": 40}


def perfquery_block(h: dict[str, Any], lid: int, now: float) -> str:
    """One ``# Port extended counters`` block of ``perfquery -x``."""
    seed = int(h["port_guid"], 16) % 1_000_000
    values: dict[str, str] = {
        "PortSelect": str(h.get("port", 1)),
        "CounterSelect": "0x0000",
        "CounterSelect2": "0x00000000",
        "QP1Dropped": "0",
    }
    for name, rate in DATA_RATES.items():
        values[name] = str(seed + int(now * rate) % 10**12)
    values["PortRcvData"] = values["PortXmitData"]
    values["PortRcvPkts"] = values["PortUnicastXmitPkts"] = values["PortUnicastRcvPkts"] = values[
        "PortXmitPkts"
    ]
    values["PortMulticastXmitPkts"] = values["PortMulticastRcvPkts"] = str(seed // 7)
    for name in hwdesc.PORT_COUNTER_MAX:
        values[name] = str(hwdesc.port_counter(h, name, now))
    lines = [
        f"# Port extended counters: Lid {lid} port {h.get('port', 1)} "
        "(CapMask: 0x5300 CapMask2: 0x0000002)"
    ]
    lines += [f"{name + ':':.<33s}{values[name]}" for name in PERFQUERY_X]
    return "\n".join(lines) + "\n"


def _local_port(
    argv: list[str], flags: tuple[str, ...]
) -> tuple[str | None, bool, dict[str, Any] | None]:
    """``-C CA`` (``-P PORT`` is read past), whether one of `flags` is given, and the local HCA
    the tool opens: the CA's, else the first (None: no such CA)."""
    hw = hwdesc.load()
    ca, flagged, args = None, False, list(argv)
    while args:
        a = args.pop(0)
        if a in ("-C", "--Ca") and args:
            ca = args.pop(0)
        elif a in ("-P", "--Port") and args:
            args.pop(0)
        elif a in flags:
            flagged = True
    hcas = hwdesc.sorted_hcas(hw)
    return ca, flagged, hwdesc.hca(hw, ca) if ca else (hcas[0] if hcas else None)


def _cannot_open(ca: str | None) -> None:
    print(
        f"ibwarn: [{os.getpid()}] mad_rpc_open_port: can't open UMAD port ({ca or '(null)'}:0)",
        file=sys.stderr,
    )


def perfquery(argv: list[str]) -> int:
    """``perfquery -x [-C CA] [-P PORT]``: the local port's extended counters."""
    ca, extended, h = _local_port(argv, ("-x", "--extended"))
    pid = os.getpid()
    if h is None:
        _cannot_open(ca)
        print(f"perfquery: iberror: failed: Failed to open '{ca}' port '0'", file=sys.stderr)
        return 255
    view = hwdesc.port_view(h)
    if not view["active"]:
        print(f"ibwarn: [{pid}] _do_madrpc: recv failed: Connection timed out", file=sys.stderr)
        print(f"ibwarn: [{pid}] mad_rpc: _do_madrpc failed; dport (Lid 0)", file=sys.stderr)
        print("perfquery: iberror: failed: perfquery", file=sys.stderr)
        return 255
    if not extended:
        print("perfquery: this simulator answers perfquery -x only", file=sys.stderr)
        return 255
    sys.stdout.write(perfquery_block(h, view["lid"], time.time()))
    return 0


def port_line(
    node_type: str,
    lid: int,
    port: int,
    guid: str,
    width: str,
    speed: str,
    peer_type: str,
    peer_lid: int,
    peer_port: int,
    peer_guid: str,
    description: str,
    peer_description: str,
) -> str:
    """One connected port of ``ibnetdiscover -p`` in the real layout (the EDR sample's lines)."""
    return (
        f"{node_type} {lid:5d} {port:2d} {guid} {width} {speed} - "
        f"{peer_type} {peer_lid:5d} {peer_port:2d} {peer_guid} "
        f"( '{description}' - '{peer_description}' )"
    )


def switch_guid(name: str) -> str:
    """A stable GUID for a simulated leaf switch (by its name)."""
    return "0x" + hashlib.sha256(f"switch:{name}".encode()).hexdigest()[:16]


def cabled_ports(rail: str) -> list[tuple[str, dict[str, Any]]]:
    """(host, HCA) of every Active port on `rail` with a leaf port, from the nodes' cabling in
    the shared fabric (``$FABRIC/cabling/HOST.json``, written by bring-up and ``lab/fault``)."""
    out = []
    for path in sorted((hwdesc.fabric_dir() / "cabling").glob("*.json")):
        try:
            node = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for h in node.get("hcas", []):
            if (
                h.get("rail") == rail
                and h.get("state", "Active") == "Active"
                and h.get("switch")
                and h.get("switch_port")
            ):
                out.append((str(node.get("hostname", path.stem)), h))
    return out


def ibnetdiscover(argv: list[str]) -> int:
    """``ibnetdiscover -p [-C CA] [-P PORT]``: every cabled CA port of the local port's fabric
    (rail) and its leaf's port, one line each way, as the ports report lists them."""
    ca, ports_report, h = _local_port(argv, ("-p", "--ports"))
    pid = os.getpid()
    if h is None:
        _cannot_open(ca)
        print("ibnetdiscover: iberror: failed: discover failed", file=sys.stderr)
        return 255
    if not ports_report:
        print("ibnetdiscover: this simulator answers the ports report (-p) only", file=sys.stderr)
        return 255
    if not hwdesc.port_view(h)["active"]:
        print(f"ibwarn: [{pid}] _do_madrpc: recv failed: Connection timed out", file=sys.stderr)
        print("ibnetdiscover: iberror: failed: discover failed", file=sys.stderr)
        return 255
    lines = []
    for host, p in cabled_ports(str(h.get("rail", ""))):
        leaf, sw = str(p["switch"]), switch_guid(str(p["switch"]))
        ca_end = ("CA", hwdesc.lid_of(p["port_guid"]), int(p.get("port", 1)), p["port_guid"])
        sw_end = ("SW", hwdesc.lid_of(sw), int(p["switch_port"]), sw)
        name = f"{host} {p['device']}"
        lines.append(port_line(*ca_end, "4x", "NDR", *sw_end, name, leaf))
        lines.append(port_line(*sw_end, "4x", "NDR", *ca_end, leaf, name))
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Dispatch on the program name."""
    prog = os.path.basename(prog or sys.argv[0])
    args = list(sys.argv[1:] if argv is None else argv)
    if prog.startswith("ibstatus"):
        return ibstatus(args)
    if prog.startswith("sminfo"):
        return sminfo(args)
    if prog.startswith("perfquery"):
        return perfquery(args)
    if prog.startswith("ibnetdiscover"):
        return ibnetdiscover(args)
    return ibstat(args)


if __name__ == "__main__":
    sys.exit(main())
