#!/usr/bin/env python3
"""zynq_bd: FuseSoC generator, board + accelerator IPs -> Zynq block design core.

Writes <design>_bd.tcl (PS with the board preset, clock, reset, SmartConnects, the
accelerators, AXI DMAs for stream data, interrupts, addresses, validation, HDL
wrapper), <design>.json (addresses and interrupts for drivers), the accelerators'
IP directories under ip/, and <design>.core. Parameters: see generators.core.
"""
import sys
from pathlib import Path

from nnaccel import gapi
from nnaccel.bd import generate


def body(params, files_root, vlnv):
    generate(params, Path("."), files_root=files_root, vlnv=vlnv or None)


if __name__ == "__main__":
    sys.exit(gapi.run("zynq_bd", body))
