"""The simulated device and both drivers against a fake accelerator (C-simulation ABI,
out = 2 * in + bias): register semantics, the three data interfaces, reprogramming, every
fault path. Fast: no hls4ml. The real IPs are in test_sw_drivers.py."""
from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest

from swtest import FAKE_FP, FAKE_IN, SW, fake_expected, fake_image, fake_ip, host_tools, run_host
from nnaccel_driver import AccelTimeoutError, BusyError, DeviceError, DmaError, DriverError, ImageError
from nnaccel_driver.sim import ACCEL_BASE, SimDevice, simulate
from nnaccel_driver.description import load as load_description

INTERFACES = ("axi_master", "axi_stream", "axi_lite")
CTRL, GIE, IER, ISR, COMMAND, IDENT = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x80


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("sw-fake")


@pytest.fixture(params=INTERFACES)
def fake(request, root):
    ip, lib = fake_ip(request.param, root)
    return ip, lib, host_tools(ip, root / f"build-{request.param}", csim=lib)


# ---- register file semantics (Vitis HLS ap_ctrl_hs) ----

def test_register_semantics(root):
    ip, lib = fake_ip("axi_master", root)
    dev = SimDevice(load_description(ip), lib)
    rd = lambda off: dev.read32(ACCEL_BASE + off)  # noqa: E731
    wr = lambda off, v: dev.write32(ACCEL_BASE + off, v)  # noqa: E731
    assert rd(IDENT) == 0, "output registers read 0 until a start completes"
    assert rd(CTRL) & 0x4, "idle after reset"
    wr(COMMAND, 0)
    wr(CTRL, 1)
    seen = [rd(CTRL) for _ in range(10)]
    assert seen[0] & 0x1 and not seen[0] & 0x4, "ap_start set and not idle while busy"
    done_reads = [v for v in seen if v & 0x2]
    assert len(done_reads) == 1, "ap_done is cleared by the read that returns it"
    assert done_reads[0] & 0x8 and done_reads[0] & 0x4 and not done_reads[0] & 0x1
    assert rd(IDENT) == 0x4E4E4103, "IDENT of register map version 3 (docs/contracts.md)"
    assert rd(IDENT + 4) == 1 and rd(IDENT + 4) == 0, "_ap_vld is clear on read"
    assert rd(0x60) == 6, "COMMAND 0 answers BAD_COMMAND"

    # interrupts: ISR bits set only when enabled, toggle on write, line = GIE & ISR
    wr(IER, 1)
    wr(GIE, 1)
    wr(CTRL, 1)
    for _ in range(10):
        rd(CTRL)
    assert rd(ISR) == 1 and dev.irq()
    wr(ISR, 1)
    assert rd(ISR) == 0 and not dev.irq()
    wr(ISR, 1)
    assert rd(ISR) == 1, "ISR is toggle-on-write, not write-1-to-clear"
    wr(ISR, 1)
    wr(IER, 0)
    wr(CTRL, 1)
    for _ in range(10):
        rd(CTRL)
    assert rd(ISR) == 0, "a disabled event does not set ISR"

    # auto_restart keeps starting with the same arguments
    before = dev.counters()["starts"]
    wr(CTRL, 0x81)
    for _ in range(40):
        rd(0x50)
    assert dev.counters()["starts"] - before >= 3
    wr(CTRL, 0x00)
    for _ in range(10):
        rd(0x50)
    stopped = dev.counters()["starts"]
    for _ in range(20):
        rd(0x50)
    assert dev.counters()["starts"] == stopped, "clearing auto_restart stops after the current start"
    assert dev.counters()["bus_faults"] == 0
    dev.close()


# ---- C driver (nna_host) ----

