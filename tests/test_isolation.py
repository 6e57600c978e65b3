"""Issue 13: compiled model code never takes the caller down and never hands back garbage
silently. A crash, an abort or an endless loop in the C++ becomes one line and exit 1; what
hls4ml's kernels reject is refused at `nnaccel ip` (data/hls4ml_limits.yml, one test per entry);
C++ whose outputs differ between runs is refused; several worker processes give the same bits."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import hls_reference, make_ip
from nnaccel import limits
from nnaccel.csim import CsimAccelerator
from nnaccel.errors import ConfigError, CsimCrash, CsimTimeout

HLS = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}


def _save(model, path: Path) -> Path:
    model.save(path)
    return path


def pool_same_model(path: Path) -> Path:
    """A 7x7 feature map pooled 2x2 with padding="same": hls4ml pads one row and column."""
    import keras

    keras.utils.set_random_seed(11)
    return _save(keras.Sequential([
        keras.Input((9, 9, 1)), keras.layers.Conv2D(2, (3, 3), name="conv1"),
        keras.layers.MaxPooling2D((2, 2), padding="same", name="pool1"), keras.layers.Flatten(name="flat"),
        keras.layers.Dense(3, name="fc1")]), path)


def pool_stride_model(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(12)
    return _save(keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(2, (3, 3), name="conv1"),
        keras.layers.MaxPooling2D((2, 2), strides=(1, 1), name="pool1"), keras.layers.Flatten(name="flat"),
        keras.layers.Dense(3, name="fc1")]), path)


def simple_rnn_model(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(5)
    return _save(keras.Sequential([keras.Input((5, 4)), keras.layers.SimpleRNN(8, name="rnn"),
                                   keras.layers.Dense(3, name="fc")]), path)


# entry id -> (model builder, the layer it names, io_type that trips it, io_type that does not)
TABLE_CASES = {
    "stream-pooling-padding": (pool_same_model, "pool1", "io_stream", "io_parallel"),
    "stream-pooling2d-stride": (pool_stride_model, "pool1", "io_stream", "io_parallel"),
    "simplernn": (simple_rnn_model, "rnn", "io_parallel", None),
}


def test_every_table_entry_has_a_case():
    assert sorted(TABLE_CASES) == sorted(e["id"] for e in limits.entries())


def _findings(model: Path, io_type: str, tmp: Path) -> list:
    from nnaccel import hls
    from nnaccel.config import build_config

    hm = hls.convert(build_config({"model": str(model), "io_type": io_type}), tmp)
    return [(e["id"], layer) for e, layer in limits.findings(hm, io_type)]


@pytest.mark.parametrize("entry", sorted(TABLE_CASES))
def test_table_entry(entry, tmp_path):
    build, layer, bad_io, ok_io = TABLE_CASES[entry]
    e = next(e for e in limits.entries() if e["id"] == entry)
    model = build(tmp_path / f"{entry}.keras")
    assert (entry, layer) in _findings(model, bad_io, tmp_path / "bad")
    if ok_io:
        assert not any(found == entry for found, _ in _findings(model, ok_io, tmp_path / "ok"))
    out = tmp_path / "ip"
    if e["action"] == "refuse":
        with pytest.raises(ConfigError) as err:
            make_ip(model, out, io_type=bad_io)
        assert f"layer {layer}" in str(err.value) and e["instead"] in str(err.value)
    else:  # verify: refused because the reference fails the checks (the SimpleRNN of issue 13 does)
        with pytest.raises(CsimCrash) as err:
            make_ip(model, out, io_type=bad_io, tb_samples=50)
        assert "far beyond what the precision allows" in str(err.value)
        # hls4ml does not trace its io_parallel SimpleRNN: the first traced departure is the next layer
        assert f"trace first departs from Keras at layer fc (not traced before it: {layer});" in str(err.value)
        assert f"layer {layer}: {e['message']}" in str(err.value)
    assert "\n" not in str(err.value)
    assert not out.exists()


@pytest.mark.parametrize("entry", sorted(e["id"] for e in limits.entries() if e["action"] == "refuse"))
def test_refused_entries_are_real_hls4ml_aborts(entry, tmp_path, monkeypatch):
    """Without the refusal, hls4ml's own kernel asserts: the reference step of `ip` reports it
    (isolated: this process goes on) and writes nothing."""
    build, layer, bad_io, _ = TABLE_CASES[entry]
    model = build(tmp_path / "m.keras")
    monkeypatch.setattr(limits, "refuse_unsupported", lambda hm, io: [])
    with pytest.raises(CsimCrash) as err:
        make_ip(model, tmp_path / "ip", io_type=bad_io, tb_samples=4)
    msg = str(err.value)
    assert msg.startswith("hls4ml's reference model of m.keras: the compiled model was killed by SIGABRT in "
                          f"layer {layer}: assertion `CONFIG_T::"), msg
    assert not (tmp_path / "ip").exists()


def test_cli_csim_of_an_aborting_ip(tmp_path, monkeypatch):
    """An IP made anyway (refusal bypassed): `nnaccel csim` exits 1 with one line and writes nothing."""
    model = pool_same_model(tmp_path / "pool.keras")
    monkeypatch.setattr(limits, "refuse_unsupported", lambda hm, io: [])
    make_ip(model, tmp_path / "ip", io_type="io_stream", tb_samples=0)
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((6, 9, 9, 1)).astype(np.float32))
    res = _nnaccel("csim", str(tmp_path / "ip"), "--input", str(x), "--output", str(tmp_path / "y.npy"),
                   "--engine", "c")
    assert res.returncode == 1
    line = _one_line(res.stderr)
    assert re.search(r"C-simulation of pool\.keras .*killed by SIGABRT in layer pool1: assertion "
                     r"`CONFIG_T::pad_top == 0 .*' failed \(nnet_pooling_stream\.h\)", line), line
    assert not (tmp_path / "y.npy").exists()


def _nnaccel(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnaccel", *args], capture_output=True, text=True, timeout=600)


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# -- forced faults in a compiled model -----------------------------------------------------------

def _mlp(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(21)
    return _save(keras.Sequential([keras.Input((16,), name="x"), keras.layers.Dense(12, name="fc1"),
                                   keras.layers.Activation("relu", name="relu1"), keras.layers.Dense(5, name="fc2")]),
                 path)


def patch_myproject(ip: Path, at_start: str = "", at_end: str = "") -> None:
    """Add C++ to hls4ml's myproject() of an IP directory: `{x}` is its input array, `{y}` its output."""
    src = ip / "hls" / "firmware" / "myproject.cpp"
    text = src.read_text()
    m = re.search(r"void myproject\(\s*\w+ (\w+)\[\d+\],\s*\w+ (\w+)\[\d+\]", text)
    assert m, "hls4ml's myproject() signature changed"
    x, y = m.groups()
    body = text.index(") {", m.end()) + 3
    end = text.rindex("}")
    text = (text[:body] + "\n" + at_start.format(x=x, y=y) + text[body:end] + at_end.format(x=x, y=y) + "\n"
            + text[end:])
    src.write_text("#include <cstdlib>\n" + text)


