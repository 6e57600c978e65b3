"""The C driver and the Python driver on the simulated device running the real IP's
C-simulation, for all three data interfaces: bit-identical to `nnaccel csim` and to hls4ml's
own predict(), reprogramming A -> B -> A, the self-test app (PASS, and FAIL on a corrupted
expected output), a foreign image refused before any device write."""
from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

from conftest import hls_reference
from swtest import HLS, IP_SETTINGS, host_tools, make, real_ip, run_host, samples, with_fingerprint
from nnaccel.csim import run_csim
from nnaccel.weights.for_model import image_for_model
from nnaccel_driver import ImageError
from nnaccel_driver.sim import simulate


@pytest.fixture(scope="session", params=list(IP_SETTINGS))
def ip(request, mlp_models, tmp_path_factory):
    """(kind, IP dir, image of model B, host tools) per data interface, built once."""
    root = tmp_path_factory.getbasetemp()
    d = real_ip(request.param, mlp_models[0], root)
    img_b = root / f"sw-{request.param}-b.bin"
    if not img_b.is_file():
        img, _ = image_for_model(d, mlp_models[1])
        img_b.write_bytes(img)
    return request.param, d, img_b, host_tools(d, root / f"sw-build-{request.param}")


def references(ip, mlp_models, ref_root, x):
    kind, d, img_b, _ = ip
    io = IP_SETTINGS[kind]["io_type"]
    ref_a, ref_b = (hls_reference(m, HLS, io, x, ref_root) for m in mlp_models)
    csim_a, csim_b = run_csim(d, x), run_csim(d, x, img_b.read_bytes())
    assert np.array_equal(csim_a, ref_a) and np.array_equal(csim_b, ref_b)
    assert not np.array_equal(ref_a, ref_b)
    return ref_a, ref_b


def test_c_driver_bit_exact_and_reprograms(ip, mlp_models, ref_root, tmp_path):
    kind, d, img_b, tools = ip
    x = samples(9, seed=11)  # 9 samples: more than one axi_lite batch of 4
    ref_a, ref_b = references(ip, mlp_models, ref_root, x)
    x.tofile(tmp_path / "x.f32")
    img_a = d / "weights.bin"
    status, ops = run_host(tools, "load", img_a, "predict-f32", tmp_path / "x.f32", tmp_path / "a1",
                           "load", img_b, "predict-f32", tmp_path / "x.f32", tmp_path / "b",
                           "load", img_a, "irq", "on", "predict-f32", tmp_path / "x.f32", tmp_path / "a2")
    assert status == 0, [o["line"] for o in ops]
    for name, ref in (("a1", ref_a), ("b", ref_b), ("a2", ref_a)):
        y = np.fromfile(tmp_path / name, dtype=np.float32).reshape(ref.shape)
        assert np.array_equal(y, ref), f"{kind}: outputs of {name}"


def test_c_driver_refuses_foreign_layout_before_any_write(ip, tmp_path):
    kind, d, _, tools = ip
    foreign = with_fingerprint((d / "weights.bin").read_bytes(), 0xDEADBEEF)
    (tmp_path / "foreign.bin").write_bytes(foreign)
    status, ops = run_host(tools, "load", tmp_path / "foreign.bin")
    assert status == 1
    assert "another layout" in ops[0]["line"] and ops[0]["writes"] == "0" and ops[0]["starts"] == "0"


def test_python_driver_bit_exact_and_reprograms(ip, mlp_models, ref_root):
    kind, d, img_b, _ = ip
    x = samples(9, seed=12)
    ref_a, ref_b = references(ip, mlp_models, ref_root, x)
    acc = simulate(d)
    for image, ref in ((None, ref_a), (img_b, ref_b), (d / "weights.bin", ref_a)):
        acc.load_weights(image)
        assert np.array_equal(acc.predict(x), ref), kind
    before = acc.sim.counters()
    with pytest.raises(ImageError, match="another layout"):
        acc.load_weights(with_fingerprint((d / "weights.bin").read_bytes(), 0xDEADBEEF))
    assert acc.sim.counters()["reg_writes"] == before["reg_writes"]
    assert np.array_equal(acc.predict(x), ref_a), "the refused image left the weights alone"
    assert acc.sim.counters()["bus_faults"] == 0 and acc.sim.counters()["csim_faults"] == 0


