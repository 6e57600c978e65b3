"""Hand-made IP directories (the contract of docs/contracts.md) for block-design tests:
the block design only reads nnaccel.json, regmap.json and the HLS file list."""
from __future__ import annotations

import json
from pathlib import Path


def description(top="nn_accel", interface="axi_master", weights="external", bus_width=128,
                part="xczu3eg-sbva484-1-e", board="ultra96v2", clock_period=5.0, word_bits=32) -> dict:
    ports = [{"name": "s_axi_control", "kind": "s_axilite", "role": "control"}]
    if interface == "axi_master":
        ports.append({"name": "m_axi_gmem_data", "kind": "m_axi", "role": "data", "width": bus_width})
    if interface == "axi_stream":
        ports.append({"name": "in_stream", "kind": "axis_slave", "role": "data_in", "width": word_bits})
        ports.append({"name": "out_stream", "kind": "axis_master", "role": "data_out", "width": word_bits})
    if weights == "external":
        ports.append({"name": "m_axi_gmem_w", "kind": "m_axi", "role": "weights", "width": bus_width})
    return {
        "schema": 1, "top": top, "vlnv": f"nnaccel:hls:{top}:1.0", "interface": interface, "weights": weights,
        "io_type": "io_stream", "bus_width": bus_width, "part": part, "board": board,
        "clock_period": clock_period, "n_inputs": 16, "n_outputs": 5, "ports": ports,
        "clock": "ap_clk", "reset": "ap_rst_n", "interrupt": "interrupt",
        "files": {"regmap": "regmap.json", "hls_script": "hls/build_hls.tcl", "regs_header": f"{top}_regs.h"},
    }


def write_ip(root: Path, desc: dict, address_range: int = 0x100) -> Path:
    """Write an IP directory for `desc` under root/<top>; returns the directory."""
    d = Path(root) / desc["top"]
    (d / "hls" / "firmware").mkdir(parents=True, exist_ok=True)
    (d / "nnaccel.json").write_text(json.dumps(desc, indent=2))
    (d / "regmap.json").write_text(json.dumps({"version": 1, "address_range": address_range}))
    (d / f"{desc['top']}_regs.h").write_text("/* registers */\n")
    top = desc["top"]
    (d / "hls" / f"{top}.cpp").write_text(f'#include "{top}.h"\n')
    (d / "hls" / f"{top}.h").write_text("#pragma once\n")
    (d / "hls" / "firmware" / "myproject.cpp").write_text("// hls4ml\n")
    (d / "hls" / "build_hls.tcl").write_text(
        # Like the real script: the project in the working directory, sources beside the script.
        "set here [file dirname [file normalize [info script]]]\n"
        f"open_project -reset {top}_prj\nset_top {top}\nadd_files $here/{top}.cpp\n"
        "open_solution -reset solution1 -flow_target vivado\n"
        f"set_part {desc['part']}\ncreate_clock -period {desc['clock_period']} -name default\n"
        "config_export -format ip_catalog -vendor {0} -library {1} -version {3} -ipname {2}\n"
        "csynth_design\nexport_design -format ip_catalog\nexit\n".format(*desc["vlnv"].split(":")))
    return d
