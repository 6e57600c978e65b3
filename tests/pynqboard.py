"""A board build for the PYNQ stand-in (tests/fakepynq): the work root of a board build, as
test_bundle's fake build, whose `<core>.hwh` is a Vivado-style hardware handoff (XML) made
from the block-design summary, the IPs' emitted HLS tops and register maps, and whose
`<core>.bit` is what the stand-in "programs": the simulated device behind each cell."""
from __future__ import annotations

import json
import re
from pathlib import Path
from xml.sax.saxutils import quoteattr

PRAGMA = re.compile(r"^#pragma HLS INTERFACE mode=(\w+) port=(\w+)(?: offset=(0x[0-9A-Fa-f]+))?", re.M)


def hls_registers(ip_dir: Path) -> dict[str, int]:
    """Register name -> offset as Vitis HLS names them in the exported IP, from the emitted top's
    INTERFACE pragmas: the block-level control registers, then each s_axilite argument at its
    pinned offset; an argument that is also an m_axi pointer takes two words, <arg>_1 and <arg>_2."""
    desc = json.loads((ip_dir / "nnaccel.json").read_text())
    text = (ip_dir / desc["files"]["hls_top"]).read_text()
    pointers = {port for mode, port, _ in PRAGMA.findall(text) if mode == "m_axi"}
    regs = {"CTRL": 0x0, "GIER": 0x4, "IP_IER": 0x8, "IP_ISR": 0xC}
    for mode, port, offset in PRAGMA.findall(text):
        if mode == "s_axilite" and offset:
            if port in pointers:
                regs[f"{port}_1"], regs[f"{port}_2"] = int(offset, 16), int(offset, 16) + 4
            else:
                regs[port] = int(offset, 16)
    return regs


def _register_xml(name: str, offset: int) -> str:
    props = (("DESCRIPTION", name), ("ADDRESS_OFFSET", f"0x{offset:x}"), ("SIZE", "32"), ("ACCESS", "read-write"))
    inner = "".join(f"<PROPERTY NAME={quoteattr(k)} VALUE={quoteattr(v)}/>" for k, v in props)
    return f"<REGISTER NAME={quoteattr(name)}>{inner}</REGISTER>"


def write_hwh(path: Path, summary: dict, ip_dirs: dict, interrupts: bool = True, registers=None) -> None:
    """The hardware handoff of the block design in `summary`: a PS whose address map places every
    control window, one MODULE per accelerator (VLNV, its registers) and per DMA
    (C_SG_LENGTH_WIDTH), interrupts through an xlconcat into the PS when `interrupts`."""
    ps_ranges, modules, concat = [], [], []
    for c in summary["control"]:
        ps_ranges.append(f'<MEMRANGE ADDRESSBLOCK="Reg" BASEVALUE="0x{c["offset"]:08X}" '
                         f'HIGHVALUE="0x{c["offset"] + c["range"] - 1:08X}" INSTANCE={quoteattr(c["cell"])} '
                         f'MEMTYPE="REGISTER" SLAVEBUSINTERFACE="S_AXI"/>')
    for i, a in enumerate(summary["accelerators"]):
        regs = (registers or {}).get(a["name"]) or hls_registers(ip_dirs[a["name"]])
        sig = f"{a['name']}_interrupt" if interrupts else ""
        if interrupts:
            concat.append(f'<PORT DIR="I" NAME="In{i}" SIGNAME={quoteattr(sig)}/>')
        modules.append(
            f'<MODULE FULLNAME="/{a["name"]}" INSTANCE={quoteattr(a["name"])} MODTYPE={quoteattr(a["vlnv"].split(":")[2])} '
            f'VLNV={quoteattr(a["vlnv"])}><PARAMETERS><PARAMETER NAME="Component_Name" VALUE="{a["name"]}_0"/>'
            f'</PARAMETERS><ADDRESSBLOCKS><ADDRESSBLOCK INTERFACE="s_axi_control" NAME="Reg"><REGISTERS>'
            + "".join(_register_xml(n, o) for n, o in regs.items())
            + f'</REGISTERS></ADDRESSBLOCK></ADDRESSBLOCKS><PORTS>'
            f'<PORT DIR="O" NAME="interrupt" SIGNAME={quoteattr(sig)} SIGTYPE="INTERRUPT"/></PORTS></MODULE>')
    for d in summary.get("dmas", []):
        modules.append(f'<MODULE FULLNAME="/{d["cell"]}" INSTANCE={quoteattr(d["cell"])} MODTYPE="axi_dma" '
                       f'VLNV="xilinx.com:ip:axi_dma:7.1"><PARAMETERS>'
                       f'<PARAMETER NAME="C_SG_LENGTH_WIDTH" VALUE="{summary["dma_length_bits"]}"/>'
                       f'<PARAMETER NAME="C_INCLUDE_SG" VALUE="0"/></PARAMETERS><PORTS/></MODULE>')
    text = ('<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n<EDKSYSTEM EDWVERSION="1.2">'
            '<SYSTEMINFO ARCH="zynquplus"/><EXTERNALPORTS/><MODULES>'
            '<MODULE FULLNAME="/zynq_ultra_ps_e_0" INSTANCE="zynq_ultra_ps_e_0" MODTYPE="zynq_ultra_ps_e" '
            'VLNV="xilinx.com:ip:zynq_ultra_ps_e:3.5"><MEMORYMAP>' + "".join(ps_ranges) + '</MEMORYMAP><PORTS>'
            '<PORT DIR="I" NAME="pl_ps_irq0" SIGNAME="xlconcat_0_dout"/></PORTS></MODULE>'
            + "".join(modules)
            + '<MODULE FULLNAME="/xlconcat_0" INSTANCE="xlconcat_0" MODTYPE="xlconcat" '
              'VLNV="xilinx.com:ip:xlconcat:2.1"><PORTS>' + "".join(concat)
            + '<PORT DIR="O" NAME="dout" SIGNAME="xlconcat_0_dout"/></PORTS></MODULE></MODULES></EDKSYSTEM>\n')
    path.write_text(text)


def write_bitstream(path: Path, cells: dict) -> None:
    """The stand-in's 'bitstream': per cell the simulated device to program."""
    path.write_text(json.dumps({"cells": {k: {kk: str(vv) if isinstance(vv, Path) else vv for kk, vv in v.items()}
                                          for k, v in cells.items()}}, indent=1))
