"""The spine's contract: for the same hls4ml config, the C-simulated accelerator is
bit-identical to hls4ml's own predict() for every io_type x interface x weights
combination, and after loading another model's image it is bit-identical to that model."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from conftest import hls_reference, make_ip
from nnaccel.csim import CsimAccelerator, run_csim
from nnaccel.weights.for_model import image_for_model

HLS = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
MATRIX = list(itertools.product(("io_parallel", "io_stream"), ("axi_stream", "axi_lite", "axi_master"),
                                ("external", "embedded")))


def samples(n, shape, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


@pytest.mark.parametrize("io_type,interface,weights", MATRIX)
def test_matrix_bit_exact_with_hls4ml(mlp_models, tmp_path, ref_root, io_type, interface, weights):
    model, _ = mlp_models
    x = samples(20, (16,))
    make_ip(model, tmp_path / "ip", hls=HLS, io_type=io_type, interface=interface, weights=weights,
            lite_max_batch=8)
    y = run_csim(tmp_path / "ip", x)
    assert np.array_equal(y, hls_reference(model, HLS, io_type, x, ref_root))


@pytest.fixture(scope="module")
def mlp_ip(mlp_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp") / "ip"
    make_ip(mlp_models[0], out, hls=HLS, io_type="io_stream", interface="axi_master", bus_width=64)
    return out


def test_reprogram_a_b_a(mlp_models, mlp_ip, tmp_path, ref_root):
    a, b = mlp_models
    x = samples(24, (16,), seed=5)
    ref_a = hls_reference(a, HLS, "io_stream", x, ref_root)
    ref_b = hls_reference(b, HLS, "io_stream", x, ref_root)
    assert not np.array_equal(ref_a, ref_b)
    img_a = (mlp_ip / "weights.bin").read_bytes()
    img_b, _ = image_for_model(mlp_ip, b)
    acc = CsimAccelerator(mlp_ip)
    for img, ref in ((img_a, ref_a), (img_b, ref_b), (img_a, ref_a)):
        acc.load_weights(img)
        assert np.array_equal(acc.predict(x), ref)


def test_native_and_float32_images_agree(mlp_models, mlp_ip, ref_root):
    b = mlp_models[1]
    x = samples(16, (16,), seed=9)
    native, rep_n = image_for_model(mlp_ip, b, encoding="native")
    f32, rep_f = image_for_model(mlp_ip, b, encoding="float32")
    assert len(f32) > len(native)  # 16-bit values packed densely vs 32-bit floats
    y_n = run_csim(mlp_ip, x, native)
    y_f = run_csim(mlp_ip, x, f32)
    assert np.array_equal(y_n, y_f)
    assert np.array_equal(y_n, hls_reference(b, HLS, "io_stream", x, ref_root))


def test_native_image_is_dense(mlp_ip):
    layout = json.loads((mlp_ip / "weights_layout.json").read_text())
    bits = sum(v["count"] * v["width"] for v in layout["variables"])
    assert bits == 16 * (16 * 12 + 12 + 12 * 5 + 5)
    payload = len((mlp_ip / "weights.bin").read_bytes()) - 32
    assert payload == -(-bits // 64) * 8  # whole 64-bit bus words, no per-value padding


def test_run_before_load_reports_no_weights(mlp_ip):
    acc = CsimAccelerator(mlp_ip)
    regs, _ = acc.start(2, 1, bytes(16 * 4), 5 * 4)
    assert regs["LAST_ERROR"] == 5 and regs["STATUS"] & 1 == 0 and regs["SAMPLES_DONE"] == 0


def test_hardware_refuses_foreign_header_and_keeps_weights(mlp_models, mlp_ip):
    """The IP checks the header it reads; a refused load leaves the old weights valid."""
    acc = CsimAccelerator(mlp_ip)
    good = (mlp_ip / "weights.bin").read_bytes()
    acc.load_weights(good)
    x = samples(4, (16,))
    before = acc.predict(x)
    bad = bytearray(good)
    bad[8] ^= 0xFF  # fingerprint
    regs, _ = acc.start(1, weights=bytes(bad))
    assert regs["LAST_ERROR"] == 3 and regs["STATUS"] & 1
    assert np.array_equal(acc.predict(x), before)


def test_cnn_bit_exact(cnn_models, tmp_path, ref_root):
    a, b = cnn_models
    x = samples(12, (6, 6, 1), seed=3)
    make_ip(a, tmp_path / "ip", hls=HLS, io_type="io_stream", interface="axi_stream")
    assert np.array_equal(run_csim(tmp_path / "ip", x), hls_reference(a, HLS, "io_stream", x, ref_root))
    img_b, _ = image_for_model(tmp_path / "ip", b)
    assert np.array_equal(run_csim(tmp_path / "ip", x, img_b), hls_reference(b, HLS, "io_stream", x, ref_root))


@pytest.mark.parametrize("interface,out_type", [("axi_master", "ap_fixed<32,16>"), ("axi_lite", "ap_fixed<16,6>")])
def test_fixed_point_data_words(mlp_models, tmp_path, ref_root, interface, out_type):
    """ap_fixed data words: the host encodes with the quantiser, the IP casts like hls4ml's input type.
    On axi_lite, 16-bit words pack two to a register, and a sample's 5 outputs straddle registers."""
    model = mlp_models[0]
    x = samples(10, (16,), seed=4)
    make_ip(model, tmp_path / "ip", hls=HLS, interface=interface, input_type="ap_fixed<16,6>",
            output_type=out_type, lite_max_batch=3)
    assert np.array_equal(run_csim(tmp_path / "ip", x), hls_reference(model, HLS, "io_parallel", x, ref_root))


