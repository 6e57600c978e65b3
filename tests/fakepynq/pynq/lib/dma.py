"""pynq.lib.dma.DMA (simple mode) as PYNQ 3.x documents it: `sendchannel` (MM2S) and
`recvchannel` (S2MM), each with transfer(array, start=0, nbytes=0), wait(), async wait_async(),
and running / idle / error; buffer_max_size from the IP's C_SG_LENGTH_WIDTH parameter. The
channels are started when the driver is created. wait() spins without a timeout, as PYNQ's does."""
from __future__ import annotations

from ..overlay import DefaultIP


class _SDMAChannel:
    def __init__(self, mmio, max_size: int, offset: int, flush_before: bool):
        self._mmio, self._max_size, self._offset, self._flush_before = mmio, max_size, offset, flush_before
        self._active_buffer = None
        self.transferred = 0
        self.start()

    @property
    def running(self) -> bool:
        return self._mmio.read(self._offset + 4) & 0x1 == 0

    @property
    def idle(self) -> bool:
        return self._mmio.read(self._offset + 4) & 0x2 == 0x2

    @property
    def error(self) -> bool:
        return self._mmio.read(self._offset + 4) & 0x70 != 0

    def start(self) -> None:
        self._mmio.write(self._offset, 0x0001)
        while not self.running:
            pass
        self._first_transfer = True

    def stop(self) -> None:
        self._mmio.write(self._offset, 0x0000)
        while self.running:
            pass

    def transfer(self, array, start: int = 0, nbytes: int = 0) -> None:
        if not self.running:
            raise RuntimeError("DMA channel not started")
        if not self.idle and not self._first_transfer:
            raise RuntimeError("DMA channel not idle")
        nbytes = nbytes or array.nbytes - start
        if nbytes > self._max_size:
            raise ValueError(f"Transfer size is {nbytes} bytes, which exceeds the maximum DMA buffer size "
                             f"{self._max_size}.")
        if self._flush_before:
            array.flush()
        addr = array.physical_address + start
        self._mmio.write(self._offset + 0x18, addr & 0xFFFFFFFF)
        self._mmio.write(self._offset + 0x1C, (addr >> 32) & 0xFFFFFFFF)
        self._mmio.write(self._offset + 0x28, nbytes)
        self._active_buffer = array
        self._first_transfer = False

    def wait(self) -> None:
        if not self.running:
            raise RuntimeError("DMA channel not started")
        while not self.idle:
            if self.error:
                raise RuntimeError("DMA error")
        if not self._flush_before and self._active_buffer is not None:
            self._active_buffer.invalidate()
        self.transferred = self._mmio.read(self._offset + 0x28)
        self._active_buffer = None

    async def wait_async(self) -> None:
        self.wait()


class DMA(DefaultIP):
    bindto = ["xilinx.com:ip:axi_dma:7.1"]

    def __init__(self, description, *args, **kwargs):
        super().__init__(description=description)
        self.description = description
        width = description.get("parameters", {}).get("C_SG_LENGTH_WIDTH")
        self.buffer_max_size = (1 << int(width if width is not None else 26)) - 1
        self.sendchannel = _SDMAChannel(self.mmio, self.buffer_max_size, 0x00, flush_before=True)
        self.recvchannel = _SDMAChannel(self.mmio, self.buffer_max_size, 0x30, flush_before=False)
