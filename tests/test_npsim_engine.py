"""The numpy engine (nnaccel.npsim) against the C-simulation (g++ with ap_types) of the same IP:
random weight images (every bit pattern of each weight type, so weights and sums reach the
saturating and wrapping ranges) and random inputs (N(0, s) and extremes), bit-exact
(np.array_equal), for every covered layer type and every rounding and saturation mode in the
accumulator, result and activation types; and `nnaccel csim --engine c|numpy|auto`."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import EXAMPLES, make_ip
from nnaccel.cli import main
from nnaccel.csim import run_csim
from nnaccel.errors import NnaccelError
from nnaccel.npsim import model as npsim
from nnaccel.weights import image as wimage
from nnaccel.weights.layout import read_layout
from nnaccel.weights.quantise import ROUNDING_MODES, SATURATION_MODES, parse_hls_type, to_real


def random_image(ip_dir, rng) -> bytes:
    """A native image of uniformly random bit patterns: every value a weight type can hold
    (their real values are exact in float64, so build_image quantises them back to the same bits)."""
    layout = read_layout(ip_dir)
    values = [to_real(rng.integers(0, 1 << v["width"], size=v["count"], dtype=np.uint64), v["hls_type"])
              for v in layout["variables"]]
    image, report = wimage.build_image(layout, values, "native")
    assert report["n_saturated"] == report["n_wrapped"] == 0
    return image


def inputs(rng, n, shape, scale=2.0) -> np.ndarray:
    x = (rng.standard_normal((n, *shape)) * scale).astype(np.float32)
    flat = x.reshape(n, -1)
    # wrapping, tiny and signed-zero inputs, and those the header's double constructor treats specially
    flat[:8] = [[1e9], [-1e9], [np.float32(2.0 ** -30)], [-0.0], [np.inf], [-np.inf], [np.nan], [3e38]]
    return x


def assert_engines_agree(ip, x, image=None):
    yc = run_csim(ip, x, image, engine="c")
    yn = run_csim(ip, x, image, engine="numpy")
    assert yn.shape == yc.shape and yn.dtype == yc.dtype
    bad = np.argwhere(yn != yc)
    if bad.size:
        i = tuple(bad[0])
        pytest.fail(f"{len(bad)} outputs differ, first at {i}: numpy {yn[i]}, c {yc[i]}")
    return yc


def dense_paths(ip) -> dict:
    """Which of the Dense layer's three arithmetic paths each layer takes (so the tests can show
    that every path is compared with C)."""
    from nnaccel.npsim.layers import Conv, Dense

    out = {}
    for step in npsim.load(ip).steps:
        d = step.dense if isinstance(step, Conv) else step
        if isinstance(d, Dense):
            out[d.name] = "exact_matmul" if d.exact_matmul else "floor_matmul" if d.floor_matmul else "per_term"
    return out


# -- the target: the jet MLP example (Resource RF 64, 6-bit weights, 6-bit RND_CONV/SAT ReLUs, softmax) --

@pytest.fixture(scope="module")
def jet_ip(tmp_path_factory):
    import yaml

    cfg = yaml.safe_load((EXAMPLES / "jet_mlp" / "config.yml").read_text())
    cfg.pop("model")
    out = tmp_path_factory.mktemp("jet") / "ip"
    make_ip(EXAMPLES / "jet_mlp" / "jet_mlp.keras", out, **cfg)
    return out


def test_jet_mlp_is_covered_and_bit_exact(jet_ip):
    assert npsim.coverage(jet_ip) is None
    kinds = [layer["kind"] for layer in json.loads((jet_ip / "layers.json").read_text())["layers"]]
    assert kinds == ["input"] + ["dense", "relu"] * 3 + ["dense", "softmax"]
    assert dense_paths(jet_ip) == {"fc1": "per_term", "fc2": "floor_matmul", "fc3": "floor_matmul",
                                   "output": "floor_matmul"}
    rng = np.random.default_rng(1)
    x = inputs(rng, 3000, (16,))
    y = assert_engines_agree(jet_ip, x)
    assert len(np.unique(y.argmax(axis=1))) > 1  # the outputs are not degenerate
    assert_engines_agree(jet_ip, np.load(EXAMPLES / "jet_mlp" / "x_test.npy"))  # the example's test set


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([0.5, 2.0, 16.0]))
def test_jet_mlp_random_weight_images(jet_ip, seed, scale):
    """Weight images are data: any image of the layout, the same outputs from both engines."""
    rng = np.random.default_rng(seed)
    assert_engines_agree(jet_ip, inputs(rng, 300, (16,), scale), random_image(jet_ip, rng))


# -- every rounding and saturation mode, through the types hls4ml lets a configuration choose --

def _mlp(tmp_path, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    m = keras.Sequential([
        keras.Input((10,), name="x"),
        keras.layers.Dense(12, name="fc1"), keras.layers.Activation("relu", name="relu1"),
        keras.layers.Dense(9, name="fc2"), keras.layers.Activation("relu", name="relu2"),
        keras.layers.Dense(7, name="fc3"), keras.layers.Activation("relu", name="relu3"),
        keras.layers.Dense(4, name="fc4"), keras.layers.Activation("softmax", name="sm"),
    ])
    p = tmp_path / "modes.keras"
    m.save(p)
    return p


def _modes_config(k: int) -> dict:
    """Config k of three: between them every rounding mode in an accumulator and in a result type,
    every saturation mode in a result type, signed and unsigned ReLU outputs."""
    q, o = ROUNDING_MODES, SATURATION_MODES
    layers = {}
    for i in range(1, 5):
        r1 = q[(3 * k + i) % len(q)]
        r2 = q[(3 * k + i + 3) % len(q)]
        sat = o[(k + i) % len(o)]
        layers[f"fc{i}"] = {"Precision": {"weight": "ap_fixed<8,2>", "bias": "ap_fixed<8,3>",
                                          "accum": f"ap_fixed<18,7,{r1},AP_WRAP>",
                                          "result": f"ap_fixed<12,4,{r2},{sat}>"}}
    for i in range(1, 4):
        relu = q[(k + 2 * i) % len(q)]
        sat = o[(k + i + 2) % len(o)]
        sign = "u" if (k + i) % 2 else ""
        layers[f"relu{i}"] = {"Precision": {"result": f"ap_{sign}fixed<7,2,{relu},{sat}>"}}
    layers["sm"] = {"Implementation": "latency" if k == 1 else "stable",
                    "Precision": {"result": f"ap_fixed<16,2,{q[k]},AP_SAT>"}}
    if k == 2:
        layers["sm"]["TableSize"] = 256
    return {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency" if k == 1 else "Resource"},
            "LayerName": layers}


def test_mode_configs_cover_every_mode():
    accum, result = set(), set()
    for k in range(3):
        for name, layer in _modes_config(k)["LayerName"].items():
            prec = layer["Precision"]
            for key, t in prec.items():
                parts = t[t.index("<") + 1:-1].split(",")
                if len(parts) >= 4:
                    (accum if key == "accum" else result).update(parts[2:4])
    assert set(ROUNDING_MODES) <= accum and set(ROUNDING_MODES) <= result
    assert set(SATURATION_MODES) <= result


WORDS = {0: {}, 1: {"input_type": "ap_int<8>"},
         2: {"input_type": "ap_fixed<16,5,AP_RND_CONV,AP_SAT>", "output_type": "ap_fixed<32,12,AP_RND,AP_SAT>"}}


@pytest.mark.parametrize("k,io_type", [(0, "io_stream"), (1, "io_parallel"), (2, "io_stream")])
def test_every_mode_bit_exact(tmp_path, k, io_type):
    """(Also: integer and fixed-point data words instead of float.)"""
    ip = tmp_path / "ip"
    cfg = _modes_config(k)
    make_ip(_mlp(tmp_path, k), ip, hls=cfg, io_type=io_type, interface="axi_master", **WORDS[k])
    assert npsim.coverage(ip) is None
    # the configured types reached the IP (else this test would prove less than it says)
    layers = {layer["name"]: layer for layer in json.loads((ip / "layers.json").read_text())["layers"]}
    for name, conf in cfg["LayerName"].items():
        for key, t in conf["Precision"].items():
            if key in ("accum", "result"):
                assert parse_hls_type(layers[name][key]) == parse_hls_type(t), (name, key)
    assert layers["sm"]["implementation"] == cfg["LayerName"]["sm"]["Implementation"]
    if k == 2:
        assert layers["sm"]["exp_table_size"] == layers["sm"]["inv_table_size"] == 256
    assert {"per_term", "exact_matmul"} <= set(dense_paths(ip).values())
    rng = np.random.default_rng(100 + k)
    assert_engines_agree(ip, inputs(rng, 2000, (10,)))
    for scale in (0.25, 8.0):
        assert_engines_agree(ip, inputs(rng, 500, (10,), scale), random_image(ip, rng))


# -- coverage and the command line --

@pytest.fixture(scope="module")
def saturating_ip(tmp_path_factory):
    """An accumulator that saturates: the order of additions matters, so numpy does not cover it."""
    tmp = tmp_path_factory.mktemp("sat")
    hls = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
           "LayerName": {"fc2": {"Precision": {"accum": "ap_fixed<16,6,AP_TRN,AP_SAT>"}}}}
    make_ip(_mlp(tmp, 5), tmp / "ip", hls=hls, io_type="io_parallel")
    return tmp / "ip"


def test_uncovered_layer_numpy_is_one_line_error(saturating_ip, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 10), np.float32))
    rc = main(["csim", str(saturating_ip), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
               "--engine", "numpy", "-q"])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert "layer fc2" in err and "saturates" in err and "--engine c" in err and "Traceback" not in err
    assert not (tmp_path / "y.npy").exists()


def test_auto_falls_back_to_c_when_not_covered(saturating_ip, tmp_path, capsys):
    x = np.random.default_rng(3).standard_normal((40, 10)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert npsim.choose(saturating_ip, "auto") == "c"
    assert main(["csim", str(saturating_ip), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                 "-q"]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), run_csim(saturating_ip, x, engine="c"))


def test_cli_engines_write_identical_outputs(jet_ip, tmp_path):
    x = np.random.default_rng(4).standard_normal((257, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for engine in ("c", "numpy", "auto"):
        out = tmp_path / f"y_{engine}.npy"
        assert main(["csim", str(jet_ip), "--input", str(tmp_path / "x.npy"), "--output", str(out),
                     "--engine", engine, "-q"]) == 0
        outs[engine] = np.load(out)
    assert np.array_equal(outs["c"], outs["numpy"]) and np.array_equal(outs["c"], outs["auto"])
    assert npsim.choose(jet_ip, "auto") == "numpy"


def test_bad_engine_is_a_usage_error(jet_ip, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["csim", str(jet_ip), "--input", "x.npy", "--output", "y.npy", "--engine", "fast"])
    assert e.value.code == 2 and "--engine" in capsys.readouterr().err
    with pytest.raises(NnaccelError, match="--engine: 'fast' is not an engine; choose from c, numpy, auto"):
        run_csim(jet_ip, np.zeros((1, 16), np.float32), engine="fast")  # the Python API names it too


def test_ip_without_layers_json(jet_ip, tmp_path):
    """An IP written before layers.json existed: auto takes the C path, numpy says why not."""
    old = tmp_path / "old"
    shutil.copytree(jet_ip, old)
    (old / "layers.json").unlink()
    assert npsim.choose(old, "auto") == "c"
    with pytest.raises(Exception, match="layers.json"):
        run_csim(old, np.zeros((1, 16), np.float32), engine="numpy")


# -- convolutions (im2col over hls4ml's dense kernel), max pooling, flatten --

@pytest.fixture(scope="module")
def digits_ip(tmp_path_factory):
    import yaml

    cfg = yaml.safe_load((EXAMPLES / "digits" / "config.yml").read_text())
    cfg.pop("model")
    out = tmp_path_factory.mktemp("digits") / "ip"
    make_ip(EXAMPLES / "digits" / "digits.keras", out, **cfg)
    return out


def test_digits_cnn_bit_exact(digits_ip):
    kinds = [layer["kind"] for layer in json.loads((digits_ip / "layers.json").read_text())["layers"]]
    assert kinds == ["input", "conv", "relu", "maxpool", "reshape", "dense", "softmax"]
    assert npsim.coverage(digits_ip) is None
    rng = np.random.default_rng(7)
    x = np.concatenate([np.load(EXAMPLES / "digits" / "x_test.npy").astype(np.float32),
                        inputs(rng, 400, (8, 8, 1))])
    assert_engines_agree(digits_ip, x)
    for scale in (1.0, 8.0):
        assert_engines_agree(digits_ip, inputs(rng, 200, (8, 8, 1), scale), random_image(digits_ip, rng))


def _conv_model(tmp_path, kind):
    import keras

    keras.utils.set_random_seed(11)
    if kind == "2d":
        layers = [keras.Input((7, 6, 2), name="img"),
                  keras.layers.Conv2D(3, (3, 2), strides=(2, 1), padding="same", name="conv1"),
                  keras.layers.Activation("relu", name="relu1"),
                  keras.layers.MaxPooling2D((2, 2), name="pool1"), keras.layers.Flatten(name="flat"),
                  keras.layers.Dense(4, name="fc1")]
    else:
        layers = [keras.Input((12, 3), name="seq"),
                  keras.layers.Conv1D(4, 3, strides=1, padding="same", name="conv1"),  # + ZeroPadding1D in io_stream
                  keras.layers.BatchNormalization(name="bn1"), keras.layers.Activation("relu", name="relu1"),
                  keras.layers.MaxPooling1D(2, name="pool1"), keras.layers.Flatten(name="flat"),
                  keras.layers.Dense(5, name="fc1"), keras.layers.Activation("softmax", name="sm")]
    p = tmp_path / f"conv{kind}.keras"
    keras.Sequential(layers).save(p)
    return p


@pytest.mark.parametrize("kind,io_type,strategy", [("2d", "io_parallel", "Latency"), ("1d", "io_stream", "Resource")])
def test_conv_variants_bit_exact(tmp_path, kind, io_type, strategy):
    """Strides, 'same' padding (inside the layer in io_parallel, a ZeroPadding layer in io_stream), Conv1D,
    BatchNormalization, MaxPooling1D, both weight orders."""
    hls = {"Model": {"Precision": "ap_fixed<14,5>", "ReuseFactor": 1, "Strategy": strategy},
           "LayerName": {"conv1": {"Precision": {"accum": "ap_fixed<20,8,AP_RND_CONV>",
                                                 "result": "ap_fixed<12,4,AP_RND,AP_SAT>"}},
                         "relu1": {"Precision": {"result": "ap_ufixed<8,3,AP_RND_ZERO,AP_SAT>"}},
                         "bn1": {"Precision": {"scale": "ap_fixed<10,3>", "bias": "ap_fixed<9,4>",
                                               "result": "ap_fixed<13,5,AP_RND_INF,AP_SAT>"}}}}
    ip = tmp_path / "ip"
    make_ip(_conv_model(tmp_path, kind), ip, hls=hls, io_type=io_type, interface="axi_master")
    why = npsim.coverage(ip)
    assert why is None, why
    kinds = {layer["kind"] for layer in json.loads((ip / "layers.json").read_text())["layers"]}
    assert kinds >= ({"conv", "maxpool", "reshape"} | ({"zeropad", "batchnorm"} if kind == "1d" else set()))
    shape = json.loads((ip / "nnaccel.json").read_text())["input_shape"]
    rng = np.random.default_rng(21)
    assert_engines_agree(ip, inputs(rng, 600, shape))
    assert_engines_agree(ip, inputs(rng, 300, shape, 6.0), random_image(ip, rng))


def test_integer_output_words_are_not_covered(tmp_path):
    """ap_int output words (an assignment the engine does not reproduce): auto takes C, numpy says why."""
    ip = tmp_path / "ip"
    make_ip(_mlp(tmp_path, 3), ip, hls=_modes_config(0), io_type="io_stream", output_type="ap_int<16>")
    assert "output word ap_int<16>" in npsim.coverage(ip)
    assert npsim.choose(ip, "auto") == "c"
    with pytest.raises(Exception, match="not covered: output word"):
        npsim.load(ip)
