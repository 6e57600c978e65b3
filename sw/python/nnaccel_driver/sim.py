"""Simulation backend: the same driver code path against the simulated device of sw/sim
(libnna_sim.so, loaded with ctypes), which runs the accelerator's C-simulation library
(`nnaccel csim`'s build of csim/csim_bridge.cpp) on every start.

    from nnaccel_driver.sim import simulate
    acc = simulate("ip_dir")          # builds what it needs (host only: a C compiler, nnaccel)
    acc.load_weights()                # the IP's own weights.bin
    y = acc.predict(x)
    acc.sim.stall(True)               # fault injection (also force_error, dma_error, flip_ddr,
                                      # flip_on_start, flip_weights_on_load, lose_irq)

The driver flocks `acc.lock_path` around each operation (docs/software.md, "Concurrent users"):
the device's own lock file `SimDevice.lock_path` (in a private temporary directory), or the
path given as `simulate(..., lock_path=...)`.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import description as description_mod
from .core import Accelerator, Buffer
from .errors import CsimCrashed, DriverError


def _sim_sources() -> Path:
    """sw/sim: beside this package in a checkout; otherwise the copy installed with the
    nnaccel host tools (which the simulation needs anyway, for the C-simulation library)."""
    here = Path(__file__).resolve().parents[2] / "sim"
    if (here / "nna_simdev.c").is_file():
        return here
    try:
        from nnaccel.resources import sw_dir
    except ImportError:
        return here
    return sw_dir() / "sim"


SIM_SOURCES = _sim_sources()
ABSENT = 0xFFFFFFFF
ACCEL_BASE, DMA_BASE, DDR_BASE, DDR_SIZE = 0xA0000000, 0xA0010000, 0x10000000, 64 << 20
INTERFACES = {"axi_stream": 0, "axi_lite": 1, "axi_master": 2}
COUNTERS = ("reg_reads", "reg_writes", "starts", "csim_calls", "ticks", "bus_faults", "csim_faults", "dma_bytes")

_U32_FIELDS = ["interface", "external_weights", "n_inputs", "n_outputs", "in_bytes", "out_bytes", "lite_max_batch",
               "latency_ticks", "dma_length_bits", "cmd_load_weights", "cmd_run", "status_weights_valid",
               "reg_ctrl", "reg_gie", "reg_ier", "reg_isr", "reg_command", "reg_n_samples", "reg_in_addr",
               "reg_out_addr", "reg_weights_addr", "reg_status", "reg_last_error", "reg_fingerprint", "reg_ident",
               "reg_samples_done", "reg_in_buf", "reg_out_buf", "address_range"]
_REG_FIELDS = {"reg_ctrl": "CTRL", "reg_gie": "GIE", "reg_ier": "IER", "reg_isr": "ISR", "reg_command": "COMMAND",
               "reg_n_samples": "N_SAMPLES", "reg_in_addr": "IN_ADDR", "reg_out_addr": "OUT_ADDR",
               "reg_weights_addr": "WEIGHTS_ADDR", "reg_status": "STATUS", "reg_last_error": "LAST_ERROR",
               "reg_fingerprint": "FINGERPRINT", "reg_ident": "IDENT", "reg_samples_done": "SAMPLES_DONE"}
_BANK_FIELDS = {"reg_load_bank": "LOAD_BANK", "reg_active_bank": "ACTIVE_BANK", "reg_banks_valid": "BANKS_VALID"}


MAX_TENSORS = 9  # NNA_SIM_MAX_TENSORS
_TENSOR_ARRAYS = ("in_sizes", "out_sizes", "reg_in_addrs", "reg_out_addrs", "reg_in_bufs", "reg_out_bufs")


class SimConfig(ctypes.Structure):
    """Mirror of nna_sim_config_t (sw/sim/nna_simdev.h)."""
    _fields_ = [(n, ctypes.c_uint32) for n in _U32_FIELDS] + [
        (n, ctypes.c_uint64) for n in ("accel_base", "dma_base", "ddr_base", "ddr_size")] + [
        (n, ctypes.c_uint32) for n in _BANK_FIELDS] + [
        ("n_in_tensors", ctypes.c_uint32), ("n_out_tensors", ctypes.c_uint32)] + [
        (n, ctypes.c_uint32 * MAX_TENSORS) for n in _TENSOR_ARRAYS]


def _cache_dir() -> Path:
    root = os.environ.get("NNACCEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nnaccel")
    return Path(root) / "sim"


def sim_library(path=None) -> Path:
    """libnna_sim.so: `path`, $NNA_SIM_LIB, or built from sw/sim with cc (cached by content hash)."""
    if path is not None or os.environ.get("NNA_SIM_LIB"):
        p = Path(path or os.environ["NNA_SIM_LIB"])
        if not p.is_file():
            raise DriverError(f"simulated device library {p} does not exist")
        return p
    src, hdr = SIM_SOURCES / "nna_simdev.c", SIM_SOURCES / "nna_simdev.h"
    if not src.is_file():
        raise DriverError(f"no simulated-device sources at {SIM_SOURCES}; give sim_library= or set NNA_SIM_LIB")
    cc = os.environ.get("CC", "cc")
    flags = ["-std=c99", "-O2", "-fPIC", "-shared"]
    digest = hashlib.sha256(src.read_bytes() + hdr.read_bytes() + " ".join([cc, *flags]).encode()).hexdigest()[:16]
    lib = _cache_dir() / f"libnna_sim-{digest}.so"
    if lib.is_file():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    proc = subprocess.run([cc, *flags, "-o", str(tmp), str(src), "-ldl"], capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise DriverError(f"{cc} could not build the simulated device: {proc.stderr.strip()[:300]}")
    os.replace(tmp, lib)
    return lib


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    P, U32, U64, I = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int
    sigs = {
        "nna_sim_create": ([ctypes.POINTER(SimConfig), ctypes.c_char_p], P),
        "nna_sim_create_error": ([], ctypes.c_char_p),
        "nna_sim_destroy": ([P], None),
        "nna_sim_read32": ([P, U64], U32),
        "nna_sim_write32": ([P, U64, U32], None),
        "nna_sim_irq": ([P], I),
        "nna_sim_step": ([P, U32], None),
        "nna_sim_ddr_alloc": ([P, U64, U64], U64),
        "nna_sim_ddr_ptr": ([P, U64, U64], P),
        "nna_sim_fault_stall": ([P, I], None),
        "nna_sim_fault_stall_dma": ([P, I], None),
        "nna_sim_fault_force_error": ([P, U32], None),
        "nna_sim_fault_dma_error": ([P, I, U32], None),
        "nna_sim_fault_flip_ddr": ([P, U64, ctypes.c_uint], I),
        "nna_sim_fault_flip_on_start": ([P, U64, ctypes.c_uint], None),
        "nna_sim_fault_flip_weights_on_load": ([P, U64], None),
        "nna_sim_fault_lose_irq": ([P, U32], None),
        "nna_sim_fault_write_on_start": ([P, U32, U32, U32], None),
        "nna_sim_set_csim_banked": ([P, P], None),
        "nna_sim_fault_clear": ([P], None),
        "nna_sim_counter": ([P, I], U64),
        "nna_sim_last_fault": ([P], ctypes.c_char_p),
        "nna_sim_set_trace": ([P, I], None),
        "nna_sim_set_csim": ([P, P], None),
    }
    for name, (args, res) in sigs.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


def sim_config(desc: description_mod.Description, dma_length_bits: int = 14, latency_ticks: int = 3) -> SimConfig:
    c = SimConfig()
    c.interface = INTERFACES[desc.interface]
    c.external_weights = int(desc.external)
    c.n_inputs, c.n_outputs = desc.n_inputs, desc.n_outputs
    c.in_bytes, c.out_bytes = desc.in_word.bytes, desc.out_word.bytes
    c.lite_max_batch = desc.lite_max_batch
    c.latency_ticks, c.dma_length_bits = latency_ticks, dma_length_bits
    c.cmd_load_weights, c.cmd_run = desc.commands["LOAD_WEIGHTS"], desc.commands["RUN"]
    c.status_weights_valid = desc.status_bits["WEIGHTS_VALID"]
    for fieldname, reg in (_REG_FIELDS | _BANK_FIELDS).items():
        setattr(c, fieldname, desc.regs.get(reg, ABSENT))
    c.reg_in_buf = ABSENT if desc.lite_in_offset is None else desc.lite_in_offset
    c.reg_out_buf = ABSENT if desc.lite_out_offset is None else desc.lite_out_offset
    c.address_range = desc.address_range
    # several tensors: each one's size and its address register (axi_master) or window (axi_lite)
    c.n_in_tensors, c.n_out_tensors = len(desc.inputs), len(desc.outputs)
    for side, tensors in (("in", desc.inputs), ("out", desc.outputs)):
        for i, t in enumerate(tensors):
            getattr(c, f"{side}_sizes")[i] = t.n_values
            getattr(c, f"reg_{side}_addrs")[i] = desc.regs.get(t.register, ABSENT) if t.register else ABSENT
            getattr(c, f"reg_{side}_bufs")[i] = ABSENT if t.lite_offset is None else t.lite_offset
    c.accel_base, c.dma_base, c.ddr_base, c.ddr_size = ACCEL_BASE, DMA_BASE, DDR_BASE, DDR_SIZE
    return c


CSIM_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p,
                           ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32))
CSIM_BANKED_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p,
                                  ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32))
MAX_IMAGE = 32 + (64 << 20)  # what the device reads through the weights port at most (nna_simdev.c)


class IsolatedCsim:
    """The device's C-simulation in a worker process (nnaccel.isolate, from the nnaccel host tools):
    every start the device makes is forwarded there, so a crash in the model's C++ becomes
    CsimCrashed in this process. The last weight image loaded is replayed into a restarted worker."""

    def __init__(self, desc: description_mod.Description, csim_library: Path, private: bool, timeout: float | None):
        from nnaccel import csim, isolate

        self._csim, self.desc = csim, desc
        self.timeout = timeout or csim.default_timeout()
        firmware = desc.default_image.parent / "hls" / "firmware" if desc.default_image else None
        self.worker = isolate.Worker(csim_library, f"C-simulation of {desc.top} (simulated device)", firmware,
                                     private=private)
        self.image: bytes | None = None
        self.crash: Exception | None = None
        self.callback = CSIM_FN(self._start)  # referenced here: C holds only the pointer
        self.banked_callback = CSIM_BANKED_FN(self._start_banked)
        self.bank_images: dict[int, bytes] = {}  # bank -> its last good image, replayed into a restarted worker
        self.banks_state = None  # token of what the worker holds (worker.state is it while nothing restarted)
        self.worker.ensure(self.timeout)  # now, not inside the driver's first (timed) start

    def _start_args(self, n, in_ptr, out_ptr, w_ptr) -> tuple:
        """What the C side of a start passes by pointer: input words, output bytes, weight image."""
        d = self.desc
        in_words = ctypes.string_at(in_ptr, n * d.n_inputs * d.in_word.bytes) if in_ptr else None
        out_size = n * d.n_outputs * d.out_word.bytes if out_ptr else 0
        weights = None
        if w_ptr:
            payload = int.from_bytes(ctypes.string_at(w_ptr + 16, 4), "little")
            weights = ctypes.string_at(w_ptr, min(MAX_IMAGE, 32 + payload))
        return in_words, out_size, weights

    @staticmethod
    def _give_back(out_ptr, out: bytes, regs: dict, regs_ptr) -> None:
        if out_ptr and out:
            ctypes.memmove(out_ptr, out, len(out))
        for i, v in enumerate(regs.values()):
            regs_ptr[i] = v

    def _start(self, command, n, in_ptr, out_ptr, w_ptr, regs_ptr) -> int:
        csim = self._csim
        try:
            in_words, out_size, weights = self._start_args(n, in_ptr, out_ptr, w_ptr)
            load = command == csim.COMMANDS["LOAD_WEIGHTS"]
            self.worker.ensure(self.timeout)
            if self.image is not None and self.worker.state is not self.image and not load:
                self.worker.request(csim.start_request(csim.COMMANDS["LOAD_WEIGHTS"], 0, None, 0, self.image),
                                    self.timeout, "loading the weights")
            reply = self.worker.request(csim.start_request(command, n, in_words, out_size, weights),
                                        self.timeout * max(1.0, n / 1000), f"a start of {n} samples")
            rc, regs, out = csim.start_result(reply)
            if load and weights is not None:
                self.image = self.worker.state = weights
            self._give_back(out_ptr, out, regs, regs_ptr)
            return rc
        except Exception as e:  # nothing may propagate into C; the bus access that started it raises
            self.crash = e
            return -2

    def _start_banked(self, command, n, in_ptr, out_ptr, w_ptr, load_bank, active_bank, regs_ptr) -> int:
        """A start of an IP with weight banks: the bank registers go along with it."""
        d, csim = self.desc, self._csim
        load = csim.COMMANDS["LOAD_WEIGHTS"]
        try:
            in_words, out_size, weights = self._start_args(n, in_ptr, out_ptr, w_ptr)
            self.worker.ensure(self.timeout)
            if self.worker.state is not self.banks_state:  # a restarted worker: put every good bank back
                for bank, image in sorted(self.bank_images.items()):
                    self.worker.request(csim.start_request_banked(load, 0, None, 0, image, bank, active_bank),
                                        self.timeout, f"loading the weights of bank {bank}")
            reply = self.worker.request(
                csim.start_request_banked(command, n, in_words, out_size, weights, load_bank, active_bank),
                self.timeout * max(1.0, n / 1000), f"a start of {n} samples")
            rc, regs, out = csim.start_result_banked(reply)
            if command & load and load_bank < d.weight_banks:
                if not regs["BANKS_VALID"] >> load_bank & 1:
                    self.bank_images.pop(load_bank, None)
                elif regs["LAST_ERROR"] == csim.ERRORS["OK"]:
                    self.bank_images[load_bank] = weights
            self.banks_state = self.worker.state = object()
            self._give_back(out_ptr, out, regs, regs_ptr)
            return rc
        except Exception as e:  # nothing may propagate into C; the bus access that started it raises
            self.crash = e
            return -2

    def raise_crash(self) -> None:
        if self.crash is not None:
            e, self.crash = self.crash, None
            raise CsimCrashed(str(e)) from None

    def close(self) -> None:
        self.worker.close()


class SimDevice:
    """One simulated device: bus access, DDR, fault injection, counters. `isolated` (default when
    the nnaccel host tools are importable): the C-simulation runs in a worker process."""

    def __init__(self, desc: description_mod.Description, csim_library, sim_lib=None, private: bool = True,
                 dma_length_bits: int = 14, latency_ticks: int = 3, isolated: bool | None = None,
                 timeout: float | None = None):
        self.desc = desc
        self._tmp = None
        self._iso = None
        self._start_hook = None
        self._lock_dir = tempfile.TemporaryDirectory(prefix="nnaccel-sim-lock-")
        self.lock_path = Path(self._lock_dir.name) / "device.lock"
        csim_library = Path(csim_library)
        if isolated is None:
            try:
                import nnaccel.isolate  # noqa: F401
                isolated = True
            except ImportError:
                isolated = False
        self._lib = _bind(ctypes.CDLL(str(sim_library(sim_lib))))
        self.config = sim_config(desc, dma_length_bits, latency_ticks)
        if isolated:
            self._iso = IsolatedCsim(desc, csim_library, private, timeout)
            self._h = self._lib.nna_sim_create(ctypes.byref(self.config), None)
            if self._h:
                self._lib.nna_sim_set_csim(self._h, ctypes.cast(self._iso.callback, ctypes.c_void_p))
                self._lib.nna_sim_set_csim_banked(self._h, ctypes.cast(self._iso.banked_callback, ctypes.c_void_p))
        else:
            if private:  # own copy: dlopen shares one handle (and the weight storage) per path
                self._tmp = tempfile.TemporaryDirectory(prefix="nnaccel-sim-")
                private_lib = Path(self._tmp.name) / csim_library.name
                shutil.copy2(csim_library, private_lib)
                csim_library = private_lib
            self._h = self._lib.nna_sim_create(ctypes.byref(self.config), str(csim_library).encode())
        if not self._h:
            raise DriverError(f"simulated device: {self._lib.nna_sim_create_error().decode()}")

    def _after(self, value):
        if self._iso is not None:
            self._iso.raise_crash()
        return value

    # bus
    def read32(self, addr: int) -> int:
        return self._after(self._lib.nna_sim_read32(self._h, addr))

    def write32(self, addr: int, value: int) -> None:
        self._after(self._lib.nna_sim_write32(self._h, addr, value))
        hook = self._start_hook
        if hook is not None and addr == ACCEL_BASE + self.desc.regs["CTRL"] and value & 1:
            hook[0] -= 1
            if hook[0] == 0:  # the start has begun (its registers are latched) and runs
                self._start_hook = None
                hook[1]()

    def irq(self) -> bool:
        return self._after(bool(self._lib.nna_sim_irq(self._h)))

    # DDR
    def allocate(self, nbytes: int) -> Buffer:
        addr = self._lib.nna_sim_ddr_alloc(self._h, nbytes, 64)
        if not addr:
            raise DriverError(f"simulated DDR: no room for {nbytes} bytes")
        return Buffer(array=self.ddr(addr, nbytes), device_address=addr, flush=lambda: None, invalidate=lambda: None)

    def ddr(self, addr: int, nbytes: int) -> np.ndarray:
        ptr = self._lib.nna_sim_ddr_ptr(self._h, addr, nbytes)
        if not ptr:
            raise DriverError(f"simulated DDR: 0x{addr:X}+{nbytes} is outside DDR")
        return np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr))

    # faults
    def stall(self, on: bool = True) -> None:
        self._lib.nna_sim_fault_stall(self._h, int(on))

    def stall_dma(self, on: bool = True) -> None:
        self._lib.nna_sim_fault_stall_dma(self._h, int(on))

    def force_error(self, code: int) -> None:
        self._lib.nna_sim_fault_force_error(self._h, code)

    def dma_error(self, dmasr_bits: int, channel: str = "s2mm") -> None:
        """The next transfer of `channel` ("mm2s" or "s2mm") fails with these DMASR error bits."""
        self._lib.nna_sim_fault_dma_error(self._h, int(channel == "s2mm"), dmasr_bits)

    def flip_ddr(self, addr: int, bit: int) -> None:
        if self._lib.nna_sim_fault_flip_ddr(self._h, addr, bit) != 0:
            raise DriverError(f"simulated DDR: 0x{addr:X} is outside DDR")

    def flip_on_start(self, addr: int, bit: int) -> None:
        self._lib.nna_sim_fault_flip_on_start(self._h, addr, bit)

    def flip_weights_on_load(self, bit: int) -> None:
        """When the next LOAD starts, flip bit `bit` (from the first byte at WEIGHTS_ADDR) of the
        image in DDR: memory corrupted between the driver's check and the core's read."""
        self._lib.nna_sim_fault_flip_weights_on_load(self._h, bit)

    def lose_irq(self, count: int = 1) -> None:
        """The next `count` completions set ap_done but never raise the interrupt."""
        self._lib.nna_sim_fault_lose_irq(self._h, count)

    def write_on_start(self, nth: int, register: str, value: int) -> None:
        """Once the `nth` start from now has begun, the device's register `register` gets `value`,
        as if another bus master wrote it while that start runs."""
        self._lib.nna_sim_fault_write_on_start(self._h, nth, self.desc.regs[register], value)

    def call_on_start(self, nth: int, fn) -> None:
        """Call fn() right after the driver's write that begins the `nth` start from now, while
        that start runs (e.g. acc.select_bank in the middle of a batch of several starts)."""
        self._start_hook = [nth, fn]

    def clear_faults(self) -> None:
        self._start_hook = None
        self._lib.nna_sim_fault_clear(self._h)

    def counters(self) -> dict:
        return {name: self._lib.nna_sim_counter(self._h, i) for i, name in enumerate(COUNTERS)}

    @property
    def last_fault(self) -> str:
        return self._lib.nna_sim_last_fault(self._h).decode()

    def trace(self, on: bool = True) -> None:
        self._lib.nna_sim_set_trace(self._h, int(on))

    def close(self) -> None:
        if self._h:
            self._lib.nna_sim_destroy(self._h)
            self._h = None
        if self._iso is not None:
            self._iso.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self._lock_dir is not None:
            self._lock_dir.cleanup()
            self._lock_dir = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class _Port:
    """Register port at one base address of the simulated bus (the shape of pynq's MMIO)."""

    def __init__(self, dev: SimDevice, base: int):
        self.dev, self.base = dev, base

    def read(self, offset: int) -> int:
        return self.dev.read32(self.base + offset)

    def write(self, offset: int, value: int) -> None:
        self.dev.write32(self.base + offset, value)


def simulate(ip_dir, csim_library=None, sim_lib=None, timeout: float = 1.0, dma_length_bits: int = 14,
             private: bool = True, isolated: bool | None = None, csim_timeout: float | None = None,
             lock_path=None) -> Accelerator:
    """An Accelerator on a fresh simulated device for the IP in `ip_dir`; `.sim` is the device.
    The model's C++ runs in a worker process (`isolated`, needs the nnaccel host tools): a crash
    there raises CsimCrashed here; `csim_timeout`: seconds a start may take per 1000 samples."""
    desc = description_mod.load(ip_dir)
    if csim_library is None:
        try:
            from nnaccel.csim import build_csim_library
        except ImportError:
            raise DriverError("simulate: give csim_library= (the .so `nnaccel csim` builds); "
                              "the nnaccel host tools are not importable here") from None
        csim_library = build_csim_library(Path(ip_dir))
    dev = SimDevice(desc, csim_library, sim_lib, private=private, dma_length_bits=dma_length_bits,
                    isolated=isolated, timeout=csim_timeout)
    dma = _Port(dev, DMA_BASE) if desc.interface == "axi_stream" else None
    acc = Accelerator(desc, _Port(dev, ACCEL_BASE), dev.allocate, dma=dma, timeout=timeout,
                      dma_max_bytes=(1 << dma_length_bits) - 1, lock_path=lock_path or dev.lock_path)
    acc.sim = dev
    return acc
