"""Multi-input / multi-output models (issue 11) on all three data interfaces: hls4ml's own kinds of
test model (two-input Add and Concatenate merges, a reused layer with 2 inputs and 4 outputs) through
the C-simulated IP, bit for bit against hls4ml's predict() for the weights the IP was built with AND
for a second weight set loaded at run time; the emitted DATAFLOW structure (one reader per input
tensor, one writer per output tensor); the register map's extra address registers and windows."""
from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from conftest import make_ip
from test_hw import calls, functions

HLS = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
N = 24  # samples per check


def _add(seed):
    import keras

    keras.utils.set_random_seed(seed)
    a, b = keras.Input((8,), name="in_a"), keras.Input((8,), name="in_b")
    s = keras.layers.Add(name="add")([keras.layers.Dense(6, name="da")(a), keras.layers.Dense(6, name="db")(b)])
    return keras.Model([a, b], keras.layers.Dense(4, name="out")(s))


def _concat(seed):
    import keras

    keras.utils.set_random_seed(seed)
    a, b = keras.Input((5,), name="in_a"), keras.Input((3,), name="in_b")
    c = keras.layers.Concatenate(name="cat")([a, b])
    return keras.Model([a, b], keras.layers.Dense(4, name="out", activation="relu")(c))


def _reused(seed):
    """One Dense layer applied to both inputs; four outputs (hls4ml's reused-layer test shape)."""
    import keras

    keras.utils.set_random_seed(seed)
    a, b = keras.Input((4,), name="in_a"), keras.Input((4,), name="in_b")
    shared = keras.layers.Dense(3, name="shared")
    da, db = shared(a), shared(b)
    s = keras.layers.Add(name="add")([da, db])
    return keras.Model([a, b], [da, db, s, keras.layers.Dense(2, name="head")(s)])


BUILDERS = {"add": _add, "concat": _concat, "reused": _reused}


@pytest.fixture(scope="session")
def multi_models(models_dir):
    """{name: (weights A, weights B)}: two weight sets of each architecture."""
    out = {}
    for name, build in BUILDERS.items():
        paths = []
        for seed, tag in ((11, "a"), (12, "b")):
            p = models_dir / f"multi_{name}_{tag}.keras"
            build(seed).save(p)
            paths.append(p)
        out[name] = tuple(paths)
    return out


_REF: dict = {}


def hls4ml_predict(model, io_type, xs, root):
    """hls4ml's own convert/compile/predict of `model` (its weights embedded), called directly:
    the independent oracle. Returns one (N, n) float32 array per output tensor."""
    import hls4ml
    import keras

    key = (str(model), io_type)
    hm = _REF.get(key)
    if hm is None:
        km = keras.models.load_model(model, compile=False)
        out = root / ("multi-" + hashlib.sha256(repr(key).encode()).hexdigest()[:12])
        hm = hls4ml.converters.convert_from_keras_model(km, hls_config=json.loads(json.dumps(HLS)), backend="Vitis",
                                                         io_type=io_type, output_dir=str(out),
                                                         part="xczu3eg-sbva484-1-e")
        hm.compile()
        _REF[key] = hm
    y = hm.predict([np.ascontiguousarray(x, dtype=np.float32) for x in xs])
    y = y if isinstance(y, list) else [y]
    return [np.asarray(v, dtype=np.float32).reshape(len(xs[0]), -1) for v in y]


def inputs_for(desc, seed=0):
    rng = np.random.default_rng(seed)
    return [(2 * rng.standard_normal((N, *t["shape"]))).astype(np.float32) for t in desc["inputs"]]


def check_bit_exact(ip, model_a, model_b, io_type, root):
    from nnaccel.csim import open_csim
    from nnaccel.weights.for_model import image_for_model

    desc = json.loads((ip / "nnaccel.json").read_text())
    xs = inputs_for(desc)
    acc = open_csim(ip, jobs=1)
    try:
        for model in (model_a, model_b):
            if model is model_b:
                img, _ = image_for_model(ip, model_b)
                acc.load_weights(img)
            got = acc.predict_tensors(xs)
            want = hls4ml_predict(model, io_type, xs, root)
            assert len(got) == len(want) == len(desc["outputs"])
            for g, w, t in zip(got, want, desc["outputs"]):
                assert g.shape == (N, *t["shape"])
                assert np.array_equal(g.reshape(N, -1), w), (model.name, t["name"])
        # the two weight sets really differ on these inputs (else the reload proves nothing)
        ya = hls4ml_predict(model_a, io_type, xs, root)
        assert any(not np.array_equal(a, b) for a, b in zip(ya, want))
    finally:
        acc.close()