FAULTS = """
    if ({x}[0] > 20) std::abort();
    if ({x}[1] > 20) *(volatile int *)0 = 1;
    if ({x}[2] > 20) {{ volatile unsigned spin = 1; while (spin) {{}} }}
"""


@pytest.fixture(scope="module")
def faulty_ip(tmp_path_factory):
    """An MLP whose C++ aborts, segfaults or spins forever on chosen inputs (|x| <= 5 otherwise)."""
    root = tmp_path_factory.mktemp("faulty")
    model = _mlp(root / "mlp.keras")
    make_ip(model, root / "ip", hls=HLS, io_type="io_parallel", tb_samples=40)
    patch_myproject(root / "ip", at_start=FAULTS)
    return model, root / "ip"


def _trigger(x: np.ndarray, index: int) -> np.ndarray:
    x = x.copy()
    x[len(x) // 2, index] = 25.0
    return x


def test_faults_raise_and_the_caller_goes_on(faulty_ip, ref_root):
    model, ip = faulty_ip
    x = np.random.default_rng(3).standard_normal((300, 16)).astype(np.float32)
    ref = hls_reference(model, HLS, "io_parallel", x, ref_root)
    acc = CsimAccelerator(ip, jobs=2, timeout=2.0)
    acc.load_weights((ip / "weights.bin").read_bytes())
    assert np.array_equal(acc.predict(x), ref)
    with pytest.raises(CsimCrash, match=r"^C-simulation of mlp\.keras \(nn_accel\): the compiled model was killed "
                                        r"by SIGABRT$"):
        acc.predict(_trigger(x, 0))
    with pytest.raises(CsimCrash, match="killed by SIGSEGV"):
        acc.predict(_trigger(x, 1))
    t0 = time.monotonic()
    with pytest.raises(CsimTimeout, match="did not finish within 2 s"):
        acc.predict(_trigger(x, 2))
    assert time.monotonic() - t0 < 30
    # the crashed workers were restarted and given the weights again: same bits as before
    assert np.array_equal(acc.predict(x), ref)
    acc.close()


def test_forced_abort_in_cli_csim_and_check(faulty_ip, tmp_path):
    _, ip = faulty_ip
    x = _trigger(np.load(ip / "tb" / "tb_input.npy"), 0)
    np.save(tmp_path / "x.npy", x)
    res = _nnaccel("csim", str(ip), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                   "--engine", "c")  # the numpy engine never runs the C++ (auto would pick it)
    assert res.returncode == 1
    assert "killed by SIGABRT" in _one_line(res.stderr)
    assert not (tmp_path / "y.npy").exists()
    import shutil

    bad = tmp_path / "ip"
    shutil.copytree(ip, bad)
    np.save(bad / "tb" / "tb_input.npy", x)
    res = _nnaccel("check", str(bad), "-q")
    assert res.returncode == 1 and "killed by SIGABRT" in _one_line(res.stderr)
    assert _nnaccel("check", str(ip), "-q").returncode == 0  # the untriggered vectors still pass


def test_endless_loop_stopped_by_the_environment_timeout(faulty_ip, tmp_path):
    """NNACCEL_CSIM_TIMEOUT reaches the commands that take no --timeout (e.g. the FuseSoC target's check)."""
    import os
    import shutil

    _, ip = faulty_ip
    bad = tmp_path / "ip"
    shutil.copytree(ip, bad)
    np.save(bad / "tb" / "tb_input.npy", _trigger(np.load(ip / "tb" / "tb_input.npy"), 2))
    env = dict(os.environ, NNACCEL_CSIM_TIMEOUT="1")
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "nnaccel", "check", str(bad), "-q"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 1 and time.monotonic() - t0 < 60
    assert "did not finish within 1 s (an endless loop in the C++?)" in _one_line(res.stderr)
    env["NNACCEL_CSIM_TIMEOUT"] = "soon"
    res = subprocess.run([sys.executable, "-m", "nnaccel", "check", str(bad), "-q"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 1 and "NNACCEL_CSIM_TIMEOUT='soon': expected a positive number" in _one_line(res.stderr)


def test_timeout_option_is_validated(faulty_ip, tmp_path):
    _, ip = faulty_ip
    for opt in (["--jobs", "0"], ["--timeout", "-1"], ["--jobs", "two"]):
        res = _nnaccel("check", str(ip), *opt)
        assert res.returncode == 2 and opt[0] in res.stderr.splitlines()[-1]


def test_nondeterministic_model_refused_by_check(tmp_path):
    """C++ with state that survives between calls (what hls4ml's SimpleRNN shows): a counter
    that nudges every 7th sample's output. Both runs' outputs look plausible; they differ."""
    model = _mlp(tmp_path / "mlp.keras")
    make_ip(model, tmp_path / "ip", hls=HLS, io_type="io_parallel", tb_samples=50)
    patch_myproject(tmp_path / "ip", at_end="""
    {{ static unsigned calls = 0; if (++calls % 7 == 0) {y}[0] = {y}[0] + 1; }}
""")
    res = _nnaccel("check", str(tmp_path / "ip"), "--jobs", "1", "-q")
    assert res.returncode == 1
    line = _one_line(res.stderr)
    assert "two runs of the same 50 test vectors gave different outputs" in line and "not deterministic" in line


def test_parallel_workers_bit_exact_in_order(faulty_ip, ref_root):
    model, ip = faulty_ip
    x = np.random.default_rng(4).standard_normal((1500, 16)).astype(np.float32)
    ref = hls_reference(model, HLS, "io_parallel", x, ref_root)
    for jobs in (1, 3):
        acc = CsimAccelerator(ip, jobs=jobs)
        acc.load_weights((ip / "weights.bin").read_bytes())
        done = []
        assert np.array_equal(acc.predict(x, progress=done.append), ref)
        assert done[-1] == 1500 and done == sorted(done)
        assert len([w for w in acc._workers if w.proc is not None]) == jobs
        acc.close()


def test_reference_step_equals_hls4ml_predict(faulty_ip, ref_root):
    """The reference `ip` stores (hls4ml's library, run in a worker) is hls4ml's in-process predict()."""
    model, ip = faulty_ip
    x = np.load(ip / "tb" / "tb_input.npy")
    assert np.array_equal(np.load(ip / "tb" / "tb_expected.npy"), hls_reference(model, HLS, "io_parallel", x, ref_root))


def test_implausible_outputs_warn(tmp_path, capsys):
    """An intermediate value that wraps (ap_fixed<16,6> holds +-32; fc1 makes 20x the input sum): the
    output jumps across the range where Keras's (clipped) output sits at the edge: a warning with the
    largest deviation; the IP is still written."""
    import keras

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False, name="fc1"),
                          keras.layers.Dense(1, use_bias=False, name="fc2")])
    m.layers[0].set_weights([np.full((4, 1), 20.0, np.float32)])
    m.layers[1].set_weights([np.full((1, 1), 1.0, np.float32)])
    model = _save(m, tmp_path / "wrap.keras")
    make_ip(model, tmp_path / "ip", hls=HLS, io_type="io_parallel", tb_samples=30)
    err = capsys.readouterr().err
    assert re.search(r"warning: wrap\.keras: hls4ml's C\+\+ departs from Keras's float predict\(\) by up to "
                     r"[\d.]+ .*far beyond what the precision allows .*; hls4ml's trace first departs from Keras "
                     r"at layer fc1$", err, re.M), err
    assert (tmp_path / "ip" / "nnaccel.json").is_file()
    # the tracing build was only for the diagnosis: the IP's firmware is hls4ml's plain project
    assert "save_layer_output" not in (tmp_path / "ip" / "hls" / "firmware" / "myproject.cpp").read_text()


def test_simulated_device_raises_a_typed_exception(faulty_ip, ref_root):
    """The simulated device forwards each start to a worker: the model's abort is CsimCrashed
    (a DriverError) in this process, and the device goes on with the same weights."""
    from nnaccel_driver import CsimCrashed, DriverError
    from nnaccel_driver.sim import simulate

    model, ip = faulty_ip
    x = np.random.default_rng(6).standard_normal((20, 16)).astype(np.float32)
    ref = hls_reference(model, HLS, "io_parallel", x, ref_root)
    acc = simulate(ip)
    acc.load_weights()
    assert np.array_equal(acc.predict(x).reshape(len(x), -1), ref)
    with pytest.raises(CsimCrashed, match=r"C-simulation of nn_accel \(simulated device\): the compiled model was "
                                          r"killed by SIGABRT") as err:
        acc.predict(_trigger(x, 0))
    assert isinstance(err.value, DriverError)
    assert np.array_equal(acc.predict(x).reshape(len(x), -1), ref)
    assert acc.sim.counters()["csim_faults"] == 1
    acc.sim.close()
