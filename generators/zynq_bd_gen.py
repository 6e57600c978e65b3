#!/usr/bin/env python3
"""zynq_bd: FuseSoC generator, board + accelerator IPs -> Zynq block design core.

Writes <design>_bd.tcl (PS with the board preset, clock, reset, SmartConnects, the
accelerators, AXI DMAs for stream data, interrupts, addresses, validation, HDL
wrapper), <design>.json (addresses and interrupts for drivers), the accelerators'
IP directories under ip/, and <design>.core. Parameters: see generators.core.

FuseSoC cannot cache this generator (the model files sit inside `accelerators`, out of
sight of file_input_parameters), so it runs on every `fusesoc run`; the output is
cached here instead, keyed by the content of every input (nnaccel.gencache).
"""
import os
import sys
from pathlib import Path

GENERATOR_VERSION = "0.1.0"  # see nn_hls_gen.py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def body(params, files_root, vlnv):
    from nnaccel import gencache

    def generate():
        from nnaccel.bd import generate as generate_bd  # imports numpy, jinja2: only on a cache miss

        generate_bd(params, Path("."), files_root=files_root, vlnv=vlnv or None)

    gencache.run_cached("zynq_bd", params, files_root, vlnv, Path("."), generate)


if __name__ == "__main__":
    from nnaccel import envcheck

    envcheck.require("zynq_bd")
    from nnaccel import gapi

    sys.exit(gapi.run("zynq_bd", body, GENERATOR_VERSION))