_IPS: dict = {}


def multi_ip(multi_models, root, name, interface, io_type="io_parallel"):
    """The IP of model `name` (weights A), built once per session."""
    key = (name, interface, io_type)
    if key not in _IPS:
        out = root / f"ip-{name}-{interface}-{io_type}"
        make_ip(multi_models[name][0], out, hls=HLS, io_type=io_type, interface=interface, lite_max_batch=8)
        _IPS[key] = out
    return _IPS[key]


@pytest.fixture(scope="session")
def ip_root(tmp_path_factory):
    return tmp_path_factory.mktemp("multi-ips")


@pytest.mark.parametrize("interface", ["axi_master", "axi_lite", "axi_stream"])
@pytest.mark.parametrize("name", ["add", "concat", "reused"])
def test_multi_io_bit_exact_with_reloaded_weights(multi_models, ip_root, ref_root, name, interface):
    a, b = multi_models[name]
    check_bit_exact(multi_ip(multi_models, ip_root, name, interface), a, b, "io_parallel", ref_root)


@pytest.mark.parametrize("interface", ["axi_master", "axi_lite", "axi_stream"])
def test_python_driver_on_the_simulated_device(multi_models, ip_root, ref_root, interface):
    """The Python driver's predict takes a list (one array per input) and returns a list (one per
    output) on the simulated device; bit-exact with hls4ml for both weight sets."""
    from nnaccel.weights.for_model import image_for_model
    from nnaccel_driver import InputShapeError
    from nnaccel_driver.sim import simulate

    a, b = multi_models["reused"]
    ip = multi_ip(multi_models, ip_root, "reused", interface)
    desc = json.loads((ip / "nnaccel.json").read_text())
    xs = inputs_for(desc, seed=3)
    acc = simulate(ip)
    try:
        acc.load_weights()
        for model in (a, b):
            if model is b:
                acc.load_weights(image_for_model(ip, b)[0])
            got = acc.predict(xs)
            want = hls4ml_predict(model, "io_parallel", xs, ref_root)
            assert isinstance(got, list) and len(got) == 4
            for g, w, t in zip(got, want, desc["outputs"]):
                assert g.shape == (N, *t["shape"])
                assert np.array_equal(g.reshape(N, -1), w)
        # raw words: the tensors end to end per sample, as the description's offsets say
        raw = acc.predict(np.concatenate([x.reshape(N, -1) for x in xs], axis=1), raw=True)
        assert raw.shape == (N, 11)
        assert np.array_equal(raw[:, 9:11].view("<f4"), want[3])
        with pytest.raises(InputShapeError, match="this model has 2 inputs; give a list of 2 arrays"):
            acc.predict(xs[0])
        with pytest.raises(InputShapeError, match="input in_b shape"):
            acc.predict([xs[0], xs[1][:, :3]])
        # the bundle README's one-liner input for this accelerator is accepted as it stands
        from nnaccel.bundle import _zeros_input

        assert len(acc.predict(eval(_zeros_input(desc), {"np": np}))) == 4
        # every address register and window the driver touched is one the device maps
        assert acc.sim.counters()["bus_faults"] == 0
    finally:
        acc.close()


@pytest.mark.parametrize("name,interface", [("reused", "axi_stream"), ("add", "axi_master"), ("concat", "axi_lite")])
def test_multi_io_io_stream_bit_exact(multi_models, tmp_path, ref_root, name, interface):
    a, b = multi_models[name]
    make_ip(a, tmp_path / "ip", hls=HLS, io_type="io_stream", interface=interface, lite_max_batch=8)
    check_bit_exact(tmp_path / "ip", a, b, "io_stream", ref_root)


