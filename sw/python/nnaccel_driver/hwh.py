"""What the driver reads from the Vivado hardware handoff (`<design>.hwh`, XML) beside the
bitstream: for each block-design cell its VLNV, parameters, the registers its IP describes,
its address window and whether its interrupt pin is connected. The element and attribute
names are the ones PYNQ's own parser reads (MODULE FULLNAME/INSTANCE/VLNV, PARAMETERS/PARAMETER,
REGISTERS/REGISTER with PROPERTY ADDRESS_OFFSET, MEMRANGE BASEVALUE/HIGHVALUE/INSTANCE,
PORTS/PORT SIGNAME)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DriverError

# Register names Vitis HLS gives the top's s_axilite arguments (templates/ip/top.cpp.j2): a
# scalar keeps its name, a 64-bit address is split into <arg>_1 (low word) and <arg>_2.
HLS_REGISTER = {
    "CTRL": "CTRL", "COMMAND": "command", "N_SAMPLES": "n_samples", "IN_ADDR": "in_data_1",
    "OUT_ADDR": "out_data_1", "WEIGHTS_ADDR": "weights_1", "STATUS": "status", "LAST_ERROR": "last_error",
    "FINGERPRINT": "fingerprint", "IDENT": "ident", "SAMPLES_DONE": "samples_done",
    "LOAD_BANK": "load_bank", "ACTIVE_BANK": "active_bank", "BANKS_VALID": "banks_valid",
}


def hls_register(name: str) -> str | None:
    """The handoff's name of a register-map register: a further tensor's IN_ADDR_<i> / OUT_ADDR_<j>
    is the low word of the top's in_data_<i> / out_data_<j> argument."""
    m = re.fullmatch(r"(IN|OUT)_ADDR_(\d+)", name)
    if m:
        return f"{m.group(1).lower()}_data_{m.group(2)}_1"
    return HLS_REGISTER.get(name)


@dataclass
class Cell:
    name: str
    vlnv: str
    parameters: dict = field(default_factory=dict)
    registers: dict = field(default_factory=dict)   # register name -> offset
    base: int | None = None
    range: int | None = None
    interrupt_connected: bool = False


def _int(text: str) -> int:
    return int(text, 0)


def parse(path) -> dict[str, Cell]:
    """Cells of the handoff by name (FULLNAME without the leading '/')."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise DriverError(f"{path}: cannot read the hardware handoff ({e})") from None
    modules = list(root.iter("MODULE"))
    nets: dict[str, int] = {}  # signal name -> number of module ports on it
    for m in modules:
        for port in m.iter("PORT"):
            sig = port.get("SIGNAME")
            if sig:
                nets[sig] = nets.get(sig, 0) + 1
    cells, by_instance = {}, {}
    for m in modules:
        name = (m.get("FULLNAME") or "").lstrip("/")
        if not name:
            continue
        cell = Cell(name=name, vlnv=m.get("VLNV") or "")
        cell.parameters = {p.get("NAME"): p.get("VALUE") for p in m.findall("./PARAMETERS/PARAMETER[@NAME]")}
        for reg in m.findall(".//REGISTERS/REGISTER[@NAME]"):
            prop = reg.find("./PROPERTY[@NAME='ADDRESS_OFFSET']")
            if prop is not None:
                cell.registers[reg.get("NAME")] = _int(prop.get("VALUE"))
        for port in m.findall("./PORTS/PORT[@NAME='interrupt']"):
            sig = port.get("SIGNAME")
            cell.interrupt_connected = bool(sig) and nets.get(sig, 0) > 1
        cells[name] = cell
        by_instance[m.get("INSTANCE") or name] = cell
    for r in root.iter("MEMRANGE"):  # the processor's address map: where each slave is
        cell = by_instance.get(r.get("INSTANCE"))
        if cell is not None and cell.base is None:
            cell.base = _int(r.get("BASEVALUE"))
            cell.range = _int(r.get("HIGHVALUE")) - cell.base + 1
    return cells


def vlnvs(path, prefix: str = "nnaccel:hls:") -> dict[str, str]:
    """Cell name -> VLNV of the cells whose VLNV starts with `prefix`."""
    return {n: c.vlnv for n, c in parse(path).items() if c.vlnv.startswith(prefix)}
