"""The committed example models (cores/examples/*): they load, have the documented
architecture, work on their test sets, and their configurations fit them."""
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
JET = REPO / "cores" / "examples" / "jet_mlp"
DIGITS = REPO / "cores" / "examples" / "digits"

JET_LAYERS = [("fc1", "Dense", 64), ("relu1", "relu", None), ("fc2", "Dense", 32), ("relu2", "relu", None),
              ("fc3", "Dense", 32), ("relu3", "relu", None), ("output", "Dense", 5), ("softmax", "softmax", None)]


def _load(path):
    import keras

    return keras.models.load_model(path, compile=False)


def _describe(model):
    out = []
    for layer in model.layers[1:]:
        cfg = layer.get_config()
        if type(layer).__name__ == "Activation":
            out.append((layer.name, cfg["activation"], None))
        else:
            out.append((layer.name, type(layer).__name__, cfg.get("units") or cfg.get("filters")))
    return out


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))


@pytest.fixture(scope="module")
def jet_models():
    return {name: _load(JET / name) for name in ("jet_mlp.keras", "jet_mlp_b.keras")}


@pytest.fixture(scope="module")
def digits_model():
    return _load(DIGITS / "digits.keras")


def test_jet_architecture(jet_models):
    for name, model in jet_models.items():
        assert model.input_shape == (None, 16), name
        assert _describe(model) == JET_LAYERS, name
        assert model.count_params() == 4389, name


def test_jet_weights_are_6_bit_and_the_two_sets_differ(jet_models):
    # train.py snaps the weights to ap_fixed<6,1> so the IP's 6-bit weights are exactly these
    for name, model in jet_models.items():
        for w in model.get_weights():
            steps = w.astype(np.float64) * 32
            assert np.array_equal(steps, np.round(steps)), name
            assert steps.min() >= -32 and steps.max() <= 31, name
    a, b = (m.get_weights() for m in jet_models.values())
    assert all(x.shape == y.shape for x, y in zip(a, b))
    assert not any(np.array_equal(x, y) for x, y in zip(a, b) if x.ndim == 2)


def test_jet_accuracy(jet_models):
    x, y = np.load(JET / "x_test.npy"), np.load(JET / "y_test.npy")
    assert x.dtype == np.float32 and x.shape == (200, 16)
    assert np.issubdtype(y.dtype, np.integer) and set(np.unique(y)) == set(range(5))
    for name, model in jet_models.items():
        assert _accuracy(model, x, y) > 0.85, name  # chance is 0.2, a linear model gets 0.64


def test_digits_architecture(digits_model):
    assert digits_model.input_shape == (None, 8, 8, 1)
    assert _describe(digits_model) == [("conv1", "Conv2D", 8), ("relu1", "relu", None),
                                       ("pool1", "MaxPooling2D", None), ("flatten", "Flatten", None),
                                       ("output", "Dense", 10), ("softmax", "softmax", None)]
    assert digits_model.get_layer("conv1").get_config()["kernel_size"] == (3, 3)


def test_digits_accuracy(digits_model):
    x, y = np.load(DIGITS / "x_test.npy"), np.load(DIGITS / "y_test.npy")
    assert x.dtype == np.float32 and x.shape == (180, 8, 8, 1)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert set(np.unique(y)) == set(range(10))
    assert _accuracy(digits_model, x, y) > 0.93


@pytest.mark.parametrize("example", [JET, DIGITS], ids=["jet_mlp", "digits"])
def test_config_is_valid_and_names_hls4ml_layers(example):
    import hls4ml
    from nnaccel.config import load_config

    cfg = load_config(example / "config.yml")
    assert cfg.model.is_file()
    assert cfg.weights == "external"
    raw = yaml.safe_load((example / "config.yml").read_text())
    hls_names = hls4ml.utils.config_from_keras_model(_load(cfg.model), granularity="name",
                                                     backend="Vitis")["LayerName"]
    assert set(raw["hls"].get("LayerName", {})) <= set(hls_names)


def test_jet_config_is_the_seed_configuration():
    cfg = yaml.safe_load((JET / "config.yml").read_text())
    assert {k: cfg[k] for k in ("board", "clock_period", "io_type", "interface", "weights")} == \
        {"board": "ultra96v2", "clock_period": 5, "io_type": "io_stream", "interface": "axi_master",
         "weights": "external"}
    assert cfg["hls"]["Model"] == {"Precision": "ap_fixed<16,6>", "ReuseFactor": 64, "Strategy": "Resource"}
    names = cfg["hls"]["LayerName"]
    for d in ("fc1", "fc2", "fc3", "output"):
        assert names[d]["Precision"] == {"weight": "ap_fixed<6,1>", "bias": "ap_fixed<6,1>"}
    for r in ("relu1", "relu2", "relu3"):
        assert names[r]["Precision"] == {"result": "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>"}


@pytest.mark.parametrize("example, model, minimum", [
    (JET, "jet_mlp.keras", 0.85),
    (DIGITS, "digits.keras", 0.95),
], ids=["jet_mlp", "digits"])
def test_hls4ml_accuracy_with_the_example_config(example, model, minimum, tmp_path):
    """hls4ml's C simulation of the configured fixed-point model (one g++ build each, ~6 s)."""
    import hls4ml
    from nnaccel.config import load_config

    cfg = load_config(example / "config.yml")
    keras_model = _load(example / model)
    hm = hls4ml.converters.convert_from_keras_model(
        keras_model, hls_config=yaml.safe_load((example / "config.yml").read_text())["hls"],
        backend="Vitis", io_type=cfg.io_type, part=cfg.part, clock_period=cfg.clock_period,
        output_dir=str(tmp_path / "prj"))
    hm.compile()
    x, y = np.load(example / "x_test.npy"), np.load(example / "y_test.npy")
    hls_acc = float(np.mean(np.argmax(hm.predict(np.ascontiguousarray(x)), axis=1) == y))
    assert hls_acc > minimum
    assert hls_acc >= _accuracy(keras_model, x, y) - 0.02
