"""The driver proper, independent of where the registers and buffers come from: PYNQ on a
board (pynq_driver.py) or the simulated device on a host (sim.py) plug in a register port,
an optional DMA register port and a buffer allocator. Every wait has a timeout."""
from __future__ import annotations

import asyncio
import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from . import words
from .description import Description
from .errors import (AccelTimeoutError, BankError, BusyError, DeviceError, DeviceNoWeightsError, DmaError, DriverError,
                     IdentError, ImageError, InputShapeError, NoWeightsError, WeightsCrcError)
from .image import check_image
from .lock import DeviceLock

# Vitis HLS ap_ctrl_hs control bits (CTRL) and interrupt bits (ISR/IER): the tool's convention.
AP_START, AP_DONE, AP_IDLE, AP_READY = 0x1, 0x2, 0x4, 0x8
IRQ_AP_DONE = 0x1

# AXI DMA (PG021) simple-mode registers: the DMA IP's own fixed offsets.
MM2S_DMACR, MM2S_DMASR, MM2S_SA, MM2S_SA_MSB, MM2S_LENGTH = 0x00, 0x04, 0x18, 0x1C, 0x28
S2MM_DMACR, S2MM_DMASR, S2MM_DA, S2MM_DA_MSB, S2MM_LENGTH = 0x30, 0x34, 0x48, 0x4C, 0x58
DMACR_RS, DMACR_RESET = 0x1, 0x4
DMASR_HALTED, DMASR_IDLE, DMASR_ERR_MASK, DMASR_IOC = 0x1, 0x2, 0x70, 0x1000

ALIGN = 64
DEFAULT_TIMEOUT = 1.0
DEFAULT_DMA_MAX_BYTES = (1 << 14) - 1  # AXI DMA default buffer length width (14 bits)
MAX_WORK_BYTES = 16 << 20


class RegisterPort(Protocol):
    def read(self, offset: int) -> int: ...
    def write(self, offset: int, value: int) -> None: ...


@dataclass
class Buffer:
    """DMA-able memory: a uint8 numpy view, its bus address, cache maintenance."""
    array: np.ndarray
    device_address: int
    flush: Callable[[], None]
    invalidate: Callable[[], None]
    release: Callable[[], None] = lambda: None


def _serialised(method):
    """One user of the device at a time (threads and processes: lock.DeviceLock)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self._lock.hold(self.lock_timeout):
            return method(self, *args, **kwargs)
    return run


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _offsets(sizes: list[int], start: int) -> list[int]:
    """Where consecutive blocks of these sizes start, each on an ALIGN boundary."""
    out, at = [], start
    for n in sizes:
        out.append(at)
        at = _align(at + n)
    return out


def _rows(x, shape: tuple, n_values: int, what: str) -> np.ndarray:
    """One input array -> (N, n_values): (N, *shape), (N, n_values), or a single sample."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise InputShapeError(f"predict: {what} dtype {x.dtype} is not numeric")
    if x.shape == shape or (x.ndim == 1 and x.size == n_values):
        x = x.reshape(1, -1)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != n_values:
        raise InputShapeError(f"predict: {what} shape {x.shape}; expected (N, {', '.join(map(str, shape))}) "
                              f"or (N, {n_values})")
    return x.reshape(len(x), n_values)