def test_c_driver_reprograms_on_every_interface(fake, tmp_path):
    ip, _, tools = fake
    x = np.random.default_rng(1).standard_normal((5, FAKE_IN)).astype(np.float32)  # > lite_max_batch
    x.tofile(tmp_path / "x.f32")
    for name, bias in (("a", 0.5), ("b", -1.25)):
        (tmp_path / f"{name}.bin").write_bytes(fake_image(bias))
    status, ops = run_host(tools, "load", tmp_path / "a.bin", "predict-f32", tmp_path / "x.f32", tmp_path / "y1",
                           "load", tmp_path / "b.bin", "predict-f32", tmp_path / "x.f32", tmp_path / "y2",
                           "load", tmp_path / "a.bin", "irq", "on", "predict", tmp_path / "x.f32", tmp_path / "y3")
    assert status == 0, [o["line"] for o in ops]
    y = [np.fromfile(tmp_path / f"y{i}", dtype=np.float32).reshape(5, -1) for i in (1, 2, 3)]
    assert np.array_equal(y[0], fake_expected(x, 0.5))
    assert np.array_equal(y[1], fake_expected(x, -1.25))
    assert np.array_equal(y[2], y[0])


def test_c_driver_refuses_foreign_images_before_any_write(fake, tmp_path):
    ip, _, tools = fake
    good = fake_image(0.5)
    bad = {
        "layout": fake_image(0.5, fp=FAKE_FP ^ 1),
        "crc": good[:32] + bytes([good[32] ^ 1]) + good[33:],
        "magic": b"XXXX" + good[4:],
        "short": good[:40],
    }
    ops = []
    for name, img in bad.items():
        (tmp_path / f"{name}.bin").write_bytes(img)
        ops += ["load", tmp_path / f"{name}.bin"]
    status, res = run_host(tools, *ops)
    assert status == 1
    codes = {r["line"].split("(")[1].split(")")[0] for r in res}
    assert len(codes) == 4, codes  # four different reasons
    for r in res:
        assert r["rc"] != 0 and r["writes"] == "0" and r["starts"] == "0", r["line"]
    assert any("another layout" in r["line"] for r in res)


def test_c_driver_times_out_on_a_stalled_core_then_recovers(fake, tmp_path):
    ip, _, tools = fake
    np.zeros((2, FAKE_IN), np.float32).tofile(tmp_path / "x.f32")
    status, res = run_host(tools, "load", ip / "weights.bin", "timeout", 20000, "stall", "on",
                           "predict-f32", tmp_path / "x.f32", tmp_path / "y", "predict-f32", tmp_path / "x.f32",
                           tmp_path / "y", "stall", "off", "predict-f32", tmp_path / "x.f32", tmp_path / "y")
    assert status == 1
    by_op = [r for r in res if r["op"] == "predict-f32"]
    assert "timeout" in by_op[0]["line"]
    assert "not idle" in by_op[1]["line"], "a start after a hang reports BUSY instead of hanging again"
    if tools["ip"].name.endswith("axi_stream"):
        assert by_op[1]["writes"] == "0", "no stream transfer is programmed while the core is busy"
    # the hung start finishes once the stall is released (axi_stream: into the transfer the timed-out
    # call left programmed), then the new one runs
    assert by_op[2]["rc"] == 0, by_op[2]["line"]
    assert np.array_equal(np.fromfile(tmp_path / "y", np.float32), np.full(6, 0.5, np.float32))


def test_c_driver_reports_device_errors_and_missing_weights(fake, tmp_path):
    ip, _, tools = fake
    np.zeros((1, FAKE_IN), np.float32).tofile(tmp_path / "x.f32")
    status, res = run_host(tools, "predict-f32", tmp_path / "x.f32", tmp_path / "y", "load", ip / "weights.bin",
                           "force-error", 7, "predict-f32", tmp_path / "x.f32", tmp_path / "y")
    assert "no weights loaded" in res[0]["line"] and res[0]["starts"] == "0"
    assert "device_error=7 (BATCH_TOO_LARGE)" in res[3]["line"]


# ---- Python driver, simulation backend ----

