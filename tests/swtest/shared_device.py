"""One simulated device shared by several processes (tests of concurrent users).

The device of nnaccel_driver.sim lives in one process; this module serves its bus over a Unix
socket, one access at a time (a bus is atomic per access, nothing more), so that separate
processes - Python (`connect`) and C (`hal_remote.c`) drivers - reach the SAME registers, DDR
and loaded weights, as two programs on one board do. Memory is not shared: a client's buffers
are local copies that its driver's cache maintenance (flush / invalidate) writes to and reads
from the device's DDR, as on a board without coherent DMA.

    python -m swtest.shared_device IP_DIR CSIM_LIBRARY SOCKET    # prints "ready" when listening

Requests: <B op><Q addr><Q n> (+ n bytes for 'M'); replies: R, I -> <I>; W, M -> <I 0>;
A -> <Q bus address, 0 when DDR is full>; G -> n bytes."""
from __future__ import annotations

import os
import socket
import socketserver
import struct
import sys
import threading
from pathlib import Path

import numpy as np

REQ = struct.Struct("<BQQ")


def _recv(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = sock.recv(n - got)
        if not b:
            raise ConnectionError("shared device: connection closed")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def serve(ip_dir: Path, csim_library: Path, sock_path: str) -> None:
    from nnaccel_driver import description
    from nnaccel_driver.sim import SimDevice

    dev = SimDevice(description.load(ip_dir), csim_library, isolated=False, private=True)
    bus = threading.Lock()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            s = self.request
            while True:
                try:
                    op, addr, n = REQ.unpack(_recv(s, REQ.size))
                except ConnectionError:
                    return
                op = chr(op)
                payload = _recv(s, n) if op == "M" else b""
                with bus:
                    if op == "R":
                        reply = struct.pack("<I", dev.read32(addr))
                    elif op == "W":
                        dev.write32(addr, n)
                        reply = struct.pack("<I", 0)
                    elif op == "I":
                        reply = struct.pack("<I", int(dev.irq()))
                    elif op == "A":
                        reply = struct.pack("<Q", dev._lib.nna_sim_ddr_alloc(dev._h, n, 64))
                    elif op == "M":
                        dev.ddr(addr, n)[:] = np.frombuffer(payload, np.uint8)
                        reply = struct.pack("<I", 0)
                    elif op == "G":
                        reply = dev.ddr(addr, n).tobytes()
                    else:
                        return
                s.sendall(reply)

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    if os.path.exists(sock_path):
        os.unlink(sock_path)
    with Server(sock_path, Handler) as srv:
        print("ready", flush=True)
        srv.serve_forever()


class RemoteDevice:
    """The bus of a served device, from this process."""

    def __init__(self, sock_path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(sock_path))

    def _call(self, op: str, addr: int = 0, n: int = 0, payload: bytes = b"", reply: int = 4) -> bytes:
        self.sock.sendall(REQ.pack(ord(op), addr, n) + payload)
        return _recv(self.sock, reply)

    def read32(self, addr: int) -> int:
        return struct.unpack("<I", self._call("R", addr))[0]

    def write32(self, addr: int, value: int) -> None:
        self._call("W", addr, int(value) & 0xFFFFFFFF)

    def allocate(self, nbytes: int):
        from nnaccel_driver.core import Buffer

        bus = struct.unpack("<Q", self._call("A", 0, nbytes, reply=8))[0]
        if not bus:
            raise RuntimeError("shared device: DDR full")
        local = np.zeros(nbytes, np.uint8)

        def invalidate():
            local[:] = np.frombuffer(self._call("G", bus, nbytes, reply=nbytes), np.uint8)

        return Buffer(array=local, device_address=bus, invalidate=invalidate,
                      flush=lambda: self._call("M", bus, nbytes, local.tobytes()))

    def close(self) -> None:
        self.sock.close()


class _Port:
    def __init__(self, dev: RemoteDevice, base: int):
        self.dev, self.base = dev, base

    def read(self, offset: int) -> int:
        return self.dev.read32(self.base + offset)

    def write(self, offset: int, value: int) -> None:
        self.dev.write32(self.base + offset, value)


def connect(ip_dir, sock_path, lock_path=None, timeout: float = 2.0):
    """The Python driver on the served device; `lock_path` None: no inter-process lock."""
    from nnaccel_driver import description
    from nnaccel_driver.core import Accelerator
    from nnaccel_driver.sim import ACCEL_BASE, DMA_BASE

    desc = description.load(ip_dir)
    dev = RemoteDevice(sock_path)
    dma = _Port(dev, DMA_BASE) if desc.interface == "axi_stream" else None
    return Accelerator(desc, _Port(dev, ACCEL_BASE), dev.allocate, dma=dma, timeout=timeout, lock_path=lock_path)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sw" / "python"))
    serve(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