class RegisterDma:
    """An AXI DMA in simple mode driven through its PG021 registers (simulated device, or any
    register port). pynq_driver.ChannelDma is the same engine through pynq.lib.dma's channels."""

    def __init__(self, regs: RegisterPort):
        self.regs = regs

    def reset(self, timeout: float) -> None:
        t0 = time.monotonic()
        self.regs.write(MM2S_DMACR, DMACR_RESET)
        while int(self.regs.read(MM2S_DMACR)) & DMACR_RESET:
            if time.monotonic() - t0 > timeout:
                raise AccelTimeoutError("AXI DMA reset did not complete")
        self.regs.write(MM2S_DMACR, DMACR_RS)
        self.regs.write(S2MM_DMACR, DMACR_RS)
        if (int(self.regs.read(MM2S_DMASR)) | int(self.regs.read(S2MM_DMASR))) & DMASR_HALTED:
            raise DmaError("AXI DMA stays halted after reset")

    def submit(self, buf: Buffer, in_off: int, in_sz: int, out_off: int, out_sz: int) -> None:
        # receive side first, so the core never blocks on a full output stream
        out_addr, in_addr = buf.device_address + out_off, buf.device_address + in_off
        self.regs.write(S2MM_DA, out_addr & 0xFFFFFFFF)
        if out_addr >> 32:
            self.regs.write(S2MM_DA_MSB, out_addr >> 32)
        self.regs.write(S2MM_LENGTH, out_sz)
        self.regs.write(MM2S_SA, in_addr & 0xFFFFFFFF)
        if in_addr >> 32:
            self.regs.write(MM2S_SA_MSB, in_addr >> 32)
        self.regs.write(MM2S_LENGTH, in_sz)

    def error(self) -> str | None:
        """Which channel reports an error, if one does (a failed DMA starves the core)."""
        for sr, ch in ((MM2S_DMASR, "MM2S"), (S2MM_DMASR, "S2MM")):
            v = int(self.regs.read(sr))
            if v & DMASR_ERR_MASK:
                return f"the AXI DMA {ch} channel reported an error (DMASR 0x{v:X})"
        return None

    def wait(self, t0: float, timeout: float, what: str) -> None:
        for sr, ch in ((S2MM_DMASR, "S2MM"), (MM2S_DMASR, "MM2S")):
            while True:
                v = int(self.regs.read(sr))
                if v & DMASR_ERR_MASK:
                    raise DmaError(f"{what} ({ch}): the AXI DMA reported an error (DMASR 0x{v:X})")
                if v & DMASR_IDLE:
                    self.regs.write(sr, DMASR_IOC)
                    break
                if time.monotonic() - t0 > timeout:
                    raise AccelTimeoutError(f"{what} ({ch}): the AXI DMA did not finish within {timeout:g} s "
                                            f"(DMASR 0x{v:X})")