def test_description_and_register_map(multi_models, tmp_path):
    from nnaccel.regmap import REGISTERS

    a, _ = multi_models["reused"]
    make_ip(a, tmp_path / "m", hls=HLS, io_type="io_parallel", interface="axi_master")
    desc = json.loads((tmp_path / "m" / "nnaccel.json").read_text())
    regmap = json.loads((tmp_path / "m" / "regmap.json").read_text())
    assert [t["name"] for t in desc["inputs"]] == ["in_a", "in_b"]
    assert [t["shape"] for t in desc["outputs"]] == [[3], [3], [3], [2]]
    assert desc["n_inputs"] == 8 and desc["n_outputs"] == 11 and desc["input_shape"] == [8]
    assert [t["bytes"] for t in desc["outputs"]] == [12, 12, 12, 8]  # float words
    assert [t["stream_offset"] for t in desc["outputs"]] == [0, 3, 6, 9]
    regs = {r["name"]: r["offset"] for r in regmap["registers"]}
    # the documented offsets (docs/contracts.md): tensor 0 keeps IN_ADDR/OUT_ADDR
    assert regs["IN_ADDR"] == 0x20 and regs["OUT_ADDR"] == 0x30
    assert regs["IN_ADDR_1"] == 0x100
    assert (regs["OUT_ADDR_1"], regs["OUT_ADDR_2"], regs["OUT_ADDR_3"]) == (0x180, 0x190, 0x1A0)
    assert [t["register"] for t in desc["outputs"]] == ["OUT_ADDR", "OUT_ADDR_1", "OUT_ADDR_2", "OUT_ADDR_3"]
    assert regmap["version"] == 3 and regmap["address_range"] == 0x200
    fixed = {n: off for n, off, *_ in REGISTERS}
    assert not set(fixed.values()) & {o for n, o in regs.items() if n not in fixed}
    cpp = (tmp_path / "m" / "hls" / "nn_accel.cpp").read_text()
    for name, off in regs.items():
        if name.startswith(("IN_ADDR_", "OUT_ADDR_")):
            arg = ("in_data_" if name.startswith("IN") else "out_data_") + name.rsplit("_", 1)[1]
            assert f"port={arg} offset=0x{off:02X} bundle=control" in cpp
            assert re.search(rf"mode=m_axi port={arg} offset=slave bundle=gmem_data depth=\d+", cpp)
    header = (tmp_path / "m" / "nn_accel_regs.h").read_text()
    assert "#define NN_ACCEL_REG_OUT_ADDR_3 0x1A0u" in header

    make_ip(a, tmp_path / "l", hls=HLS, io_type="io_parallel", interface="axi_lite", lite_max_batch=8)
    desc = json.loads((tmp_path / "l" / "nnaccel.json").read_text())
    regmap = json.loads((tmp_path / "l" / "regmap.json").read_text())
    offs = [t["lite_offset"] for t in desc["inputs"] + desc["outputs"]]
    region = 0x1000  # every window (at most 8 samples x 4 values x 4 bytes) fits the minimum region
    assert offs == [region * k for k in range(1, 7)]
    assert regmap["lite_in_offset"] == region and regmap["lite_out_offset"] == 3 * region
    assert regmap["address_range"] == 0x8000
    cpp = (tmp_path / "l" / "hls" / "nn_accel.cpp").read_text()
    assert "port=out_buf_3 offset=0x6000 bundle=control" in cpp


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("interface", ["axi_master", "axi_lite", "axi_stream"])
def test_multi_io_pipeline_is_canonical(multi_models, tmp_path, interface, io_type):
    """One DATAFLOW region: a reader per input tensor (axi_stream: one reader, the stream's only
    consumer, splitting it into a FIFO per tensor), run_model, a writer per output tensor; every
    local stream has exactly one writer task and one reader task."""
    a, _ = multi_models["reused"]
    make_ip(a, tmp_path / "ip", hls=HLS, io_type=io_type, interface=interface)
    cpp = (tmp_path / "ip" / "hls" / "nn_accel.cpp").read_text()
    fns = functions(cpp)
    params, body = fns["run_samples"]
    assert "#pragma HLS DATAFLOW" in body
    assert not re.search(r"\b(if|else|switch|for|while)\b|\?", body)
    tasks = calls(body)
    names = [c for c, _ in tasks]
    if interface == "axi_stream":
        assert names == ["read_samples", "run_model", "write_samples"]
    else:
        assert names == ["read_in_0", "read_in_1", "run_model", "write_out_0", "write_out_1", "write_out_2",
                         "write_out_3"]
        # each reader/writer touches only its own tensor's buffer
        bufs = [args[0] if c.startswith("read") else args[1] for c, args in tasks if c != "run_model"]
        assert len(set(bufs)) == 6 and all(b in params for b in bufs)
    streams = re.findall(r"hls::stream<[^;]+>\s+(\w+)\(", body)
    assert sorted(streams) == ["xs0", "xs1", "ys0", "ys1", "ys2", "ys3"]
    for st in streams:
        users = [i for i, (_, args) in enumerate(tasks) if st in args]
        assert len(users) == 2, st
        w_task, r_task = tasks[users[0]][0], tasks[users[1]][0]
        if w_task != "run_model":
            assert f"{st}.write(" in fns[w_task][1] and ".read(" not in fns[w_task][1].replace("in_stream.read(", "")
        if r_task != "run_model":
            assert ".read(" in fns[r_task][1] and ".write(" not in fns[r_task][1].replace("out_stream.write(", "")
    for task in names:
        assert re.search(r"for \(unsigned s = 0; s < n_samples; s\+\+\)", fns[task][1]), task
    # myproject gets the tensors in hls4ml's order: inputs, then outputs
    model_calls = [args for c, args in calls(fns["run_model"][1]) if c == "myproject"]
    assert len(model_calls) == 1 and model_calls[0][:6] == (
        ["x0", "x1", "y0", "y1", "y2", "y3"] if io_type == "io_parallel" else ["xs0", "xs1", "ys0", "ys1", "ys2", "ys3"])
    top = fns["nn_accel"][1]
    assert top.count("run_samples(") == 1


