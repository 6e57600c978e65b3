"""PYNQ driver. After `pip install` of the driver wheel (the bundle of `nnaccel bundle` has one),
the Overlay alone is enough:

    from pynq import Overlay
    ol = Overlay("design.bit")       # PYNQ imports this module (entry point pynq.lib)
    y = ol.nn_accel.predict(x)       # the cell's description is found beside the bitstream

or, for any nnaccel:hls:* accelerator whatever its VLNV:

    from nnaccel_driver.pynq_driver import NnAccelOverlay
    with NnAccelOverlay("design.bit") as ol:
        y = ol.nn_accel.predict(x)
        print(ol.nn_accel.throughput_test(10000))

The accelerator's files (nnaccel.json, regmap.json, weights_layout.json, weights.bin) are read
from the directory named after its block-design cell beside the bitstream (the bundle layout),
its VLNV, register offsets and address window are checked against the .hwh beside the
bitstream, its IDENT and fingerprint against the device. axi_stream data moves through
pynq.lib.dma's send/recv channels of the cell `<name>_dma`. predict_async() awaits PYNQ's
Interrupt when the accelerator's interrupt is wired; every other wait polls with a timeout.
Every call holds the accelerator's lock (threads; processes: flock on device_lock_path()).
Registers are written explicitly (PYNQ 3.1 removed ip.call()); buffers come from pynq.allocate."""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from . import description as description_mod
from . import hwh as hwh_mod
from .core import (Accelerator, Buffer, DEFAULT_DMA_MAX_BYTES, DEFAULT_TIMEOUT, DMACR_RESET, MM2S_DMACR)
from .errors import AccelTimeoutError, DmaError, DriverError, IdentError

try:
    from pynq import DefaultIP, Overlay, allocate
except ImportError as e:  # pragma: no cover - only on hosts without PYNQ
    raise ImportError("nnaccel_driver.pynq_driver runs on a PYNQ board (import pynq failed: "
                      f"{e}); on a host use nnaccel_driver.sim") from None

DEFAULT_VLNV = "nnaccel:hls:nn_accel:1.0"
VLNV_PREFIX = "nnaccel:hls:"
# VLNVs of the designs this installation was made for: `nnaccel bundle` puts <design>.json here
DESIGNS = Path(__file__).resolve().parent / "designs"


def _allocate(nbytes: int) -> Buffer:
    b = allocate(shape=(nbytes,), dtype=np.uint8)
    release = getattr(b, "freebuffer", None) or getattr(b, "close", lambda: None)
    address = getattr(b, "device_address", None)
    if address is None:
        address = b.physical_address  # PYNQ before 2.5
    return Buffer(array=b, device_address=int(address), flush=b.flush, invalidate=b.invalidate, release=release)


def _dma_max_bytes(dma) -> int:
    """The DMA's buffer length register width, from the overlay's description when PYNQ has it."""
    params = (getattr(dma, "description", None) or {}).get("parameters") or {}
    try:
        return (1 << int(params["C_SG_LENGTH_WIDTH"])) - 1
    except (KeyError, ValueError, TypeError):
        return DEFAULT_DMA_MAX_BYTES


class ChannelDma:
    """The AXI DMA of an axi_stream accelerator through pynq.lib.dma's send/recv channels, with
    every wait bounded by the driver's timeout (the channels' own wait() never times out: it is
    called once the channel is idle, for PYNQ's bookkeeping)."""

    def __init__(self, dma):
        self.dma = dma
        self.max_bytes = int(getattr(dma, "buffer_max_size", DEFAULT_DMA_MAX_BYTES))

    def _channels(self):
        return ((self.dma.recvchannel, "S2MM"), (self.dma.sendchannel, "MM2S"))

    def reset(self, timeout: float) -> None:
        # a channel in error stays halted until the DMA's soft reset (PG021); PYNQ then restarts it
        t0 = time.monotonic()
        self.dma.write(MM2S_DMACR, DMACR_RESET)
        while int(self.dma.read(MM2S_DMACR)) & DMACR_RESET:
            if time.monotonic() - t0 > timeout:
                raise AccelTimeoutError("AXI DMA reset did not complete")
        for ch, _ in self._channels():
            ch.start()

    def submit(self, buf: Buffer, in_off: int, in_sz: int, out_off: int, out_sz: int) -> None:
        try:  # receive side first, so the core never blocks on a full output stream
            self.dma.recvchannel.transfer(buf.array, start=out_off, nbytes=out_sz)
            self.dma.sendchannel.transfer(buf.array, start=in_off, nbytes=in_sz)
        except (RuntimeError, ValueError) as e:
            raise DmaError(f"predict: pynq.lib.dma refused the transfer ({e})") from None

    def error(self) -> str | None:
        for ch, name in self._channels():
            if ch.error:
                return f"the AXI DMA {name} channel reported an error"
        return None

    def wait(self, t0: float, timeout: float, what: str) -> None:
        for ch, name in self._channels():
            while not ch.idle:
                if ch.error:
                    raise DmaError(f"{what} ({name}): the AXI DMA reported an error")
                if time.monotonic() - t0 > timeout:
                    raise AccelTimeoutError(f"{what} ({name}): the AXI DMA did not finish within {timeout:g} s")
            try:
                ch.wait()
            except RuntimeError as e:
                raise DmaError(f"{what} ({name}): {e}") from None


