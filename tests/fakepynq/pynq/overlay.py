"""pynq.Overlay and pynq.DefaultIP as PYNQ 3.x documents them: the .hwh beside the bitstream
gives the IP dictionary; drivers are DefaultIP subclasses registered by their `bindto` VLNVs
(exact, or without the version with ignore_version=True); the modules registered under the
entry-point group `pynq.lib` are imported before drivers are assigned; `ol.<cell>` creates the
driver on first access; an IP's connected interrupt pins become Interrupt attributes."""
from __future__ import annotations

import importlib
import importlib.metadata
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

from . import _board
from .device import Device
from .interrupt import Interrupt
from .mmio import MMIO

DRIVERS_GROUP = "pynq.lib"
_ip_drivers: dict = {}


class UnsupportedConfiguration(Exception):
    pass


class RegisterIP(type):
    def __init__(cls, name, bases, attrs):
        for vlnv in attrs.get("bindto", []):
            _ip_drivers[vlnv] = cls
            _ip_drivers[vlnv.rpartition(":")[0]] = cls
        super().__init__(name, bases, attrs)


class DefaultIP(metaclass=RegisterIP):
    def __init__(self, description):
        self.description = description
        self.device = description.get("device") or Device.active_device
        self.mmio = MMIO(description["phys_addr"], description["addr_range"], device=self.device)
        self._interrupts = description.get("interrupts", {})
        for name, details in self._interrupts.items():
            try:
                setattr(self, name, Interrupt(details["fullpath"]))
            except ValueError as e:
                warnings.warn(f"Interrupt {name} not created: {e}")
                setattr(self, name, None)

    def read(self, offset=0):
        return self.mmio.read(offset)

    def write(self, offset, value):
        self.mmio.write(offset, value)


def _parse_hwh(path: Path) -> dict:
    """ip_dict: cell -> {fullpath, type, phys_addr, addr_range, parameters, registers, interrupts}."""
    root = ET.parse(path).getroot()
    modules = {m.get("INSTANCE"): m for m in root.iter("MODULE")}
    nets: dict = {}
    for m in modules.values():
        for p in m.iter("PORT"):
            nets.setdefault(p.get("SIGNAME"), []).append(m.get("MODTYPE"))
    ip_dict = {}
    for r in root.iter("MEMRANGE"):
        m = modules.get(r.get("INSTANCE"))
        if m is None or r.get("MEMTYPE") != "REGISTER":
            continue
        name = m.get("FULLNAME").lstrip("/")
        base, high = int(r.get("BASEVALUE"), 16), int(r.get("HIGHVALUE"), 16)
        regs = {}
        for reg in m.findall(".//REGISTERS/*[@NAME]"):
            prop = {p.get("NAME"): p.get("VALUE") for p in reg.findall("./PROPERTY")}
            regs[reg.get("NAME")] = {"address_offset": int(prop["ADDRESS_OFFSET"], 0), "size": int(prop["SIZE"], 0),
                                     "access": prop.get("ACCESS"), "description": prop.get("DESCRIPTION")}
        irqs = {}
        for p in m.findall("./PORTS/PORT[@SIGTYPE='INTERRUPT']"):
            # connected to the processor through a concat / interrupt controller
            if {"xlconcat", "axi_intc"} & set(nets.get(p.get("SIGNAME"), [])):
                irqs[p.get("NAME")] = {"fullpath": f"{name}/{p.get('NAME')}"}
        ip_dict[name] = {"fullpath": name, "type": m.get("VLNV"), "phys_addr": base, "addr_range": high - base + 1,
                         "parameters": {p.get("NAME"): p.get("VALUE") for p in m.findall("./PARAMETERS/*[@NAME]")},
                         "registers": regs, "interrupts": irqs, "gpio": {}, "state": None}
    return ip_dict


class Overlay:
    def __init__(self, bitfile_name, dtbo=None, download=True, ignore_version=False, device=None, gen_cache=False):
        bit = Path(bitfile_name)
        if not bit.is_file():
            raise IOError(f"Bitstream file {bitfile_name} does not exist.")
        hwh = bit.with_suffix(".hwh")
        if not hwh.is_file():
            raise ValueError(f"Cannot find metadata file {hwh}")
        self.bitfile_name = str(bit.resolve())
        self.device = device or Device.active_device
        self._register_drivers()
        self.device.set_bitfile_name(self.bitfile_name)
        self.ip_dict = _parse_hwh(hwh)
        self.device.ip_dict = self.ip_dict
        for d in self.ip_dict.values():
            d["device"] = self.device
            t = d["type"]
            drv = _ip_drivers.get(t)
            if drv is None and ignore_version:
                drv = _ip_drivers.get(t.rpartition(":")[0])
            d["driver"] = drv or DefaultIP
        self._drivers = {}
        if download:
            self.download()

    def _register_drivers(self):
        importlib.import_module(DRIVERS_GROUP)
        for ep in importlib.metadata.entry_points(group=DRIVERS_GROUP):
            importlib.import_module(ep.value)

    def download(self):
        _board.program(Path(self.bitfile_name),
                       {k: (v["phys_addr"], v["addr_range"]) for k, v in self.ip_dict.items()})

    def is_loaded(self) -> bool:
        return self.device.bitfile_name == self.bitfile_name

    def __getattr__(self, key):
        if key.startswith("_") or key in ("ip_dict", "device", "bitfile_name"):
            raise AttributeError(key)
        if key not in self.ip_dict:
            raise AttributeError(f"Could not find IP or hierarchy {key} in overlay")
        if key not in self._drivers:
            self._drivers[key] = self.ip_dict[key]["driver"](self.ip_dict[key])
        return self._drivers[key]