def test_numpy_engine_refuses_multi_io_and_auto_falls_back(multi_models, tmp_path):
    from nnaccel.errors import NnaccelError
    from nnaccel.npsim import model as npsim

    a, _ = multi_models["add"]
    make_ip(a, tmp_path / "ip", hls=HLS, io_type="io_parallel", interface="axi_stream")
    assert npsim.choose(tmp_path / "ip", "auto") == "c"
    with pytest.raises(NnaccelError, match="input and 1 output tensors"):
        npsim.load(tmp_path / "ip")


def test_too_many_tensors_refused(models_dir, tmp_path):
    import keras

    from nnaccel.errors import ModelError

    x = keras.Input((2,), name="x")
    model = keras.Model(x, [keras.layers.Dense(1, name=f"head{k}")(x) for k in range(10)])
    p = models_dir / "ten_outputs.keras"
    model.save(p)
    with pytest.raises(ModelError, match="has 1 inputs and 10 outputs; the accelerator takes at most 9"):
        make_ip(p, tmp_path / "ip", hls=HLS, io_type="io_parallel", interface="axi_master")
    assert not (tmp_path / "ip" / "nnaccel.json").exists()


@pytest.mark.parametrize("interface", ["axi_master", "axi_lite", "axi_stream"])
def test_c_driver_on_the_simulated_device(multi_models, ip_root, ref_root, tmp_path, interface):
    """The C driver (nna_host on the simulated device): nna_predict_f32 with each sample's tensors
    end to end and nna_predict_tensors_f32 with one array per tensor, for weights A and then B
    loaded at run time; bit-exact with hls4ml's predict() of each weight set."""
    import subprocess

    from nnaccel.weights.for_model import image_for_model
    from swtest import make

    a, b = multi_models["reused"]
    ip = multi_ip(multi_models, ip_root, "reused", interface)
    build = tmp_path / "build"
    make("host", "csimlib", ip=ip, build=build)
    desc = json.loads((ip / "nnaccel.json").read_text())
    xs = inputs_for(desc, seed=5)
    np.concatenate([x.reshape(N, -1) for x in xs], axis=1).astype("<f4").tofile(tmp_path / "x.f32")
    (tmp_path / "b.bin").write_bytes(image_for_model(ip, b)[0])
    x, y = str(tmp_path / "x.f32"), lambda tag: str(tmp_path / f"y_{tag}.f32")
    proc = subprocess.run([str(build / "nna_host"), (build / "csim_lib.txt").read_text().strip(),
                           "load", str(ip / "weights.bin"), "predict-f32", x, y("a_rows"), "predict-tensors-f32", x,
                           y("a_tensors"), "load", str(tmp_path / "b.bin"), "predict-tensors-f32", x, y("b_tensors"),
                           "predict-f32", x, y("b_rows")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for model, tag in ((a, "a"), (b, "b")):
        want = np.concatenate(hls4ml_predict(model, "io_parallel", xs, ref_root), axis=1)
        for how in ("rows", "tensors"):
            got = np.fromfile(y(f"{tag}_{how}"), "<f4").reshape(N, -1)
            assert np.array_equal(got, want), (tag, how)


@pytest.mark.parametrize("interface", ["axi_master", "axi_lite", "axi_stream"])
def test_multi_io_c_paths_under_sanitizers(multi_models, ip_root, tmp_path, interface):
    """The multi-tensor C++ bridge and top, the C driver's per-tensor paths and the simulated
    device's gather/scatter, built with -fsanitize=address,undefined: no report, and the bits of
    the normal C-simulation build, through both C entry points (9 samples: two axi_lite batches)."""
    import os
    import subprocess
    import sys

    from nnaccel.csim import CXXFLAGS, compile_command, open_csim
    from swtest import SW
    from test_sanitizers import REPORT, SANITIZE, THIRD_PARTY

    ip = multi_ip(multi_models, ip_root, "reused", interface)
    build = tmp_path / "build"
    build.mkdir()
    lib = build / "csim-asan.so"
    proc = subprocess.run(compile_command(ip, lib, [f for f in CXXFLAGS if f != "-O2"] + ["-O1", *SANITIZE]),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cflags = "-std=c99 -O1 -Wall -Wextra " + " ".join(SANITIZE)
    proc = subprocess.run(["make", "-s", "-C", str(SW), "host", f"IP={ip}", f"BUILD={build}", f"CFLAGS={cflags}",
                           "HEADER_FLAGS=--no-keras", f"PY={sys.executable}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    desc = json.loads((ip / "nnaccel.json").read_text())
    xs = [x[:9] for x in inputs_for(desc, seed=9)]
    rows = np.concatenate([x.reshape(9, -1) for x in xs], axis=1).astype("<f4")
    rows.tofile(tmp_path / "x.f32")
    (tmp_path / "ubsan.supp").write_text("\n".join(THIRD_PARTY) + "\n")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=99",
               UBSAN_OPTIONS=f"print_stacktrace=1:suppressions={tmp_path / 'ubsan.supp'}")
    proc = subprocess.run([str(build / "nna_host"), str(lib), "load", str(ip / "weights.bin"),
                           "predict-f32", str(tmp_path / "x.f32"), str(tmp_path / "y_rows.f32"),
                           "predict-tensors-f32", str(tmp_path / "x.f32"), str(tmp_path / "y_tensors.f32")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert not any(r in proc.stderr for r in REPORT), proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    acc = open_csim(ip, jobs=1)
    try:
        want = np.concatenate([y.reshape(9, -1) for y in acc.predict_tensors(xs)], axis=1)
    finally:
        acc.close()
    for how in ("rows", "tensors"):
        assert np.array_equal(np.fromfile(tmp_path / f"y_{how}.f32", "<f4").reshape(9, -1), want), how


@pytest.mark.parametrize("interface", ["axi_master", "axi_lite", "axi_stream"])
def test_multi_io_with_weight_banks(multi_models, tmp_path, ref_root, interface):
    """Several tensors and two weight banks together: bank 0 holds A, bank 1 holds B; predictions on
    each bank equal hls4ml's predict() of that weight set, whichever bank was loaded last."""
    from nnaccel.csim import CsimAccelerator
    from nnaccel.weights.for_model import image_for_model

    model_a, model_b = multi_models["reused"]
    ip = tmp_path / "ip"
    make_ip(model_a, ip, hls=HLS, io_type="io_parallel", interface=interface, lite_max_batch=8, weight_banks=2)
    img_b, _ = image_for_model(ip, model_b)
    desc = json.loads((ip / "nnaccel.json").read_text())
    xs = inputs_for(desc, seed=5)
    want = {k: hls4ml_predict(m, "io_parallel", xs, ref_root) for k, m in (("A", model_a), ("B", model_b))}
    assert any(not np.array_equal(a, b) for a, b in zip(want["A"], want["B"]))
    acc = CsimAccelerator(ip, jobs=1)
    try:
        from nnaccel.regmap import COMMANDS
        load = COMMANDS["LOAD_WEIGHTS"]
        regs, _ = acc.start_banked(load, 0, 0, weights=(ip / "weights.bin").read_bytes())
        assert regs["LAST_ERROR"] == 0
        regs, _ = acc.start_banked(load, 1, 0, weights=img_b)
        assert regs["LAST_ERROR"] == 0 and regs["BANKS_VALID"] == 0b11
        for active, key in ((0, "A"), (1, "B"), (0, "A")):
            acc.start_banked(0, 1, active)  # COMMAND 0 only rewrites the bank registers
            got = acc.predict_tensors(xs)
            for g, w in zip(got, want[key]):
                assert np.array_equal(g.reshape(N, -1), w), (interface, active)
    finally:
        acc.close()