def device_lock_path(phys_addr, uio_root="/sys/class/uio", dev_root="/dev") -> Path:
    """The file every user of the accelerator at `phys_addr` flocks: its /dev/uioN node when a
    UIO device maps that address (the C driver's Linux HAL locks the same node), otherwise
    nnaccel-<address>.lock in the temporary directory."""
    try:
        addr = int(phys_addr)
        for entry in sorted(os.listdir(uio_root)):
            try:
                mapped = int((Path(uio_root) / entry / "maps" / "map0" / "addr").read_text().strip(), 0)
            except (OSError, ValueError):
                continue
            if mapped == addr and Path(dev_root, entry).exists():
                return Path(dev_root, entry)
    except (OSError, TypeError, ValueError):
        pass
    return Path(tempfile.gettempdir()) / f"nnaccel-{int(phys_addr or 0):x}.lock"


def _bitfile(ip) -> Path | None:
    name = getattr(getattr(ip, "device", None), "bitfile_name", None)
    return Path(name) if name else None


class NnAccelIP(DefaultIP):
    """Driver for an nn_accel accelerator in a PYNQ overlay. It attaches itself on first use
    (description beside the bitstream, DMA `<cell>_dma`); attach() does it explicitly."""

    bindto = [DEFAULT_VLNV]

    def __init__(self, description):
        super().__init__(description=description)
        self._acc: Accelerator | None = None
        self.cell = str(description.get("fullpath") or "").rsplit("/", 1)[-1] or None
        self.interrupt_wired = False

    # ---- binding ----
    def attach(self, ip_dir=None, dma=None, timeout: float = DEFAULT_TIMEOUT, hwh=None,
               load_weights: bool = True) -> "NnAccelIP":
        """Read the accelerator's description (default: the cell's directory beside the bitstream),
        check it against the .hwh (default: beside the bitstream) and the device, and, for external
        weights the device does not hold yet, load the description's weights.bin. `dma`: the AXI DMA
        of an axi_stream accelerator (default: the overlay's cell `<cell>_dma`)."""
        bit = _bitfile(self)
        if ip_dir is None:
            if bit is None or self.cell is None:
                raise DriverError("attach: give ip_dir (the directory with nnaccel.json); the bitstream's location "
                                  "is unknown")
            ip_dir = bit.parent / self.cell
        desc = description_mod.load(ip_dir)
        vlnv = self.description.get("type") if isinstance(self.description, dict) else None
        if vlnv and vlnv != desc.vlnv:
            raise IdentError(f"{ip_dir} describes {desc.vlnv}, the overlay's cell {self.cell} is {vlnv}")
        hwh = Path(hwh) if hwh is not None else (bit.with_suffix(".hwh") if bit is not None else None)
        cells = hwh_mod.parse(hwh) if hwh is not None and hwh.is_file() else {}
        max_bytes = self._check_hwh(desc, cells, hwh)
        if dma is None and desc.interface == "axi_stream":
            dma = self._find_dma()
        if hasattr(dma, "sendchannel"):
            dma = ChannelDma(dma)
            max_bytes = min(max_bytes or dma.max_bytes, dma.max_bytes)
        elif dma is not None:
            max_bytes = max_bytes or _dma_max_bytes(dma)
        phys = self.description.get("phys_addr") if isinstance(self.description, dict) else None
        self._acc = Accelerator(desc, self, _allocate, dma=dma, timeout=timeout,
                                dma_max_bytes=max_bytes or DEFAULT_DMA_MAX_BYTES, lock_path=device_lock_path(phys))
        irq = getattr(self, "interrupt", None)
        hwh_says = cells[self.cell].interrupt_connected if self.cell in cells else True
        self.interrupt_wired = irq is not None and hasattr(irq, "wait") and hwh_says
        self._acc.irq = irq if self.interrupt_wired else None
        if load_weights and desc.external and not self._acc.weights_loaded and desc.default_image is not None:
            self._acc.load_weights()
        return self

    def _check_hwh(self, desc, cells: dict, hwh) -> int | None:
        """VLNV, register offsets and address window of the cell in the .hwh against the
        description; returns the DMA's length limit the .hwh gives, if it gives one."""
        if not cells:
            return None
        cell = cells.get(self.cell)
        if cell is None:
            raise IdentError(f"{hwh} has no cell {self.cell}; use the .hwh written with this bitstream")
        if cell.vlnv != desc.vlnv:
            raise IdentError(f"{hwh}: cell {self.cell} is {cell.vlnv}, its description is for {desc.vlnv}")
        for name, offset in desc.regs.items():
            hls = hwh_mod.hls_register(name)
            if hls in cell.registers and cell.registers[hls] != offset:
                raise IdentError(f"{hwh}: cell {self.cell} has register {hls} at 0x{cell.registers[hls]:X}, the "
                                 f"description's register map puts {name} at 0x{offset:X}")
        if cell.range is not None and cell.range < desc.address_range:
            raise IdentError(f"{hwh}: cell {self.cell} maps 0x{cell.range:X} bytes, its register map needs "
                             f"0x{desc.address_range:X}")
        dma = cells.get(f"{self.cell}_dma")
        width = dma.parameters.get("C_SG_LENGTH_WIDTH") if dma is not None else None
        return (1 << int(width)) - 1 if width else None

    def _find_dma(self):
        """The overlay's `<cell>_dma`, bound to pynq.lib.dma.DMA, from the device's IP dictionary."""
        name = f"{self.cell}_dma"
        ip_dict = getattr(getattr(self, "device", None), "ip_dict", None) or {}
        if name not in ip_dict:
            raise DriverError(f"attach: axi_stream accelerator {self.cell} needs its AXI DMA, and the overlay "
                              f"has no cell {name}; pass dma=")
        from pynq.lib.dma import DMA

        d = dict(ip_dict[name])
        d.setdefault("device", self.device)
        return DMA(d)

    @property
    def accelerator(self) -> Accelerator:
        if self._acc is None:
            self.attach()
        return self._acc

    # ---- use ----
    def lock(self, timeout: float | None = None):
        """Hold the accelerator across several calls (other threads and processes wait)."""
        return self.accelerator.lock(timeout)

    def lock_async(self, timeout: float | None = None):
        return self.accelerator.lock_async(timeout)

    def load_weights(self, image=None, bank: int | None = None) -> None:
        self.accelerator.load_weights(image, bank=bank)

    def select_bank(self, bank: int) -> None:
        self.accelerator.select_bank(bank)

    def predict(self, x, raw: bool = False) -> np.ndarray:
        return self.accelerator.predict(x, raw=raw)

    async def predict_async(self, x, raw: bool = False) -> np.ndarray:
        return await self.accelerator.predict_async(x, raw=raw)

    def throughput_test(self, n: int = 10000, batch: int | None = None, x=None) -> dict:
        return self.accelerator.throughput_test(n, batch=batch, x=x)

    def status(self) -> dict:
        return {**self.accelerator.status(), "interrupt_wired": self.interrupt_wired}

    def close(self) -> None:
        if self._acc is not None:
            self._acc.close()

    def __enter__(self) -> "NnAccelIP":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_DRIVERS: dict[str, type] = {DEFAULT_VLNV: NnAccelIP}