def test_selftest_passes_and_fails_on_corrupted_expected(ip, tmp_path):
    from nnaccel.swgen import selftest_context

    kind, d, _, tools = ip
    proc = subprocess.run([str(tools["selftest"]), str(tools["csim"])], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("PASS"), proc.stdout
    assert "12/12 samples one at a time, 12/12 as one batch" in proc.stdout

    # the same app with one expected output word flipped in its data header must FAIL
    ctx = selftest_context(d, keras=False)
    words = np.array([int(v.rstrip("u,"), 16) for row in ctx["expected"] for v in row.split(", ") if v],
                     dtype=np.uint64)
    words[7] ^= 1
    build = tmp_path / "corrupt"
    from nnaccel.swgen import write_sw_headers

    write_sw_headers(d, build / "include", keras=False, expected_words=words)
    make("selftest", ip=d, build=build)
    bad = subprocess.run([str(build / "selftest"), str(tools["csim"])], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and bad.stdout.strip().endswith("FAIL"), bad.stdout
    assert "mismatch: sample 1 output 2" in bad.stdout


def test_pynq_driver_code_path(ip, mlp_models, ref_root, monkeypatch):
    """NnAccelIP (the pynq.DefaultIP subclass) with a stand-in `pynq` module whose MMIO and
    allocate() reach the simulated device: the board code path, run here."""
    kind, d, _, _ = ip
    x = samples(6, seed=13)
    ref_a, _ = references(ip, mlp_models, ref_root, x)
    sim_acc = simulate(d)  # provides the simulated device and its DDR
    dev = sim_acc.sim
    from nnaccel_driver.sim import ACCEL_BASE, DMA_BASE

    class DefaultIP:
        def __init__(self, description):
            self.description = description
            self._base = description["phys_addr"]

        def read(self, offset=0):
            return dev.read32(self._base + offset)

        def write(self, offset, value):
            dev.write32(self._base + offset, value)

    class PynqBuffer(np.ndarray):
        pass

    def allocate(shape, dtype):
        buf = dev.allocate(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        arr = buf.array.view(PynqBuffer)
        arr.device_address = buf.device_address
        arr.flush = arr.invalidate = arr.freebuffer = lambda: None
        return arr

    fake = types.ModuleType("pynq")
    fake.DefaultIP, fake.allocate, fake.Overlay = DefaultIP, allocate, type("Overlay", (), {})
    monkeypatch.setitem(sys.modules, "pynq", fake)
    monkeypatch.delitem(sys.modules, "nnaccel_driver.pynq_driver", raising=False)
    from nnaccel_driver.pynq_driver import NnAccelIP, driver_for

    assert NnAccelIP.bindto == ["nnaccel:hls:nn_accel:1.0"]
    assert driver_for("nnaccel:hls:other:2.0").bindto == ["nnaccel:hls:other:2.0"]
    cell = NnAccelIP({"phys_addr": ACCEL_BASE, "type": "nnaccel:hls:nn_accel:1.0"})
    dma = DefaultIP({"phys_addr": DMA_BASE, "parameters": {"C_SG_LENGTH_WIDTH": "26"}}) if kind == "axi_stream" else None
    cell.attach(d, dma=dma)
    cell.load_weights()
    assert np.array_equal(cell.predict(x), ref_a)


# ---- fault injection: the image changes in DDR after the driver's check (BAD_CRC) ----

def _payload_bits(d) -> int:
    import struct

    return struct.unpack_from("<I", (d / "weights.bin").read_bytes(), 16)[0] * 8


def test_c_driver_device_crc_failure_then_good_load(ip, mlp_models, ref_root, tmp_path):
    """The C driver checks the image (host CRC-32 fine), the simulated device flips one payload
    bit in DDR as the LOAD starts, and the IP's own CRC-32 check refuses it: BAD_CRC, no valid
    weights left, a RUN refused with NO_WEIGHTS; the next good load is bit-exact with hls4ml."""
    kind, d, img_b, tools = ip
    x = samples(5, seed=21)
    ref_a, ref_b = references(ip, mlp_models, ref_root, x)
    x.tofile(tmp_path / "x.f32")
    status, res = run_host(tools, "load", d / "weights.bin", "flip-weights", 32 * 8 + 5, "load", img_b, "status",
                           "predict-f32", tmp_path / "x.f32", tmp_path / "y", "load", img_b,
                           "predict-f32", tmp_path / "x.f32", tmp_path / "y")
    assert status == 1
    bad, st, refused, good, run = res[2:]
    assert bad["starts"] == "1", "the image passed the driver's own check and reached the device"
    assert "device_error=9 (BAD_CRC)" in bad["line"] and "fails its CRC-32" in bad["line"], bad["line"]
    assert int(st["status"], 0) & 1 == 0 and st["weights_loaded"] == "0", "fail-closed: WEIGHTS_VALID clear"
    assert "no weights loaded" in refused["line"] and refused["starts"] == "0"
    assert good["rc"] == 0 and run["rc"] == 0, run["line"]
    assert np.array_equal(np.fromfile(tmp_path / "y", np.float32).reshape(ref_b.shape), ref_b)


def test_python_driver_device_crc_failure_then_good_load(ip, mlp_models, ref_root):
    from nnaccel_driver import DeviceNoWeightsError, NoWeightsError, WeightsCrcError

    kind, d, img_b, _ = ip
    x = samples(5, seed=22)
    ref_a, ref_b = references(ip, mlp_models, ref_root, x)
    acc = simulate(d)
    acc.load_weights(img_b)
    assert np.array_equal(acc.predict(x), ref_b)
    acc.sim.flip_weights_on_load(32 * 8 + _payload_bits(d) - 1)  # the payload's last bit
    with pytest.raises(WeightsCrcError, match="BAD_CRC") as e:
        acc.load_weights()
    assert e.value.name == "BAD_CRC" and not acc.weights_loaded
    assert acc.sim.counters()["csim_faults"] == 0
    starts = acc.sim.counters()["starts"]
    with pytest.raises(NoWeightsError):
        acc.predict(x)
    assert acc.sim.counters()["starts"] == starts
    acc.weights_loaded = True  # bypass the driver: the IP itself kept no valid weights
    with pytest.raises(DeviceNoWeightsError):
        acc.predict(x)
    assert not acc.status()["STATUS"] & acc.desc.status_bits["WEIGHTS_VALID"]
    acc.load_weights()
    assert np.array_equal(acc.predict(x), ref_a), kind
    assert acc.sim.counters()["bus_faults"] == 0
