"""pynq.allocate / PynqBuffer: a numpy array in physically contiguous memory, with
device_address (physical_address), flush(), invalidate(), freebuffer()/close(). Cacheable as
PYNQ's default: the device sees the data only after flush(), the host sees the device's
writes only after invalidate()."""
from __future__ import annotations

import numpy as np

from . import _board


class PynqBuffer(np.ndarray):
    def __array_finalize__(self, obj):
        if obj is not None and isinstance(obj, PynqBuffer):
            self.device_address = getattr(obj, "device_address", None)
            self._flushed = getattr(obj, "_flushed", None)

    @property
    def physical_address(self) -> int:
        return self.device_address

    def flush(self) -> None:
        data = self.view(np.uint8).reshape(-1).tobytes()
        _board.ddr_write(self.device_address, data)
        self._flushed = data

    def invalidate(self) -> None:
        if self._flushed is None:  # never flushed: the devices hold what they wrote over zeros
            self._flushed = bytes(self.nbytes)
        new = _board.ddr_read(self.device_address, self._flushed)
        self.view(np.uint8).reshape(-1)[:] = np.frombuffer(new, dtype=np.uint8)

    def freebuffer(self) -> None:
        pass

    def close(self) -> None:
        self.freebuffer()


def allocate(shape, dtype="u4", target=None, **kwargs) -> PynqBuffer:
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buf = np.zeros(shape, dtype=dtype).view(PynqBuffer)
    buf.device_address = _board.ddr_alloc(max(nbytes, 1))
    buf._flushed = None
    return buf