def driver_for(vlnv: str) -> type:
    """The driver class bound to `vlnv` (PYNQ registers DefaultIP subclasses when they are created)."""
    if vlnv not in _DRIVERS:
        name = "NnAccelIP_" + "".join(c if c.isalnum() else "_" for c in vlnv)
        _DRIVERS[vlnv] = type(name, (NnAccelIP,), {"bindto": [vlnv]})
    return _DRIVERS[vlnv]


def _bind_installed() -> None:
    """Bind the accelerators of the designs this installation was made for."""
    for f in sorted(DESIGNS.glob("*.json")) if DESIGNS.is_dir() else []:
        try:
            for a in json.loads(f.read_text()).get("accelerators", []):
                driver_for(a["vlnv"])
        except (OSError, ValueError, KeyError, TypeError):
            continue


_bind_installed()


class NnAccelOverlay(Overlay):
    """An Overlay that binds every nnaccel:hls:* accelerator of the bitstream (VLNVs read from
    the .hwh beside it) and attaches each one: `ol.<cell>.predict(x)`. `ip_dirs` maps a cell
    name to its description directory when it is not the bundle layout."""

    def __init__(self, bitfile_name, ip_dirs: dict | None = None, timeout: float = DEFAULT_TIMEOUT, **kwargs):
        hwh = Path(bitfile_name).with_suffix(".hwh")
        if hwh.is_file():
            for vlnv in hwh_mod.vlnvs(hwh).values():
                driver_for(vlnv)
        super().__init__(bitfile_name, **kwargs)
        self.accelerators = {}
        for name, d in self.ip_dict.items():
            if str(d.get("type", "")).startswith(VLNV_PREFIX):
                drv = getattr(self, name)
                dma = getattr(self, f"{name}_dma") if f"{name}_dma" in self.ip_dict else None
                drv.attach((ip_dirs or {}).get(name), dma=dma, timeout=timeout)
                self.accelerators[name] = drv

    def close(self) -> None:
        for drv in self.accelerators.values():
            drv.close()

    def __enter__(self) -> "NnAccelOverlay":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
