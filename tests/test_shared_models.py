"""Models nobody in this project made, read from ../shared (never copied): the seed's QKeras
jet tagger and hls4ml's own example models, through `nnaccel ip` and the C-simulation with
external weights, bit-exact (numpy.array_equal) against hls4ml's own predict() of the same
model with the same hls4ml configuration. The pruned weight sets of KERAS_3layer are loaded
into the IP built for the dense set."""
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import hls_reference, make_ip, shared_path

# Several tests share each IP and each hls4ml reference through module fixtures; the
# Makefile runs `-n 2 --dist loadfile`, so one worker runs this whole file and builds each once.

MODEL_PRECISION = "ap_fixed<16,6>"
SEED_BOARD = "ultra96v2"  # the seed's board: 128-bit HP ports
SEED_BUS = 128
N_SEED = 50
N_SAMPLES = 20

# hls4ml configurations the models were checked with: a mix of strategies and reuse
# factors, all with hls4ml's default model precision. Four of the five are estimated to need
# more DSPs than the ZU3EG has (KERAS_3layer at Latency / RF 1: 4,256), so their IPs are
# generated with allow_over_budget: these tests are about bit-exactness, not fit.
EXAMPLES = {
    "KERAS_3layer": ("io_parallel", {"Precision": MODEL_PRECISION, "ReuseFactor": 1, "Strategy": "Latency"}),
    "KERAS_3layer_batch_norm": ("io_parallel", {"Precision": MODEL_PRECISION, "ReuseFactor": 8, "Strategy": "Resource"}),
    "KERAS_conv1d_small": ("io_stream", {"Precision": MODEL_PRECISION, "ReuseFactor": 1, "Strategy": "Latency"}),
    "KERAS_conv2d_model": ("io_stream", {"Precision": MODEL_PRECISION, "ReuseFactor": 2, "Strategy": "Resource"}),
    # 25x25x1 jet images: g++ builds it in ~7 s here, well inside the budget
    "jetTagger_Conv2D_Small_NoBatchNorm": ("io_stream", {"Precision": MODEL_PRECISION, "ReuseFactor": 1,
                                                         "Strategy": "Latency"}),
}
PRUNED = ("KERAS_3layer_70pruned_retrained_weights.h5", "KERAS_3layer_95pruned_retrained_weights.h5")


def _samples(shape, n, seed):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def _flat(y):
    return np.asarray(y).reshape(len(y), -1)


def _assert_informative(ref):
    """A reference whose rows are all equal would let a constant output pass."""
    assert len(np.unique(ref, axis=0)) > 1, "reference outputs do not depend on the input"


def _example_hls(name):
    io_type, model = EXAMPLES[name]
    return io_type, {"Model": dict(model)}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-models")


# ---------------------------------------------------------------- the seed

@pytest.fixture(scope="module")
def seed(work):
    """The seed's QKeras model ported to Keras 3, and its IP with the seed's configuration."""
    from nnaccel.port_qkeras import port_qkeras

    arch = shared_path("seed-example", "qkeras_3layer.json")
    h5 = shared_path("seed-example", "qkeras_3layer_weights.h5")
    keras_path = work / "seed" / "qkeras_3layer.keras"
    rep = port_qkeras(arch, h5, keras_path)
    hls = json.loads(json.dumps(rep["hls"]))  # the port's LayerName precisions, unchanged
    hls["Model"] = {"Precision": MODEL_PRECISION, "ReuseFactor": 64, "Strategy": "Resource"}
    ip = make_ip(keras_path, work / "seed" / "ip", board=SEED_BOARD, io_type="io_stream",
                 interface="axi_master", weights="external", hls=hls)
    return keras_path, hls, ip


def test_seed_csim_is_bit_exact_with_hls4ml(seed, ref_root):
    from nnaccel.csim import run_csim

    keras_path, hls, ip = seed
    x = _samples((16,), N_SEED, seed=2024)
    ref = hls_reference(keras_path, hls, "io_stream", x, ref_root)
    _assert_informative(ref)
    y = run_csim(ip.out_dir, x)  # loads the IP's own external weight image first
    assert np.array_equal(_flat(y), ref)