def test_python_driver_reprograms_on_every_interface(fake):
    ip, lib, _ = fake
    acc = simulate(ip, csim_library=lib)
    x = np.random.default_rng(2).standard_normal((7, FAKE_IN)).astype(np.float32)
    with pytest.raises(DriverError, match="no weights loaded"):
        acc.predict(x)
    for bias in (0.5, 3.0, 0.5):
        acc.load_weights(fake_image(bias))
        assert np.array_equal(acc.predict(x), fake_expected(x, bias))
    raw = acc.predict(x, raw=True)
    assert np.array_equal(raw, fake_expected(x, 0.5))
    assert acc.sim.counters()["bus_faults"] == 0 and acc.sim.last_fault == ""


def test_python_driver_refuses_foreign_image_before_any_write(fake):
    ip, lib, _ = fake
    acc = simulate(ip, csim_library=lib)
    before = acc.sim.counters()
    with pytest.raises(ImageError, match="another layout"):
        acc.load_weights(fake_image(0.5, fp=FAKE_FP + 1))
    with pytest.raises(ImageError, match="CRC"):
        img = bytearray(fake_image(0.5))
        img[40] ^= 0x80
        acc.load_weights(bytes(img))
    after = acc.sim.counters()
    assert after["reg_writes"] == before["reg_writes"] and after["starts"] == before["starts"]


def test_python_driver_timeouts_and_faults(root):
    ip, lib = fake_ip("axi_stream", root)
    x = np.ones((3, FAKE_IN), np.float32)
    acc = simulate(ip, csim_library=lib, timeout=0.05)
    acc.load_weights()
    acc.sim.stall_dma(True)
    with pytest.raises(AccelTimeoutError):
        acc.predict(x)

    acc = simulate(ip, csim_library=lib, timeout=0.05)
    acc.load_weights()
    acc.sim.dma_error(0x40, "mm2s")
    with pytest.raises(DmaError, match="MM2S"):  # reported while the starved core waits, not as a timeout
        acc.predict(x)

    acc = simulate(ip, csim_library=lib, timeout=0.05)
    acc.load_weights()
    acc.sim.dma_error(0x40, "s2mm")
    with pytest.raises(DmaError, match="DMASR"):
        acc.predict(x)
    assert np.array_equal(acc.predict(x), fake_expected(x, 0.5)), "the DMA is reset after an error"
    acc.sim.force_error(5)
    with pytest.raises(DeviceError, match="NO_WEIGHTS") as e:
        acc.predict(x)
    assert e.value.code == 5
    assert not acc.weights_loaded, "a device that answers NO_WEIGHTS has none: the driver follows it"
    acc.load_weights()
    acc.sim.stall(True)
    with pytest.raises(AccelTimeoutError):
        acc.predict(x)
    with pytest.raises(BusyError):
        acc.predict(x)


def test_stream_batches_split_at_the_dma_length_limit(root):
    ip, lib = fake_ip("axi_stream", root)
    acc = simulate(ip, csim_library=lib, dma_length_bits=10)  # 1023-byte transfers: 63 samples of 16 bytes
    acc.load_weights()
    x = np.random.default_rng(3).standard_normal((200, FAKE_IN)).astype(np.float32)
    starts = acc.sim.counters()["starts"]
    assert np.array_equal(acc.predict(x), fake_expected(x, 0.5))
    assert acc.sim.counters()["starts"] - starts == 4


# ---- word encoding: C == Python driver == nnaccel's exact ap_fixed quantiser ----

