"""PYNQ driver: a pynq.DefaultIP subclass bound to the accelerator's VLNV. Registers are
written explicitly (PYNQ 3.1 removed ip.call()), buffers come from pynq.allocate, and for
axi_stream the AXI DMA is driven register by register, with a timeout on every wait.

    from pynq import Overlay
    import nnaccel_driver.pynq_driver            # registers the driver for nnaccel:hls:nn_accel:1.0
    ol = Overlay("design.bit")
    acc = ol.nn_accel                            # the block-design cell: the accelerator's name (default: top)
    acc.attach("nn_accel_ip")                    # nnaccel.json, regmap.json, weights_layout.json, weights.bin
    acc.load_weights()                           # or acc.load_weights("other.bin")
    y = acc.predict(x)

Another top or version: `driver_for("nnaccel:hls:my_top:1.0")` before creating the Overlay."""
from __future__ import annotations

import numpy as np

from . import description as description_mod
from .core import Accelerator, Buffer, DEFAULT_DMA_MAX_BYTES, DEFAULT_TIMEOUT
from .errors import DriverError, IdentError

try:
    from pynq import DefaultIP, allocate
except ImportError as e:  # pragma: no cover - only on hosts without PYNQ
    raise ImportError("nnaccel_driver.pynq_driver runs on a PYNQ board (import pynq failed: "
                      f"{e}); on a host use nnaccel_driver.sim") from None

DEFAULT_VLNV = "nnaccel:hls:nn_accel:1.0"


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


class NnAccelIP(DefaultIP):
    """Driver for an nn_accel accelerator in a PYNQ overlay."""

    bindto = [DEFAULT_VLNV]

    def __init__(self, description):
        super().__init__(description=description)
        self._acc: Accelerator | None = None

    def attach(self, ip_dir, dma=None, timeout: float = DEFAULT_TIMEOUT) -> "NnAccelIP":
        """Read the IP description and check the hardware against it. `dma` is the AXI DMA
        IP (the cell `<name>_dma`, e.g. ol.nn_accel_dma) for an axi_stream accelerator."""
        desc = description_mod.load(ip_dir)
        vlnv = self.description.get("type") if isinstance(self.description, dict) else None
        if vlnv and vlnv.rsplit(":", 1)[0] != desc.vlnv.rsplit(":", 1)[0]:
            raise IdentError(f"{ip_dir} describes {desc.vlnv}, this overlay cell is {vlnv}")
        self._acc = Accelerator(desc, self, _allocate, dma=dma, timeout=timeout,
                                dma_max_bytes=_dma_max_bytes(dma) if dma is not None else DEFAULT_DMA_MAX_BYTES)
        return self

    @property
    def accelerator(self) -> Accelerator:
        if self._acc is None:
            raise DriverError("call attach(ip_dir) first: the driver needs the IP's nnaccel.json / regmap.json")
        return self._acc

    def load_weights(self, image=None) -> None:
        self.accelerator.load_weights(image)

    def predict(self, x, raw: bool = False) -> np.ndarray:
        return self.accelerator.predict(x, raw=raw)

    def status(self) -> dict:
        return self.accelerator.status()


def driver_for(vlnv: str) -> type:
    """A driver class bound to another VLNV (PYNQ registers DefaultIP subclasses when they are created)."""
    name = "NnAccelIP_" + "".join(c if c.isalnum() else "_" for c in vlnv)
    return type(name, (NnAccelIP,), {"bindto": [vlnv]})
