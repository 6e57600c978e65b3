"""pynq.MMIO: 32-bit register access to a physical address window."""
from __future__ import annotations

from . import _board


class MMIO:
    def __init__(self, base_addr: int, length: int = 4, device=None):
        self.base_addr, self.length, self.device = int(base_addr), int(length), device

    def _where(self, offset: int):
        if not 0 <= offset < self.length or offset % 4:
            raise ValueError(f"MMIO offset 0x{offset:X} outside 0..0x{self.length:X} or unaligned")
        return _board.bus(self.base_addr + offset)

    def read(self, offset: int = 0, length: int = 4) -> int:
        dev, addr = self._where(offset)
        return dev.read32(addr)

    def write(self, offset: int, data) -> None:
        dev, addr = self._where(offset)
        dev.write32(addr, int(data) & 0xFFFFFFFF)
