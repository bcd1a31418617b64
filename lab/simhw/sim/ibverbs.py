"""ibverbs-utils for simulated ConnectX-7 HCAs: ``ibv_devinfo``, ``ibv_devices``. Stdlib only."""

from __future__ import annotations

import os
import sys
from typing import Any

import hwdesc

PORT_STATE = {"Down": "PORT_DOWN (1)", "Initializing": "PORT_INIT (2)", "Active": "PORT_ACTIVE (4)"}


def _colon_guid(guid: str) -> str:
    g = guid[2:].rjust(16, "0")
    return ":".join(g[i : i + 4] for i in range(0, 16, 4))


def devinfo_block(h: dict[str, Any]) -> str:
    """One ``hca_id:`` block."""
    view = hwdesc.port_view(h)
    ib = h.get("link_layer", "InfiniBand") == "InfiniBand"
    return (
        f"hca_id:\t{h['device']}\n"
        f"\ttransport:\t\t\t{'InfiniBand (0)'}\n"
        f"\tfw_ver:\t\t\t\t{h.get('firmware', '28.39.1002')}\n"
        f"\tnode_guid:\t\t\t{_colon_guid(h['node_guid'])}\n"
        f"\tsys_image_guid:\t\t\t{_colon_guid(h['node_guid'])}\n"
        "\tvendor_id:\t\t\t0x02c9\n"
        f"\tvendor_part_id:\t\t\t{h.get('vendor_part_id', 4129)}\n"
        f"\thw_ver:\t\t\t\t{h.get('hw_ver', '0x0')}\n"
        f"\tboard_id:\t\t\t{h.get('board_id', 'DEL0000000036')}\n"
        "\tphys_port_cnt:\t\t\t1\n"
        f"\t\tport:\t{h.get('port', 1)}\n"
        f"\t\t\tstate:\t\t\t{PORT_STATE[view['state']]}\n"
        "\t\t\tmax_mtu:\t\t4096 (5)\n"
        f"\t\t\tactive_mtu:\t\t4096 (5)\n"
        f"\t\t\tsm_lid:\t\t\t{view['sm_lid']}\n"
        f"\t\t\tport_lid:\t\t{view['lid']}\n"
        "\t\t\tport_lmc:\t\t0x00\n"
        f"\t\t\tlink_layer:\t\t{'InfiniBand' if ib else 'Ethernet'}\n"
    )


def ibv_devinfo(argv: list[str]) -> int:
    """``ibv_devinfo [-d DEV] [-l]``."""
    hw = hwdesc.load()
    hcas = hwdesc.sorted_hcas(hw)
    if not hcas:
        print("No IB devices found")
        return 255
    args = list(argv)
    dev = None
    while args:
        a = args.pop(0)
        if a in ("-l", "--list"):
            sys.stdout.write(
                f"{len(hcas)} HCA{'s' if len(hcas) != 1 else ''} found:\n"
                + "".join(f"\t{h['device']}\n" for h in hcas)
            )
            return 0
        if a in ("-d", "--ib-dev") and args:
            dev = args.pop(0)
        elif a.startswith("--ib-dev="):
            dev = a.split("=", 1)[1]
    if dev:
        h = hwdesc.hca(hw, dev)
        if h is None:
            print(f"IB device '{dev}' wasn't found")
            return 255
        hcas = [h]
    sys.stdout.write("\n".join(devinfo_block(h) for h in hcas) + "\n")
    return 0


def ibv_devices(argv: list[str]) -> int:
    """``ibv_devices``."""
    hw = hwdesc.load()
    out = f"    {'device':<16s}\t   node GUID\n    {'------':<16s}\t----------------\n"
    for h in hwdesc.sorted_hcas(hw):
        out += f"    {h['device']:<16s}\t{h['node_guid'][2:].rjust(16, '0')}\n"
    sys.stdout.write(out)
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Dispatch on the program name."""
    prog = os.path.basename(prog or sys.argv[0])
    args = list(sys.argv[1:] if argv is None else argv)
    return ibv_devices(args) if prog.startswith("ibv_devices") else ibv_devinfo(args)


if __name__ == "__main__":
    sys.exit(main())