class Accelerator:
    """One nn_accel IP. `regs` reaches its s_axilite port, `dma` the AXI DMA of an axi_stream
    IP, `allocate(nbytes) -> Buffer` gives DMA-able memory.

    Every public operation holds the device's lock: a threading lock, and with `lock_path` an
    exclusive flock on that file, so that threads and processes sharing the device cannot
    interleave a load with a run. `with acc.lock(): ...` holds it across several operations;
    `lock_timeout` (seconds, None: no limit) bounds the wait for it (BusyError)."""

    def __init__(self, desc: Description, regs: RegisterPort, allocate: Callable[[int], Buffer] | None,
                 dma: RegisterPort | None = None, timeout: float = DEFAULT_TIMEOUT,
                 dma_max_bytes: int = DEFAULT_DMA_MAX_BYTES, max_work_bytes: int = MAX_WORK_BYTES,
                 lock_path=None, lock_timeout: float | None = None):
        self._lock = DeviceLock(lock_path)
        self.lock_timeout = lock_timeout
        self.desc = desc
        self.regs = regs
        self.dma = dma
        # a register port is driven through PG021 registers; an engine (submit/wait/...) as it is
        self._dma = None if dma is None else dma if hasattr(dma, "submit") else RegisterDma(dma)
        self.irq = None             # an object with `async wait()`: predict_async waits on it (GIE/IER set)
        self.timeout = timeout
        self.dma_max_bytes = dma_max_bytes
        self.max_work_bytes = max_work_bytes
        self._allocate = allocate
        self._work: Buffer | None = None
        self.weights_loaded = False
        self.last_start_seconds = 0.0
        # weight banks (desc.weight_banks > 1): the bank RUNs use, and the device's BANKS_VALID as last read
        self.active_bank = 0
        self.banks_valid = 0
        self._batch_bank: int | None = None  # the bank of the batch being run: every start of it uses this one
        if desc.interface != "axi_lite" and allocate is None:
            raise DriverError(f"{desc.interface}: the driver needs DMA-able memory (an allocator)")
        if desc.interface == "axi_stream" and dma is None:
            raise DriverError("axi_stream: give the AXI DMA that feeds in_stream / drains out_stream (dma=...)")
        with self._lock.hold(lock_timeout):  # the probe starts the core, the DMA reset stops transfers
            self._check_present()
            if self._dma is not None:
                self._dma.reset(self.timeout)
            self.probe()

    def lock(self, timeout: float | None = None):
        """Context manager: hold the device across several operations (reentrant)."""
        return self._lock.hold(self.lock_timeout if timeout is None else timeout)

    def lock_async(self, timeout: float | None = None):
        """`async with acc.lock_async():` the same, awaiting the lock instead of blocking the loop."""
        return self._lock.hold_async(self.lock_timeout if timeout is None else timeout)

    @property
    def lock_path(self):
        return self._lock.path

    # ---- registers ----
    def _reg(self, name: str) -> int:
        try:
            return self.desc.regs[name]
        except KeyError:
            raise DriverError(f"{self.desc.top}: register {name} does not exist for {self.desc.interface}") from None

    def _rd(self, name: str) -> int:
        return int(self.regs.read(self._reg(name)))

    def _wr(self, name: str, value: int) -> None:
        self.regs.write(self._reg(name), int(value) & 0xFFFFFFFF)

    def _wr64(self, name: str, value: int) -> None:
        off = self._reg(name)
        self.regs.write(off, value & 0xFFFFFFFF)
        self.regs.write(off + 4, (value >> 32) & 0xFFFFFFFF)

    # ---- one start ----
    def _wait_idle(self) -> None:
        t_wait = time.monotonic()
        # a previous start that timed out may still finish: wait for idle, bounded like every wait
        while True:
            ctrl = self._rd("CTRL")  # also drops a stale ap_done
            if ctrl & AP_IDLE and not ctrl & AP_START:
                return
            if time.monotonic() - t_wait > self.timeout:
                raise BusyError(f"{self.desc.top}: the core is not idle (CTRL 0x{ctrl:X}); an earlier start "
                                "never finished" + ("; a stream core whose input was lost waits for it until "
                                                    "the PL is reset" if self.dma is not None else ""))

    def _kick(self, command: int, n_samples: int) -> float:
        self._wait_idle()
        if self.desc.weight_banks > 1:  # sampled at ap_start: a batch's starts all name its bank
            self._wr("ACTIVE_BANK", self.active_bank if self._batch_bank is None else self._batch_bank)
        self._wr("COMMAND", command)
        self._wr("N_SAMPLES", n_samples)
        t0 = time.monotonic()
        self._wr("CTRL", AP_START)
        return t0

    def _finish(self, t0: float, what: str, watch_dma: bool = False, done_seen: bool = False) -> None:
        """Wait for ap_done (unless the caller already read it: CTRL's ap_done clears on read),
        then turn LAST_ERROR into the driver's error."""
        while not done_seen and not self._rd("CTRL") & AP_DONE:
            if watch_dma:  # a failed DMA starves the core: report the DMA, not a timeout
                err = self._dma.error()
                if err:
                    raise DmaError(f"{what}: {err}")
            if time.monotonic() - t0 > self.timeout:
                raise AccelTimeoutError(f"{what}: the core did not finish within {self.timeout:g} s "
                                        f"(CTRL 0x{self._rd('CTRL'):X})")
        self.last_start_seconds = time.monotonic() - t0
        err = self._rd("LAST_ERROR")
        if err:
            name = self.desc.error_name(err)
            msg = f"{what}: the accelerator reported {name} (LAST_ERROR {err})"
            # both mean the device holds no valid weights (BAD_CRC: the load overwrote them before
            # the check failed): no RUN goes out until a load succeeds
            if name == "BAD_CRC":
                self.weights_loaded = False
                raise WeightsCrcError(msg + "; the weight image changed in memory after the driver checked it, "
                                      "and the device now has no valid weights: load a good image", err, name)
            if name == "NO_WEIGHTS":
                self.weights_loaded = False
                raise DeviceNoWeightsError(msg + "; call load_weights() first", err, name)
            raise DeviceError(msg, err, name)

    def _start(self, command: int, n_samples: int, what: str) -> None:
        self._finish(self._kick(command, n_samples), what)

    def _check_present(self) -> None:
        """Nothing behind the address reads as all zeros or all ones. A Vitis HLS core reads
        ap_idle (or ap_start while busy), never all ones; CTRL 0 with an IDENT that is not ours
        is no nn_accel either (one of ours that ran before keeps IDENT). Said before any write,
        instead of waiting for an idle bit that never comes and reporting BusyError."""
        ctrl = self._rd("CTRL")
        if ctrl == 0xFFFFFFFF or (ctrl == 0 and self._rd("IDENT") != self.desc.ident):
            raise IdentError(f"{self.desc.top}: CTRL reads 0x{ctrl:08X} and IDENT is not 0x{self.desc.ident:08X}; "
                             "no nn_accel register map at this address")

    @_serialised
    def probe(self) -> dict:
        """The read-back registers are written at the end of a start: probe with COMMAND 0 (the
        IP answers BAD_COMMAND and does nothing else), then check IDENT and FINGERPRINT."""
        d = self.desc
        try:
            self._start(0, 0, "probe")
        except DeviceError:
            pass
        ident, fp, status = self._rd("IDENT"), self._rd("FINGERPRINT"), self._rd("STATUS")
        if ident != d.ident:
            raise IdentError(f"{d.top}: IDENT reads 0x{ident:08X}, expected 0x{d.ident:08X}; "
                             "no nn_accel register map at this address")
        if fp != d.fingerprint:
            raise IdentError(f"{d.top}: the IP was built for layout 0x{fp:08X}, this description is for "
                             f"0x{d.fingerprint:08X}; use the IP directory of the loaded bitstream")
        if bool(status & d.status_bits["WEIGHTS_EXTERNAL"]) != d.external:
            raise IdentError(f"{d.top}: the IP's weights are {'external' if not d.external else 'embedded'}, "
                             "the description says otherwise")
        self.weights_loaded = bool(status & d.status_bits["WEIGHTS_VALID"])
        if d.weight_banks > 1:
            self.banks_valid = self._rd("BANKS_VALID")
        return {"ident": ident, "fingerprint": fp, "status": status}

    @_serialised
    def status(self) -> dict:
        out = {"STATUS": self._rd("STATUS"), "LAST_ERROR": self._rd("LAST_ERROR"),
               "SAMPLES_DONE": self._rd("SAMPLES_DONE"), "CTRL": self._rd("CTRL")}
        if self.desc.weight_banks > 1:
            out.update(BANKS_VALID=self._rd("BANKS_VALID"), active_bank=self.active_bank)
        return out

    # ---- memory ----
    def _work_buffer(self, nbytes: int) -> Buffer:
        if self._work is None or self._work.array.size < nbytes:
            if self._work is not None:
                self._work.release()
            self._work = self._allocate(max(nbytes, 4096))
            if self._work.device_address % ALIGN:
                raise DriverError(f"DMA buffer at 0x{self._work.device_address:X} is not {ALIGN}-byte aligned")
        return self._work

    # ---- weights ----
    def _check_bank(self, bank: int, what: str) -> int:
        n = self.desc.weight_banks
        if isinstance(bank, bool) or not isinstance(bank, (int, np.integer)) or not 0 <= bank < n:
            raise BankError(f"{what}: bank {bank!r} does not exist; this IP has {n} weight bank"
                            f"{'s' if n > 1 else ''} (0..{n - 1})", bank, self.banks_valid)
        return int(bank)

    @_serialised
    def select_bank(self, bank: int) -> None:
        """Make `bank` the one every later predict uses (weight_banks > 1). A batch already running
        finishes on the bank it started with. Refused (BankError) unless the device's BANKS_VALID
        shows a good load in that bank."""
        bank = self._check_bank(bank, "select_bank")
        if self.desc.weight_banks == 1:  # the only bank: nothing to switch, but the same refusal
            if not self.weights_loaded:
                raise BankError("select_bank: bank 0 holds no valid weights; load_weights() first", 0, 0)
            return
        self.banks_valid = self._rd("BANKS_VALID")
        if not self.banks_valid >> bank & 1:
            raise BankError(f"select_bank: bank {bank} holds no valid weights (BANKS_VALID 0x{self.banks_valid:X}); "
                            f"load_weights(image, bank={bank}) first", bank, self.banks_valid)
        self.active_bank = bank
        self._wr("ACTIVE_BANK", bank)
        self.weights_loaded = True

    @_serialised
    def load_weights(self, image=None, bank: int | None = None) -> None:
        """Load a weight image (bytes, a path, or None for the IP's own weights.bin). The image
        is checked completely (header, layout fingerprint, lengths, CRC-32) before any device access.
        `bank` (IPs with weight banks): the bank to write, default the active one; loading another
        bank leaves the active bank's weights in use."""
        if self.desc.weight_banks > 1:
            return self._load_bank(image, self.active_bank if bank is None else bank)
        if bank not in (None, 0):
            self._check_bank(bank, "load_weights")
        self._load_image(image)

    def _load_image(self, image, bank: int | None = None) -> None:
        if image is None:
            if self.desc.default_image is None:
                raise ImageError("load_weights: give an image; this description has no weights.bin")
            image = self.desc.default_image
        if isinstance(image, (str, os.PathLike)):
            try:
                image = Path(image).read_bytes()
            except OSError as e:
                raise ImageError(f"load_weights: cannot read {image} ({e.strerror})") from None
        image = bytes(image)
        total = check_image(self.desc, image)
        buf = self._work_buffer(total)
        buf.array[:total] = np.frombuffer(image, dtype=np.uint8, count=total)
        buf.flush()
        if bank is not None:  # only now: a refused image writes nothing to the device
            self._wr("LOAD_BANK", bank)
        self._wr64("WEIGHTS_ADDR", buf.device_address)
        valid = self.desc.status_bits["WEIGHTS_VALID"]
        try:
            self._start(self.desc.commands["LOAD_WEIGHTS"], 0, "load_weights")
        except WeightsCrcError:
            raise  # _finish cleared weights_loaded: fail closed, whatever STATUS says
        except DeviceError:
            # the core refused the image (header checks) and keeps the weights it had: STATUS of
            # this start says whether those are valid
            self.weights_loaded = bool(self._rd("STATUS") & valid)
            raise
        except DriverError:
            self.weights_loaded = False  # timeout / busy: the load may have been half done
            raise
        if self.desc.weight_banks > 1:
            return  # STATUS speaks of the active bank; _load_bank reads BANKS_VALID
        self.weights_loaded = bool(self._rd("STATUS") & valid)
        if not self.weights_loaded:
            raise DeviceError("load_weights: STATUS does not show valid weights after the load", 0, "OK")

    def _load_bank(self, image, bank: int) -> None:
        bank = self._check_bank(bank, "load_weights")
        try:
            self._load_image(image, bank)
        except WeightsCrcError as e:  # only that bank lost its weights
            self._after_bank_load()
            raise WeightsCrcError(f"{e}; bank {bank} only, the other banks are unchanged", e.code, e.name) from None
        except DeviceError:  # a refused header: the bank keeps what it had
            self._after_bank_load()
            raise
        except DriverError:  # timeout / busy: the load may have been half done
            self.banks_valid &= ~(1 << bank)
            self.weights_loaded = bool(self.banks_valid >> self.active_bank & 1)
            raise
        self._after_bank_load()
        if not self.banks_valid >> bank & 1:
            raise DeviceError(f"load_weights: BANKS_VALID does not show bank {bank} after the load", 0, "OK")

    def _after_bank_load(self) -> None:
        self.banks_valid = self._rd("BANKS_VALID")
        self.weights_loaded = bool(self.banks_valid >> self.active_bank & 1)

    # ---- inference ----
    def _check_input(self, x) -> np.ndarray:
        if len(self.desc.inputs) > 1:
            return self._join_inputs(x)
        return _rows(x, tuple(self.desc.input_shape), self.desc.n_inputs, "input")

    def _join_inputs(self, xs) -> np.ndarray:
        """A list of arrays, one per input tensor -> the (N, n_inputs) rows the IP takes: per sample
        the tensors end to end, in the description's order."""
        ts = self.desc.inputs
        if not isinstance(xs, (list, tuple)) or len(xs) != len(ts):
            raise InputShapeError(f"predict: this model has {len(ts)} inputs; give a list of {len(ts)} arrays "
                                  f"({', '.join(t.name for t in ts)})")
        rows = [_rows(x, t.shape, t.n_values, f"input {t.name}") for x, t in zip(xs, ts)]
        if len({len(r) for r in rows}) != 1:
            raise InputShapeError(f"predict: the input arrays hold different numbers of samples "
                                  f"({', '.join(str(len(r)) for r in rows)})")
        return np.concatenate(rows, axis=1)

    def _in_words(self, x, raw: bool) -> np.ndarray:
        d = self.desc
        if raw:  # float words travel as their IEEE bit patterns
            x = np.asarray(x, dtype="<f4") if d.in_word.is_float else np.asarray(x)
            in_words = x.view("<u4") if d.in_word.is_float else x.astype(f"<u{d.in_word.bytes}")
            in_words = in_words.reshape(-1, d.n_inputs)
        else:
            in_words = words.encode(self._check_input(x), d.in_word)
            in_words = in_words.view("<u4") if d.in_word.is_float else in_words
        return np.ascontiguousarray(in_words)

    def _outputs(self, out: np.ndarray, raw: bool) -> np.ndarray:
        d = self.desc
        if raw:
            return out.view("<f4") if d.out_word.is_float else out
        y = words.decode(out, d.out_word)
        if len(d.outputs) > 1:  # one array per output tensor, in the description's order
            return [y[:, t.offset:t.offset + t.n_values].reshape((len(y), *t.shape)) for t in d.outputs]
        return y.reshape((len(y), *d.output_shape))

    @_serialised
    def predict(self, x, raw: bool = False) -> np.ndarray:
        """Float (or integer) inputs -> float32 outputs of shape (N, *output_shape); the
        driver encodes to the IP's input words and decodes its output words. With raw=True,
        `x` holds raw input words and the raw output words are returned. Waits by polling
        CTRL, bounded by the timeout. A model with several inputs takes a list of arrays (one
        per input, the description's order); one with several outputs returns a list. Raw words
        of several tensors lie end to end per sample (N, n_inputs) -> (N, n_outputs)."""
        return self._outputs(self.predict_words(self._in_words(x, raw)), raw)

    async def predict_async(self, x, raw: bool = False) -> np.ndarray:
        """predict() that awaits the core's ap_done interrupt (`self.irq`, e.g. PYNQ's Interrupt,
        when the interrupt is wired) instead of polling; without one it polls between awaits.
        Other coroutines run while the core works; the timeout bounds every wait."""
        async with self._lock.hold_async(self.lock_timeout):
            return await self._predict_async(x, raw)

    async def _predict_async(self, x, raw: bool) -> np.ndarray:
        in_words = self._in_words(x, raw)
        out = self._new_outputs(len(in_words))
        bank = self.active_bank  # the whole batch runs on it, whatever select_bank does meanwhile
        for i, k in self._chunks(len(in_words)):
            if self.irq is not None:  # ap_done raises the interrupt; a stale status bit must not
                self._wr("GIE", 1)
                self._wr("IER", IRQ_AP_DONE)
                self._wr("ISR", self._rd("ISR"))
            self._batch_bank = bank
            try:
                pending = self._submit(in_words[i:i + k], k)
            finally:
                self._batch_bank = None
            pending["done"] = await self._wait_done_async(pending["t0"], "predict")
            out[i:i + k] = self._complete(pending)
        return self._outputs(out, raw)

    @_serialised
    def predict_words(self, in_words: np.ndarray) -> np.ndarray:
        """Raw input words (N, n_inputs) -> raw output words (N, n_outputs), unsigned ints.
        The whole batch runs on the bank that was active when it began."""
        out = self._new_outputs(len(in_words))
        self._batch_bank = self.active_bank
        try:
            for i, k in self._chunks(len(in_words)):
                out[i:i + k] = self._complete(self._submit(in_words[i:i + k], k))
        finally:
            self._batch_bank = None
        return out

    def _new_outputs(self, n: int) -> np.ndarray:
        d = self.desc
        if d.external and not self.weights_loaded:
            raise NoWeightsError("predict: no weights loaded; call load_weights() first")
        return np.zeros((n, d.n_outputs), dtype=f"<u{d.out_word.bytes}")

    def _chunks(self, n: int):
        cap = self._samples_per_start()
        return [(i, min(cap, n - i)) for i in range(0, n, cap)]

    def _samples_per_start(self) -> int:
        d = self.desc
        if d.interface == "axi_lite":
            return d.lite_max_batch
        in_s, out_s = d.n_inputs * d.in_word.bytes, d.n_outputs * d.out_word.bytes
        # every tensor's block but the last may be padded to ALIGN (one tensor each: ALIGN)
        cap = (self.max_work_bytes - ALIGN * (len(d.inputs) + len(d.outputs) - 1)) // (in_s + out_s)
        if d.interface == "axi_stream":
            cap = min(cap, self.dma_max_bytes // in_s, self.dma_max_bytes // out_s)
        if cap < 1:
            raise DriverError("predict: one sample does not fit the DMA length limit / work memory")
        return cap

    def _check_done(self, k: int) -> None:
        done = self._rd("SAMPLES_DONE")
        if done != k:
            raise DeviceError(f"predict: the core processed {done} of {k} samples", 0, "OK")

    # ---- one start of k samples: submit (buffers, DMA, kick), then complete (wait, read back) ----
    def _submit(self, chunk_words: np.ndarray, k: int) -> dict:
        d = self.desc
        data = np.ascontiguousarray(chunk_words).view(np.uint8).reshape(-1)
        if d.interface == "axi_lite":
            for t, block in zip(d.inputs, self._blocks(chunk_words, d.inputs)):
                padded = np.zeros((block.size + 3) // 4 * 4, dtype=np.uint8)  # whole 32-bit registers, as the C driver
                padded[:block.size] = block
                for i, w in enumerate(padded.view("<u4")):
                    self.regs.write(t.lite_offset + 4 * i, int(w))
            return {"k": k, "t0": self._kick(d.commands["RUN"], k)}
        if d.interface == "axi_master":
            # one block per tensor (a single-tensor IP: input at 0, output at the next ALIGN boundary)
            blocks = self._blocks(chunk_words, d.inputs)
            in_offs = _offsets([b.size for b in blocks], 0)
            out_sizes = [k * t.n_values * d.out_word.bytes for t in d.outputs]
            out_offs = _offsets(out_sizes, _align(in_offs[-1] + blocks[-1].size))
            buf = self._work_buffer(out_offs[-1] + out_sizes[-1])
            for off, block in zip(in_offs, blocks):
                buf.array[off:off + block.size] = block
            buf.flush()
            for t, off in zip(d.inputs, in_offs):
                self._wr64(t.register, buf.device_address + off)
            for t, off in zip(d.outputs, out_offs):
                self._wr64(t.register, buf.device_address + off)
            pending = {"k": k, "buf": buf, "out_offs": out_offs, "out_sizes": out_sizes}
        else:
            in_sz, out_sz = data.size, k * d.n_outputs * d.out_word.bytes
            out_off = _align(in_sz)
            buf = self._work_buffer(out_off + out_sz)
            buf.array[:in_sz] = data
            buf.flush()
            pending = {"k": k, "buf": buf, "out_off": out_off, "out_sz": out_sz}
            # A start still waiting for its input would take this call's samples (and this start
            # would wait for the next call's): nothing goes on the streams until the core is idle.
            self._wait_idle()
            self._dma.submit(buf, 0, in_sz, out_off, out_sz)
        try:
            pending["t0"] = self._kick(d.commands["RUN"], k)
        except DmaError:
            self._recover_dma()
            raise
        return pending

    def _complete(self, pending: dict) -> bytes:
        d, k = self.desc, pending["k"]
        try:
            self._finish(pending["t0"], "predict", watch_dma=self._dma is not None, done_seen=pending.get("done", False))
            if self._dma is not None:
                self._dma.wait(pending["t0"], self.timeout, "predict")
        except DmaError:
            # a channel with an error is halted: make it usable for the next call. On a timeout the
            # transfer stays programmed: a late core or DMA still completes into this call's buffers.
            self._recover_dma()
            raise
        self._check_done(k)
        dtype = f"<u{d.out_word.bytes}"
        if d.interface == "axi_lite":
            parts = []
            for t in d.outputs:
                nbytes = k * t.n_values * d.out_word.bytes
                regs = np.array([self.regs.read(t.lite_offset + 4 * i) for i in range((nbytes + 3) // 4)],
                                dtype="<u4")
                parts.append(np.frombuffer(regs.view(np.uint8)[:nbytes].tobytes(), dtype=dtype).reshape(k, t.n_values))
            return np.concatenate(parts, axis=1)
        buf = pending["buf"]
        buf.invalidate()
        if d.interface == "axi_master":
            return np.concatenate([np.frombuffer(buf.array[off:off + n].tobytes(), dtype=dtype).reshape(k, t.n_values)
                                   for t, off, n in zip(d.outputs, pending["out_offs"], pending["out_sizes"])], axis=1)
        off = pending["out_off"]
        raw = buf.array[off:off + pending["out_sz"]]
        return np.frombuffer(raw.tobytes(), dtype=dtype).reshape(k, d.n_outputs)

    @staticmethod
    def _blocks(chunk_words: np.ndarray, tensors) -> list[np.ndarray]:
        """(k, n_inputs) words -> each tensor's (k, n_values) words as bytes, samples one after another."""
        w = np.asarray(chunk_words).reshape(len(chunk_words), -1)
        return [np.ascontiguousarray(w[:, t.offset:t.offset + t.n_values]).view(np.uint8).reshape(-1) for t in tensors]

    def _recover_dma(self) -> None:
        if self._dma is not None:
            self._dma.reset(self.timeout)  # leave the DMA usable for the next call

    async def _wait_done_async(self, t0: float, what: str) -> bool:
        """Until ap_done: on the interrupt when there is one (then acknowledge it in ISR, which
        toggles on write; ap_done stays in CTRL for _finish), else by polling CTRL between awaits.
        True when this read ap_done (which clears on read)."""
        remaining = max(0.0, self.timeout - (time.monotonic() - t0))
        if self.irq is not None:
            try:
                await asyncio.wait_for(self.irq.wait(), remaining)
            except asyncio.TimeoutError:
                raise AccelTimeoutError(f"{what}: no interrupt from the core within {self.timeout:g} s "
                                        f"(CTRL 0x{self._rd('CTRL'):X})") from None
            self._wr("ISR", self._rd("ISR") & IRQ_AP_DONE)
            return False
        while not self._rd("CTRL") & AP_DONE:
            if time.monotonic() - t0 > self.timeout or (self._dma is not None and self._dma.error()):
                return False  # _finish reports the timeout or the DMA error
            await asyncio.sleep(0.0002)
        return True

    # ---- measurements ----
    @_serialised
    def throughput_test(self, n: int = 10000, batch: int | None = None, x=None) -> dict:
        """Time n samples through the accelerator in batches of `batch` (default: as many as one
        start takes), like FINN's throughput_test: inputs are `x` (cycled) or zeros. Returns
        samples, seconds, samples_per_s, in/out MB per second and seconds per batch."""
        d = self.desc
        if n < 1:
            raise DriverError("throughput_test: n must be at least 1")
        batch = min(n, batch or self._samples_per_start())
        if x is None:
            src = np.zeros((batch, d.n_inputs), dtype=np.float32)
        else:
            src = self._check_input(x)
            src = np.resize(src, (batch, d.n_inputs))
        in_words = self._in_words(src, False)
        done, t0 = 0, time.perf_counter()
        while done < n:
            k = min(batch, n - done)
            self.predict_words(in_words[:k])
            done += k
        dt = time.perf_counter() - t0
        in_b, out_b = n * d.n_inputs * d.in_word.bytes, n * d.n_outputs * d.out_word.bytes
        return {"samples": n, "batch": batch, "seconds": dt, "samples_per_s": n / dt,
                "in_MB_per_s": in_b / dt / 1e6, "out_MB_per_s": out_b / dt / 1e6,
                "seconds_per_batch": dt / -(-n // batch)}

    @_serialised
    def close(self) -> None:
        """Release the DMA-able work memory (the device keeps its weights)."""
        if self._work is not None:
            self._work.release()
            self._work = None

    def __enter__(self) -> "Accelerator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