class _Word(ctypes.Structure):
    _fields_ = [("is_float", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("bytes", ctypes.c_uint8),
                ("is_signed", ctypes.c_uint8), ("integer", ctypes.c_int16), ("rounding", ctypes.c_uint8),
                ("saturation", ctypes.c_uint8)]


WORD_TYPES = ["ap_fixed<16,6>", "ap_fixed<8,3,AP_RND_CONV,AP_SAT>", "ap_ufixed<8,4,AP_RND,AP_SAT>", "ap_int<8>",
              "ap_fixed<32,16,AP_RND_ZERO,AP_SAT_SYM>", "ap_fixed<16,2,AP_TRN_ZERO,AP_WRAP>",
              "ap_fixed<8,1,AP_RND_INF,AP_SAT_ZERO>", "ap_ufixed<16,0,AP_RND_MIN_INF,AP_WRAP>"]


@pytest.fixture(scope="module")
def words_lib(tmp_path_factory):
    out = tmp_path_factory.mktemp("words") / "libnna_words.so"
    subprocess.run(["cc", "-std=c99", "-O2", "-shared", "-fPIC", f"-I{SW / 'c' / 'include'}", "-o", str(out),
                    str(SW / "c" / "src" / "nna_words.c"), "-lm"], check=True)
    return ctypes.CDLL(str(out))


@pytest.mark.parametrize("cpp", WORD_TYPES)
def test_word_encoding_matches_ap_fixed(words_lib, cpp):
    from nnaccel.accel import word_info
    from nnaccel.csim import decode_words, encode_words
    from nnaccel.swgen import ROUNDING_ENUM, SATURATION_ENUM
    from nnaccel_driver import Word, decode, encode

    info = word_info(cpp)
    rng = np.random.default_rng(4)
    ap_int = cpp.startswith(("ap_int", "ap_uint"))
    step = 2.0 ** (info["integer"] - info["bits"])
    x = np.concatenate([rng.standard_normal(500) * 2 ** (info["integer"] - 1),
                        rng.integers(-300, 300, 200) * step / 2,  # exact halves: every rounding mode differs
                        [0.0, -0.0, 1e9, -1e9, 2 ** 40, -(2 ** 40), np.inf, -np.inf, np.nan, -np.nan]]
                       ).astype(np.float32)
    if ap_int:  # ap_int<W>(v) for -0.5 < v < 0 is 1 (an ap_int_base quirk the drivers do not copy)
        x = x[~((x < 0) & (x > -0.5))]
    want = np.frombuffer(encode_words(x, info), dtype=f"<u{info['bytes']}")
    w = Word.from_json(info)
    assert np.array_equal(encode(x, w), want), "Python driver"
    enum = {name: i for i, name in enumerate(ROUNDING_ENUM)}, {name: i for i, name in enumerate(SATURATION_ENUM)}
    rounding = "AP_TRN_ZERO" if ap_int else info["rounding"]  # as nnaccel header writes it for ap_int
    cw = _Word(0, info["bits"], info["bytes"], int(info["signed"]), info["integer"], enum[0][rounding],
               enum[1][info["saturation"]])
    got = np.zeros(len(x), dtype=f"<u{info['bytes']}")
    words_lib.nna_encode_words(ctypes.byref(cw), x.ctypes.data_as(ctypes.c_void_p), got.ctypes.data_as(ctypes.c_void_p),
                               ctypes.c_size_t(len(x)))
    assert np.array_equal(got, want), "C driver"
    back = np.zeros(len(x), dtype=np.float32)
    words_lib.nna_decode_words(ctypes.byref(cw), got.ctypes.data_as(ctypes.c_void_p),
                               back.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(len(x)))
    assert np.array_equal(back, decode_words(want.tobytes(), info))
    assert np.array_equal(decode(want, w), back)


# ---- reviewer findings: refused images, empty addresses, DMA limit, ISR, lite padding ----

def test_refused_image_keeps_the_previous_weights(fake, tmp_path, monkeypatch):
    """A LOAD the core refuses (header checks) leaves its weights, and STATUS.WEIGHTS_VALID,
    as they were: both drivers keep predicting with them."""
    ip, lib, tools = fake
    x = np.random.default_rng(5).standard_normal((3, FAKE_IN)).astype(np.float32)
    x.tofile(tmp_path / "x.f32")
    (tmp_path / "a.bin").write_bytes(fake_image(0.5))
    status, res = run_host(tools, "load", tmp_path / "a.bin", "force-error", 3, "load", tmp_path / "a.bin",
                           "predict-f32", tmp_path / "x.f32", tmp_path / "y")
    assert "device_error=3 (BAD_FINGERPRINT)" in res[2]["line"]
    assert res[3]["rc"] == 0, res[3]["line"]
    assert np.array_equal(np.fromfile(tmp_path / "y", np.float32).reshape(3, -1), fake_expected(x, 0.5))

    # Python: an image for another layout forced past the host check reaches the device
    import nnaccel_driver.core as core

    acc = simulate(ip, csim_library=lib)
    acc.load_weights(fake_image(0.5))
    monkeypatch.setattr(core, "check_image", lambda desc, image: len(image))
    with pytest.raises(DeviceError, match="BAD_FINGERPRINT"):
        acc.load_weights(fake_image(-7.0, fp=FAKE_FP ^ 1))
    assert acc.weights_loaded
    assert np.array_equal(acc.predict(x), fake_expected(x, 0.5))


def test_init_with_nothing_at_the_address_is_an_ident_error(fake):
    ip, lib, tools = fake
    empty = 0xB0000000  # unmapped on the simulated bus: reads 0
    status, res = run_host(tools, "init-at", empty)
    assert "IDENT" in res[0]["line"] and res[0]["writes"] == "0" and res[0]["starts"] == "0", res[0]["line"]

    from nnaccel_driver.core import Accelerator
    from nnaccel_driver.errors import IdentError
    from nnaccel_driver.sim import DMA_BASE, _Port

    acc = simulate(ip, csim_library=lib)
    dev = acc.sim
    dma = _Port(dev, DMA_BASE) if "stream" in ip.name else None
    before = dev.counters()["reg_writes"]
    with pytest.raises(IdentError, match="no nn_accel register map"):
        Accelerator(acc.desc, _Port(dev, empty), dev.allocate, dma=dma, timeout=0.05)

    class AllOnes:
        def read(self, offset):
            return 0xFFFFFFFF

        def write(self, offset, value):
            raise AssertionError("no write may reach an address with nothing behind it")

    with pytest.raises(IdentError, match="0xFFFFFFFF"):
        Accelerator(acc.desc, AllOnes(), dev.allocate, dma=dma, timeout=0.05)
    assert dev.counters()["reg_writes"] == before


def test_c_driver_dma_max_bytes_splits_batches(root, tmp_path):
    ip, lib = fake_ip("axi_stream", root)
    tools = host_tools(ip, root / "build-axi_stream", csim=lib)
    x = np.random.default_rng(6).standard_normal((200, FAKE_IN)).astype(np.float32)
    x.tofile(tmp_path / "x.f32")
    status, res = run_host(tools, "load", ip / "weights.bin", "predict-f32", tmp_path / "x.f32", tmp_path / "y1",
                           "dma-max", 1023, "predict-f32", tmp_path / "x.f32", tmp_path / "y2")
    assert status == 0, [r["line"] for r in res]
    assert res[1]["starts"] == "1" and res[3]["starts"] == "4", "1023-byte transfers: 63 samples of 16 bytes"
    for y in ("y1", "y2"):
        assert np.array_equal(np.fromfile(tmp_path / y, np.float32).reshape(200, -1), fake_expected(x, 0.5))


def test_enable_irq_drops_a_stale_isr_before_enabling(root):
    """A stale ISR.ap_done must be gone before GIE is set: otherwise the line rises at once."""
    ip, lib = fake_ip("axi_master", root)
    tools = host_tools(ip, root / "build-axi_master", csim=lib)
    # the trace shows the order of nna_enable_irq's register accesses
    proc = subprocess.run([str(tools["nna_host"]), str(tools["csim"]), "trace", "on", "irq", "on"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    acc = [ln.split()[1:] for ln in proc.stderr.splitlines() if ln.startswith("[nna-sim]")]
    offsets = [(op, int(addr, 16) - ACCEL_BASE) for op, addr, *_ in acc]
    isr_access = offsets.index(("R", ISR))
    gie_write = offsets.index(("W", GIE))
    assert isr_access < gie_write and offsets.index(("W", IER)) > isr_access, offsets


def test_python_lite_pads_to_whole_registers(root):
    """Input bytes that are not a whole number of registers are padded to 4 bytes, not 64."""
    from nnaccel_driver.core import Accelerator

    ip, _ = fake_ip("axi_lite", root)
    writes = []

    class Regs:
        def read(self, offset):
            return 0

        def write(self, offset, value):
            writes.append((offset, value))

    acc = object.__new__(Accelerator)
    acc.desc, acc.regs, acc.irq = load_description(ip), Regs(), None
    acc._kick = lambda *a: 0.0
    acc._submit(np.arange(6, dtype=np.uint8), 1)
    base = acc.desc.lite_in_offset
    assert writes == [(base, 0x03020100), (base + 4, 0x0504)]


# ---- device-side CRC failure (register map 2, BAD_CRC): fail-closed through both drivers ----

def test_c_driver_device_crc_failure_leaves_no_weights(fake, tmp_path):
    """The image passes the driver's check, then a bit flips in DDR before the core reads it:
    BAD_CRC, no weights on the device, no RUN until a good load."""
    ip, _, tools = fake
    x = np.random.default_rng(6).standard_normal((3, FAKE_IN)).astype(np.float32)
    x.tofile(tmp_path / "x.f32")
    (tmp_path / "a.bin").write_bytes(fake_image(0.5))
    status, res = run_host(tools, "load", tmp_path / "a.bin", "flip-weights", 32 * 8 + 3, "load", tmp_path / "a.bin",
                           "status", "predict-f32", tmp_path / "x.f32", tmp_path / "y",
                           "load", tmp_path / "a.bin", "predict-f32", tmp_path / "x.f32", tmp_path / "y")
    assert status == 1
    bad, st, refused, good, run = res[2:]
    assert bad["starts"] == "1" and "fails its CRC-32" in bad["line"] and "device_error=9 (BAD_CRC)" in bad["line"]
    assert int(st["status"], 0) & 1 == 0 and st["weights_loaded"] == "0" and st["last_error"] == "9"
    assert "no weights loaded" in refused["line"] and refused["starts"] == "0"
    assert good["rc"] == 0 and run["rc"] == 0, run["line"]
    assert np.array_equal(np.fromfile(tmp_path / "y", np.float32).reshape(3, -1), fake_expected(x, 0.5))


def test_python_driver_device_crc_failure_leaves_no_weights(fake):
    from nnaccel_driver import DeviceNoWeightsError, NoWeightsError, WeightsCrcError

    ip, lib, _ = fake
    acc = simulate(ip, csim_library=lib)
    x = np.random.default_rng(7).standard_normal((3, FAKE_IN)).astype(np.float32)
    acc.load_weights(fake_image(0.5))
    acc.sim.flip_weights_on_load(32 * 8 + 45)
    starts = acc.sim.counters()["starts"]
    with pytest.raises(WeightsCrcError, match="BAD_CRC") as e:
        acc.load_weights(fake_image(-1.0))
    assert e.value.code == 9 and acc.sim.counters()["starts"] == starts + 1 and not acc.weights_loaded
    with pytest.raises(NoWeightsError, match="no weights loaded"):
        acc.predict(x)
    assert acc.sim.counters()["starts"] == starts + 1, "refused without starting the core"
    acc.weights_loaded = True  # the device itself refuses too: it kept no weights
    with pytest.raises(DeviceNoWeightsError) as e:
        acc.predict(x)
    assert e.value.code == 5 and not acc.weights_loaded
    acc.load_weights(fake_image(-1.0))
    assert np.array_equal(acc.predict(x), fake_expected(x, -1.0))
