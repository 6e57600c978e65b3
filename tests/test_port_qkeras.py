"""nnaccel.port_qkeras on the seed's QKeras jet tagger (read from ../shared, never copied)."""
import json
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from conftest import shared_path
from nnaccel.errors import NnaccelError
from nnaccel.port_qkeras import BitsQuantizer, main, parse_bits, parse_relu, port_qkeras

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seed-example"
SEED_JSON = SEED / "qkeras_3layer.json"
SEED_H5 = SEED / "qkeras_3layer_weights.h5"
DENSE = ["fc1", "fc2", "fc3", "output"]



@pytest.fixture(scope="module")
def seed_files():
    """The seed model from ../shared: skipped where it is absent, a failure under CI=true."""
    return shared_path("seed-example", SEED_JSON.name), shared_path("seed-example", SEED_H5.name)


needs_seed = pytest.mark.usefixtures("seed_files")


@pytest.fixture(scope="module")
def ported(tmp_path_factory, seed_files):
    out = tmp_path_factory.mktemp("port") / "seed.keras"
    rep = port_qkeras(SEED_JSON, SEED_H5, out)
    import keras

    return rep, out, keras.models.load_model(out, compile=False)


def _h5_values(layer):
    with h5py.File(SEED_H5, "r") as f:
        g = f[layer][layer]
        return np.asarray(g["kernel:0"]), np.asarray(g["bias:0"])


def _independent_quantise(values):
    """quantized_bits(6,0) with exact rational arithmetic: Python's round() on a Fraction
    rounds half to even, like tf.round; then saturate to [-32, 31] steps of 2^-5."""
    out, clipped = [], 0
    for v in np.asarray(values, dtype=np.float64).ravel():
        k = round(Fraction(float(v)) * 32)
        clipped += not -32 <= k <= 31
        out.append(min(max(k, -32), 31) / 32)
    return np.array(out).reshape(np.shape(values)), clipped


@needs_seed
def test_ported_values_are_6_bit(ported):
    _, _, model = ported
    for name in DENSE:
        for w in model.get_layer(name).get_weights():
            steps = w.astype(np.float64) * 32
            assert np.array_equal(steps, np.round(steps)), name
            assert steps.min() >= -32 and steps.max() <= 31, name


@needs_seed
def test_rounding_matches_independent_half_to_even(ported):
    rep, _, model = ported
    total_clipped = 0
    for name in DENSE:
        kernel, bias = _h5_values(name)
        k_exp, k_clip = _independent_quantise(kernel)
        b_exp, b_clip = _independent_quantise(bias)
        k_got, b_got = model.get_layer(name).get_weights()
        assert np.array_equal(k_got, k_exp), name
        assert np.array_equal(b_got, b_exp), name
        layer = next(l for l in rep["layers"] if l["name"] == name)
        assert layer["clipped"] == k_clip + b_clip
        assert layer["values"] == kernel.size + bias.size
        total_clipped += k_clip + b_clip
    assert rep["n_values"] == 4389
    assert rep["n_clipped"] == total_clipped


def test_quantiser_ties_round_to_even_and_saturate():
    q = BitsQuantizer(6, 0)
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 31.4, 31.5, 32.0, -32.0, -32.5, 40.0], np.float32) / 32
    got, clipped = q.quantise(x)
    want = np.array([0, 2, 2, 0, -2, -2, 31, 31, 31, -32, -32, 31], np.float32) / 32
    assert np.array_equal(got, want)
    # clipped: 31.5 (a tie, to even: 32), 32 and 40; -32.5 is a tie that rounds to -32, in range
    assert clipped == 3
    assert q.hls_type == "ap_fixed<6,1>"
    assert BitsQuantizer(8, 2).hls_type == "ap_fixed<8,3>"


def test_quantiser_strings_parse_like_dicts():
    assert parse_bits("quantized_bits(6,0,alpha=1)", "fc1", "kernel_quantizer") == BitsQuantizer(6, 0)
    assert parse_bits({"class_name": "quantized_bits", "config": {"bits": 4, "integer": 1}},
                      "fc1", "kernel_quantizer") == BitsQuantizer(4, 1)
    relu = parse_relu("quantized_relu(6, 0)", "relu1")
    assert relu.hls_type == "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>"