def test_external_weights_ignore_this_sets_zero_counts(tmp_path):
    """The IP must fit any weight set: no multiplier limits from this set's zeros."""
    import keras

    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="fc1")])
    w, bias = m.get_weights()
    w[:, :2] = 0
    m.set_weights([w, bias])
    m.save(tmp_path / "sparse.keras")
    make_ip(tmp_path / "sparse.keras", tmp_path / "ext", hls=HLS, weights="external")
    make_ip(tmp_path / "sparse.keras", tmp_path / "emb", hls=HLS, weights="embedded")
    assert "n_zeros = 0;" in (tmp_path / "ext/hls/firmware/parameters.h").read_text()
    assert "n_zeros = 16;" in (tmp_path / "emb/hls/firmware/parameters.h").read_text()


def test_ip_core_lists_every_file(mlp_ip):
    import yaml

    core = yaml.safe_load((mlp_ip / "nn_accel.core").read_text().replace("CAPI=2:", ""))
    listed = {next(iter(f)) if isinstance(f, dict) else f
              for fs in core["filesets"].values() for f in fs["files"]}
    on_disk = {p.relative_to(mlp_ip).as_posix() for p in mlp_ip.rglob("*") if p.is_file()} - {"nn_accel.core"}
    assert listed == on_disk


def test_stream_refused_run_drains_its_input(mlp_models, tmp_path, ref_root):
    """On axi_stream a refused RUN still consumes its input words (the bridge fails if a start
    leaves words in the FIFO), so the next start reads its own data; RUN of 0 samples is refused."""
    from nnaccel.csim import encode_words

    model = mlp_models[0]
    make_ip(model, tmp_path / "ip", hls=HLS, interface="axi_stream")
    acc = CsimAccelerator(tmp_path / "ip")
    x = samples(3, (16,), seed=11)
    words = encode_words(x, acc.desc["input_word"])
    regs, _ = acc.start(2, 3, words, 3 * 5 * 4)  # RUN before any LOAD
    assert regs["LAST_ERROR"] == 5 and regs["SAMPLES_DONE"] == 0
    regs, _ = acc.start(2, 0)
    assert regs["LAST_ERROR"] == 6
    acc.load_weights((tmp_path / "ip" / "weights.bin").read_bytes())
    assert np.array_equal(acc.predict(x), hls_reference(model, HLS, "io_parallel", x, ref_root))
