"""pynq.Interrupt: `await Interrupt(pin).wait()` until the pin is high. ValueError for a pin the
loaded design does not connect to the processor."""
from __future__ import annotations

import asyncio

from . import _board


class Interrupt:
    def __init__(self, pinname: str):
        if pinname not in _board.IRQ_PINS:
            raise ValueError(f"No Pin of name {pinname} found")
        self.pinname = pinname
        self._dev = _board.IRQ_PINS[pinname]
        self.waits = 0

    async def wait(self) -> None:
        self.waits += 1
        while not self._dev.irq():  # level-triggered, like the HLS core's interrupt output
            await asyncio.sleep(0)