@needs_seed
def test_model_structure_and_report(ported):
    rep, _, model = ported
    names = [l.name for l in model.layers[1:]]
    assert names == ["fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "output", "softmax"]
    assert model.input_shape == (None, 16) and model.output_shape == (None, 5)
    assert [model.get_layer(n).get_config()["activation"] for n in ("relu1", "relu2", "relu3", "softmax")] \
        == ["relu", "relu", "relu", "softmax"]
    quant = {l["name"]: l["quantizer"] for l in rep["layers"]}
    assert quant["fc1"] == "kernel quantized_bits(6,0,alpha=1), bias quantized_bits(6,0,alpha=1)"
    assert quant["relu1"] == "quantized_relu(6,0)" and quant["softmax"] is None


@needs_seed
def test_hls_yaml_matches_report(ported):
    rep, out, _ = ported
    on_disk = yaml.safe_load(Path(rep["hls_config"]).read_text())
    assert Path(rep["hls_config"]) == out.with_suffix(".hls.yml")
    assert on_disk == rep["hls"]
    names = on_disk["LayerName"]
    for d in DENSE:
        assert names[d]["Precision"] == {"weight": "ap_fixed<6,1>", "bias": "ap_fixed<6,1>"}
    for r in ("relu1", "relu2", "relu3"):
        assert names[r]["Precision"] == {"result": "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>"}
    assert "softmax" not in names


@needs_seed
def test_hls4ml_sees_6_bit_weights(ported, tmp_path):
    import hls4ml

    rep, _, model = ported
    cfg = yaml.safe_load(Path(rep["hls_config"]).read_text())
    cfg["Model"].update(Strategy="Resource", ReuseFactor=64)  # the seed's settings
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", io_type="io_stream", part="xczu3eg-sbva484-1-e",
        clock_period=5, output_dir=str(tmp_path / "prj"))
    wv = list(hm.get_weight_variables())
    assert len(wv) == 8
    assert sum(v.data_length for v in wv) == 4389
    assert {(v.type.precision.width, v.type.precision.integer, v.type.precision.signed) for v in wv} \
        == {(6, 1, True)}
    relu_types = {l.name: l.get_output_variable().type.precision for l in hm.get_layers()
                  if l.name.startswith("relu")}
    assert len(relu_types) == 3
    for p in relu_types.values():
        assert (p.width, p.integer, p.signed) == (6, 0, False)
        assert str(p) == "ufixed<6,0,RND_CONV,SAT,0>"


def _edited_seed(tmp_path, edit):
    arch = json.loads(SEED_JSON.read_text())
    edit(arch["config"]["layers"])
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(arch))
    return path


def _layer(layers, name):
    return next(l for l in layers if l["config"]["name"] == name)


@needs_seed
@pytest.mark.parametrize("edit, words", [
    (lambda ls: _layer(ls, "relu2").update(class_name="QBatchNormalization"),
     ["relu2", "QBatchNormalization", "supported:"]),
    (lambda ls: _layer(ls, "fc2")["config"]["kernel_quantizer"].update(class_name="quantized_po2"),
     ["fc2", "quantized_po2", "quantized_bits"]),
    (lambda ls: _layer(ls, "fc1")["config"]["bias_quantizer"]["config"].update(alpha="auto_po2"),
     ["fc1", "alpha='auto_po2'", "supported:"]),
    (lambda ls: _layer(ls, "relu3")["config"]["activation"]["config"].update(negative_slope=0.25),
     ["relu3", "negative_slope", "supported:"]),
    (lambda ls: _layer(ls, "softmax")["config"].update(activation="sigmoid"),
     ["softmax", "sigmoid", "supported:"]),
])
def test_unsupported_input_names_layer_and_writes_nothing(tmp_path, capsys, edit, words):
    bad = _edited_seed(tmp_path, edit)
    out = tmp_path / "out" / "m.keras"
    with pytest.raises(NnaccelError) as e:
        port_qkeras(bad, SEED_H5, out)
    for w in words:
        assert w in str(e.value)
    assert "\n" not in str(e.value)
    assert not out.parent.exists() or not any(out.parent.iterdir())
    # the command line says the same in one line, no traceback
    assert main([str(bad), str(SEED_H5), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words[0] in err and "Traceback" not in err


@needs_seed
def test_cli_ports_and_reports(tmp_path, capsys):
    out = tmp_path / "cli.keras"
    assert main([str(SEED_JSON), str(SEED_H5), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and out.with_suffix(".hls.yml").is_file()
    assert "4389 weight values, 11 clipped" in text
    assert "quantized_relu(6,0)" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.hls.yml", "cli.keras"]  # no temporaries


def test_missing_files_and_bad_output_name(tmp_path):
    with pytest.raises(NnaccelError, match="must end in .keras"):
        port_qkeras(tmp_path / "a.json", tmp_path / "a.h5", tmp_path / "out.h5")
    with pytest.raises(NnaccelError, match="cannot read"):
        port_qkeras(tmp_path / "a.json", tmp_path / "a.h5", tmp_path / "out.keras")
