"""The simulated board behind the stand-in: one simulated nn_accel device (sw/sim, with its AXI
DMA) per accelerator cell, each at the address the .hwh gives; DDR shared by all of them the
way a PS's DDR is: buffers live in (cacheable) host memory and reach the devices only through
flush(), come back only through invalidate()."""
from __future__ import annotations

import json
from pathlib import Path

DEVICES: list = []            # SimDevice per accelerator cell
WINDOWS: list = []            # (base, size, device, base on the device's own bus)
IRQ_PINS: dict = {}           # "cell/interrupt" -> device


def program(bitfile: Path, cells: dict) -> None:
    """Load a 'bitstream': {"cells": {cell: {"ip_dir", "csim_library", "sim_library", "dma_length_bits"}}}
    at the addresses `cells` (cell -> (base, range), from the .hwh) give."""
    from nnaccel_driver import description
    from nnaccel_driver.sim import ACCEL_BASE, DMA_BASE, SimDevice

    spec = json.loads(Path(bitfile).read_text())
    for d in DEVICES:
        d.close()
    DEVICES.clear(), WINDOWS.clear(), IRQ_PINS.clear()
    for name, c in spec["cells"].items():
        dev = SimDevice(description.load(c["ip_dir"]), c["csim_library"], c.get("sim_library"),
                        dma_length_bits=int(c.get("dma_length_bits", 26)))
        DEVICES.append(dev)
        base, size = cells[name]
        WINDOWS.append((base, size, dev, ACCEL_BASE))
        if f"{name}_dma" in cells:
            dbase, dsize = cells[f"{name}_dma"]
            WINDOWS.append((dbase, dsize, dev, DMA_BASE))
        IRQ_PINS[f"{name}/interrupt"] = dev


def bus(addr: int):
    for base, size, dev, dev_base in WINDOWS:
        if base <= addr < base + size:
            return dev, dev_base + addr - base
    raise ValueError(f"no device at 0x{addr:X} in the programmed bitstream")


def ddr_alloc(nbytes: int, align: int = 64) -> int:
    if not DEVICES:
        raise RuntimeError("no bitstream loaded")
    addrs = {d._lib.nna_sim_ddr_alloc(d._h, nbytes, align) for d in DEVICES}
    if len(addrs) != 1 or 0 in addrs:
        raise RuntimeError(f"simulated DDR out of step or full: {addrs}")
    return addrs.pop()


def ddr_write(addr: int, data: bytes) -> None:
    for d in DEVICES:
        d.ddr(addr, len(data))[:] = memoryview(data)


def ddr_read(addr: int, flushed: bytes) -> bytes:
    """Memory as the devices left it since `flushed` was written to all of them: every byte a
    device changed, the flushed byte elsewhere (the devices stand for one shared DDR)."""
    import numpy as np

    base = np.frombuffer(flushed, dtype=np.uint8)
    out = base.copy()
    for d in DEVICES:
        now = d.ddr(addr, len(flushed))
        changed = now != base
        out[changed] = now[changed]
    return out.tobytes()
