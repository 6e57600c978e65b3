"""HGQ2 models: loaded without the caller importing hgq; with run-time weights, the IP's weight
types come from the quantisers' configured widths, so a second training run's weights load into
the first run's IP, bit-exact with hls4ml's predict() of each model."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, hls_reference, in_ci, make_ip

if importlib.util.find_spec("hgq") is None:
    if in_ci():
        pytest.fail("hgq (the hgq2 package, in the test extra) is not installed, and CI is set: "
                    "`make test` installs it; the HGQ2 tests must run there", pytrace=False)
    pytest.skip("hgq (pip install hgq2, in nnaccel's test extra) is not installed", allow_module_level=True)

from nnaccel.csim import CsimAccelerator  # noqa: E402
from nnaccel.errors import LayoutError, ModelError  # noqa: E402
from nnaccel.weights.for_model import image_for_model  # noqa: E402

HLS = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
# The quantiser configuration both training runs share. The kernels' widths are trained, bounded
# by MinMax: at most i=1 integer and f=6 fractional bits plus sign -> ap_fixed<8,2>.
KERNEL = dict(q_type="kif", place="weight", i0=1, f0=4, overflow_mode="SAT_SYM", trainable=True)
KERNEL_I, KERNEL_F = (-4, 1), (0, 6)
BIAS = dict(q_type="kif", place="bias", i0=1, f0=5, overflow_mode="WRAP", trainable=False)  # ap_fixed<7,2>
DATA = dict(q_type="kif", place="datalane", i0=3, f0=4, overflow_mode="WRAP", trainable=False)


def _model(seed: int, epochs: int, data_trainable: bool = False, data_f0: int = DATA["f0"]):
    import keras
    from hgq.config import QuantizerConfig
    from hgq.constraints import MinMax
    from hgq.layers import QConv1D, QDense

    keras.utils.set_random_seed(seed)

    def confs():
        return dict(kq_conf=QuantizerConfig(**KERNEL, ic=MinMax(*KERNEL_I), fc=MinMax(*KERNEL_F)),
                    bq_conf=QuantizerConfig(**BIAS),
                    iq_conf=QuantizerConfig(**{**DATA, "trainable": data_trainable, "f0": data_f0}))

    m = keras.Sequential([keras.Input((8, 1), name="x"), QConv1D(2, 3, activation="relu", name="c1", **confs()),
                          keras.layers.Flatten(name="flat"), QDense(3, name="d2", **confs())])
    x = np.random.default_rng(seed).standard_normal((256, 8, 1)).astype(np.float32)
    if not epochs:
        return m
    m.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=False)
    m.fit(x, np.tanh(x[:, :3, 0] - x[:, 3:6, 0]), epochs=epochs, batch_size=32, verbose=0)
    return m


@pytest.fixture(scope="module")
def hgq_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hgq2")
    paths = []
    for seed, epochs, name in ((1, 2, "hgq_a.keras"), (2, 6, "hgq_b.keras")):
        p = root / name
        _model(seed, epochs).save(p)
        paths.append(p)
    return tuple(paths)


def _plain_weight_types(model_path, out):
    """What hls4ml's own bit-exact flow makes of the trained values."""
    import hls4ml
    import keras

    hm = hls4ml.converters.convert_from_keras_model(keras.models.load_model(model_path, compile=False),
                                                     hls_config=HLS, backend="Vitis", io_type="io_parallel",
                                                     output_dir=str(out))
    return [v.type.precision.definition_cpp() for v in hm.get_weight_variables()]


def test_retrained_weights_load_into_first_ip_bit_exact(hgq_models, tmp_path, ref_root):
    a, b = hgq_models
    # the problem being solved: from the values, hls4ml sizes the two runs' weights differently
    assert _plain_weight_types(a, tmp_path / "pa") != _plain_weight_types(b, tmp_path / "pb")
    make_ip(a, tmp_path / "ip", hls=HLS, io_type="io_parallel", interface="axi_master")
    layout = json.loads((tmp_path / "ip" / "weights_layout.json").read_text())
    # kernels: sign + KERNEL_I max + KERNEL_F max bits; biases: sign + i0 + f0 (not trainable)
    assert [v["hls_type"] for v in layout["variables"]] == ["ap_fixed<8,2>", "ap_fixed<7,2>"] * 2
    x = np.random.default_rng(7).uniform(-6, 6, (64, 8, 1)).astype(np.float32)
    ref_a = hls_reference(a, HLS, "io_parallel", x, ref_root)
    ref_b = hls_reference(b, HLS, "io_parallel", x, ref_root)
    assert not np.array_equal(ref_a, ref_b)
    img_b, _ = image_for_model(tmp_path / "ip", b)
    acc = CsimAccelerator(tmp_path / "ip")
    for img, ref in (((tmp_path / "ip" / "weights.bin").read_bytes(), ref_a), (img_b, ref_b)):
        acc.load_weights(img)
        assert np.array_equal(acc.predict(x), ref)
    # same weight quantisers, other activation quantisers: the weights would fit, the arithmetic would not
    other = tmp_path / "other_data.keras"
    _model(4, 0, data_f0=DATA["f0"] + 1).save(other)
    with pytest.raises(LayoutError, match=r"does not compute like this IP: layer \w+: \w+ is ap_fixed<9,4,AP_RND"):
        image_for_model(tmp_path / "ip", other)