def test_seed_image_packs_4389_six_bit_values(seed):
    from nnaccel.weights.image import HEADER_BYTES

    _, _, ip = seed
    layout = json.loads((ip.out_dir / "weights_layout.json").read_text())
    assert ip.description["bus_width"] == SEED_BUS
    assert layout["n_values"] == 4389
    assert {v["hls_type"] for v in layout["variables"]} == {"ap_fixed<6,1>"}
    assert {v["width"] for v in layout["variables"]} == {6}
    payload = math.ceil(4389 * 6 / SEED_BUS) * (SEED_BUS // 8)  # 206 words of 16 bytes
    assert ip.report["image"]["payload_bytes"] == payload == 3296
    assert len((ip.out_dir / "weights.bin").read_bytes()) == HEADER_BYTES + payload


# ---------------------------------------------------------------- hls4ml's example models

@pytest.fixture(scope="module")
def example_ips(work):
    """name -> IP built with external weights (each built once, on first use)."""
    built = {}

    def get(name):
        if name not in built:
            io_type, hls = _example_hls(name)
            model = shared_path("example-models", f"{name}.json")
            built[name] = make_ip(model, work / "examples" / name, board=SEED_BOARD, io_type=io_type,
                                  interface="axi_master" if io_type == "io_parallel" else "axi_stream",
                                  weights="external", hls=hls, allow_over_budget=True)
        return built[name]

    return get


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_model_csim_is_bit_exact_with_hls4ml(name, example_ips, ref_root):
    from nnaccel.csim import run_csim

    ip = example_ips(name)
    io_type, hls = _example_hls(name)
    x = _samples(ip.description["input_shape"], N_SAMPLES, seed=7)
    ref = hls_reference(shared_path("example-models", f"{name}.json"), hls, io_type, x, ref_root)
    _assert_informative(ref)
    y = run_csim(ip.out_dir, x)
    assert ip.description["weights"] == "external"
    assert np.array_equal(_flat(y), ref)


@pytest.mark.parametrize("name", ["seed", *EXAMPLES])
def test_numpy_engine_on_models_made_elsewhere(name, seed, example_ips, ref_root):
    """--engine numpy against hls4ml's own predict(): it covers every one of these models (Dense,
    Conv1D/2D, ZeroPadding, BatchNormalization, pooling, softmax), bit-exact."""
    from nnaccel.csim import run_csim
    from nnaccel.npsim.model import coverage

    if name == "seed":
        model, hls, ip = seed
        io_type = "io_stream"
    else:
        ip = example_ips(name)
        io_type, hls = _example_hls(name)
        model = shared_path("example-models", f"{name}.json")
    x = _samples(ip.description["input_shape"], N_SAMPLES, seed=7)
    why = coverage(ip.out_dir)
    assert why is None, why
    ref = hls_reference(model, hls, io_type, x, ref_root)
    assert np.array_equal(_flat(run_csim(ip.out_dir, x, engine="numpy")), ref)


# ---------------------------------------------------------------- pruned weight sets, one IP

def test_pruned_weight_sets_reprogram_the_dense_ip(example_ips, ref_root):
    """A (dense) -> B (70% pruned) -> C (95% pruned) -> A on one simulated device."""
    from nnaccel.csim import CsimAccelerator
    from nnaccel.weights.for_model import image_for_model

    ip = example_ips("KERAS_3layer")
    io_type, hls = _example_hls("KERAS_3layer")
    arch = shared_path("example-models", "KERAS_3layer.json")
    x = _samples((16,), N_SAMPLES, seed=11)

    dense_image = (ip.out_dir / "weights.bin").read_bytes()
    sets = [("dense", dense_image, hls_reference(arch, hls, io_type, x, ref_root))]
    for fname in PRUNED:
        h5 = shared_path("example-models", fname)
        image, _ = image_for_model(ip.out_dir, arch, model_weights=h5)
        sets.append((fname, image, hls_reference(arch, hls, io_type, x, ref_root, weights_h5=h5)))
    refs = [r for _, _, r in sets]
    # The 95%-pruned set is left out here on purpose: no path from the input to the output
    # survives its pruning (its float model is a constant function too), so its check is the
    # constant itself, which every bias of the network feeds into.
    for r in refs[:2]:
        _assert_informative(r)
    # the three weight sets must behave differently, or reloading would prove nothing
    assert not any(np.array_equal(refs[i], refs[j]) for i in range(3) for j in range(i + 1, 3))

    acc = CsimAccelerator(ip.out_dir)
    for what, image, ref in sets + sets[:1]:
        acc.load_weights(image)
        assert np.array_equal(_flat(acc.predict(x)), ref), what


def test_pruned_weight_set_through_the_command_line(example_ips, ref_root, work):
    """`nnaccel weights --model-weights` then `nnaccel csim --weights`, as a user runs them."""
    ip = example_ips("KERAS_3layer")
    io_type, hls = _example_hls("KERAS_3layer")
    arch = shared_path("example-models", "KERAS_3layer.json")
    h5 = shared_path("example-models", PRUNED[0])
    x = _samples((16,), N_SAMPLES, seed=13)
    d = work / "cli"
    d.mkdir()
    np.save(d / "x.npy", x)
    cli = [sys.executable, "-m", "nnaccel"]
    for args in (["weights", str(arch), "--layout", str(ip.out_dir), "--model-weights", str(h5),
                  "-o", str(d / "b.bin")],
                 ["csim", str(ip.out_dir), "--input", str(d / "x.npy"), "--output", str(d / "y.npy"),
                  "--weights", str(d / "b.bin")]):
        proc = subprocess.run(cli + args, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    y = np.load(d / "y.npy")
    assert y.dtype == np.float32
    assert np.array_equal(_flat(y), hls_reference(arch, hls, io_type, x, ref_root, weights_h5=h5))


def _n_zeros(parameters_h: Path) -> list[int]:
    return [int(n) for n in re.findall(r"\bn_zeros\s*=\s*(\d+)\s*;", parameters_h.read_text())]


def _tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_ip_layer_configuration_does_not_depend_on_the_weight_set(example_ips, work):
    """hls4ml derives n_zeros (multiplier limits) from the kernel values it converts. The dense
    KERAS_3layer kernels have no exact zeros (only some biases are zero), so hls4ml itself would
    write n_zeros = 0 for them; the 95%-pruned kernels are nearly all zeros. An IP built from
    the pruned set must be the same HLS design as the one built from the dense set."""
    import hls4ml

    dense_ip = example_ips("KERAS_3layer")
    io_type, hls = _example_hls("KERAS_3layer")
    arch = shared_path("example-models", "KERAS_3layer.json")
    h5 = shared_path("example-models", PRUNED[1])

    # what hls4ml alone makes of the pruned set: every kernel has zeros it would exploit
    hm = hls4ml.converters.keras_v2_to_hls({
        "KerasJson": str(arch), "KerasH5": str(h5), "OutputDir": str(work / "hls4ml-95"),
        "ProjectName": "myproject", "Backend": "Vitis", "IOType": io_type,
        "HLSConfig": json.loads(json.dumps(hls)), "Part": dense_ip.description["part"],
    })
    kernels = [v for v in hm.get_weight_variables() if v.name.startswith("w")]
    assert len(kernels) == 4 and all(v.nzeros > 0 for v in kernels)

    pruned_ip = make_ip(arch, work / "ip-from-95pruned", model_weights=str(h5), board=SEED_BOARD,
                        io_type=io_type, interface="axi_master", weights="external", hls=hls,
                        allow_over_budget=True)
    for ip in (dense_ip, pruned_ip):
        assert _n_zeros(ip.out_dir / "hls" / "firmware" / "parameters.h") == [0, 0, 0, 0]
    assert _tree(pruned_ip.out_dir / "hls") == _tree(dense_ip.out_dir / "hls")
    assert pruned_ip.description["fingerprint"] == dense_ip.description["fingerprint"]