@pytest.mark.parametrize("kernel,expected", [
    (dict(q_type="kif", i0=1, f0=5, trainable=False), (1, 1, 5)),
    (dict(q_type="kif", k0=False, i0=2, f0=3, trainable=False), (0, 2, 3)),
    (dict(q_type="kif", i0=0, f0=2, trainable=True, ic=("MinMax", -4, 1), fc=("MinMax", 0, 6)), (1, 1, 6)),
    # kbi: f = b - i, widest when b is at its maximum and i at its minimum
    (dict(q_type="kbi", b0=4, i0=1, trainable=True, bc=("MinMax", 0, 7), ic=("MinMax", -2, 3)), (1, 3, 9)),
])
def test_kernel_widths_from_the_quantiser_configuration(kernel, expected):
    import keras
    from hgq.config import QuantizerConfig
    from hgq.constraints import MinMax
    from hgq.layers import QDense

    from nnaccel.hgq2 import weight_bounds

    kw = {k: MinMax(*v[1:]) if isinstance(v, tuple) else v for k, v in kernel.items()}
    q = QDense(2, name="q", kq_conf=QuantizerConfig(place="weight", **kw), bq_conf=QuantizerConfig(**BIAS),
               iq_conf=QuantizerConfig(**DATA))
    m = keras.Sequential([keras.Input((4,), name="x"), q])
    k = weight_bounds(m)["q"]["weight"]
    assert (k.k, k.i, k.f) == expected


def test_unbounded_trainable_kernel_refused():
    import keras
    from hgq.config import QuantizerConfig
    from hgq.layers import QDense

    from nnaccel.hgq2 import weight_bounds

    # the default kernel quantiser: kbi with ic=None
    q = QDense(2, name="q", bq_conf=QuantizerConfig(**BIAS), iq_conf=QuantizerConfig(**DATA))
    m = keras.Sequential([keras.Input((4,), name="x"), q])
    with pytest.raises(ModelError, match=r"q's kernel quantiser has trainable bit widths with no upper bound on i; .*"
                                         r"MinMax constraint .*weights: embedded"):
        weight_bounds(m)


def test_trainable_activation_quantiser_refused(tmp_path):
    p = tmp_path / "m.keras"
    _model(3, 0, data_trainable=True).save(p)
    with pytest.raises(ModelError, match=r"quantiser c1_iq .*trainable=False.*weights: embedded"):
        make_ip(p, tmp_path / "ip", hls=HLS, io_type="io_parallel")
    assert not (tmp_path / "ip").exists()


def test_plain_keras_layer_with_weights_refused(tmp_path):
    import keras
    from hgq.config import QuantizerConfig
    from hgq.layers import QDense

    q = QDense(2, name="q", kq_conf=QuantizerConfig(**{**BIAS, "place": "weight"}), bq_conf=QuantizerConfig(**BIAS),
               iq_conf=QuantizerConfig(**DATA))
    m = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(3, name="plain"), q])
    p = tmp_path / "m.keras"
    m.save(p)
    with pytest.raises(ModelError,
                       match=r"layer plain \(Dense\) has trained weights.*QDense, QConv1D and QConv2D layers only"):
        make_ip(p, tmp_path / "ip", hls=HLS, io_type="io_parallel")


def test_nnaccel_loads_hgq2_model_without_importing_hgq(hgq_models):
    """`nnaccel` itself imports hgq: a fresh interpreter that never imported it loads the file."""
    code = ("import sys; from pathlib import Path; assert 'hgq' not in sys.modules\n"
            "from nnaccel.hls import load_keras\n"
            f"m = load_keras(Path({str(hgq_models[0])!r})); print(type(m.layers[0]).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("hgq.layers")


def test_qconv2d_accumulator_sized_for_any_weight_set(tmp_path):
    """Conversion only (no C++): kernel and bias types are the configured widths, and the
    accumulator holds the worst case of any weight set, worked out by hand: 2x2 taps of
    input ap_fixed<8,4> (|x| <= 8) times kernels |w| <= 2 sum to 64, plus a bias below 2:
    8 integer bits with sign; 4 + 6 fractional bits -> ap_fixed<18,8>."""
    import keras
    from hgq.config import QuantizerConfig
    from hgq.layers import QConv2D

    from nnaccel import hls
    from nnaccel.config import build_config

    kernel = QuantizerConfig("kif", "weight", i0=1, f0=6, overflow_mode="SAT_SYM", trainable=False)
    m = keras.Sequential([keras.Input((3, 3, 1), name="x"),
                          QConv2D(1, (2, 2), name="c", kq_conf=kernel, bq_conf=QuantizerConfig(**BIAS),
                                  iq_conf=QuantizerConfig(**DATA))])
    m.save(tmp_path / "m.keras")
    cfg = build_config({"model": str(tmp_path / "m.keras"), "hls": HLS, "io_type": "io_parallel", "tb_samples": 0,
                        "weights": "external"})
    hm = hls.convert(cfg, tmp_path / "prj")
    assert [v.type.precision.definition_cpp() for v in hm.get_weight_variables()] == ["ap_fixed<8,2>", "ap_fixed<7,2>"]
    assert hm.graph["c"].get_attr("accum_t").precision.definition_cpp() == "ap_fixed<18,8>"
