"""Every user mistake: one readable line on stderr, a non-zero exit, no traceback,
and nothing half-written."""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from conftest import REPO, make_ip
from nnaccel.cli import main


def run_cli(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return rc, err


def assert_one_line(rc, err, *needles):
    assert rc != 0
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err


@pytest.fixture(scope="module")
def ip_dir(mlp_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("bad") / "ip"
    make_ip(mlp_models[0], out, io_type="io_parallel", interface="axi_master")
    return out


def _keras(tmp_path, name, build):
    import keras

    m = build(keras)
    p = tmp_path / name
    m.save(p)
    return p


@pytest.mark.parametrize("sets,needles", [
    (["interface=pcie"], ["interface", "pcie", "axi_stream, axi_lite, axi_master"]),
    (["io_type=io_serial"], ["io_type", "io_serial", "io_parallel, io_stream"]),
    (["weights=embedded", "weight_format=float32"], ["weight_format", "external"]),
    (["board=nosuchboard"], ["nosuchboard"]),
    (["input_type=ap_fixed<12,x>"], ["input_type", "ap_fixed<12,x>"]),
    (["input_type=ap_fixed<12,4>"], ["input_type", "8, 16 or 32"]),
    (["bus_width=100"], ["bus_width", "32, 64, 128, 256"]),
    (["colour=blue"], ["colour", "valid keys"]),
    (["hls.Model.Strategy=distributed_arithmetic"], ["Strategy", "another weight set"]),
    (["clock_period=0"], ["clock_period"]),
    (["top=2fast"], ["top", "C identifier"]),
])
def test_bad_configuration(capsys, tmp_path, mlp_models, sets, needles):
    argv = ["ip", mlp_models[0], "-o", tmp_path / "out"]
    for s in sets:
        argv += ["--set", s]
    rc, err = run_cli(capsys, *argv)
    assert_one_line(rc, err, *needles)
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []  # no staging leftovers either


def test_bad_yaml(capsys, tmp_path, mlp_models):
    cfg = tmp_path / "cfg.yml"
    cfg.write_text("interface: [axi_stream\nweights: external\n")
    rc, err = run_cli(capsys, "ip", mlp_models[0], "-o", tmp_path / "out", "--config", cfg)
    assert_one_line(rc, err, "cfg.yml", "YAML", "line")
    assert not (tmp_path / "out").exists()


def test_missing_and_unreadable_model(capsys, tmp_path):
    rc, err = run_cli(capsys, "ip", tmp_path / "nope.keras", "-o", tmp_path / "out")
    assert_one_line(rc, err, "nope.keras", "does not exist")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip file")
    rc, err = run_cli(capsys, "ip", junk, "-o", tmp_path / "out")
    assert_one_line(rc, err, "junk.keras", "cannot be loaded")
    rc, err = run_cli(capsys, "ip", tmp_path / "model.onnx", "-o", tmp_path / "out")
    assert_one_line(rc, err, "model.onnx")
    assert not (tmp_path / "out").exists()


def test_unsupported_layer_is_named(capsys, tmp_path):
    p = _keras(tmp_path, "masked.keras", lambda k: k.Sequential(
        [k.Input((8,)), k.layers.Dense(4, name="fc1"), k.layers.Masking(name="my_mask")]))
    rc, err = run_cli(capsys, "ip", p, "-o", tmp_path / "out")
    assert_one_line(rc, err, "my_mask", "Masking", "not supported")
    assert not (tmp_path / "out").exists()


def _corrupt(img: bytes, offset: int, value: bytes) -> bytes:
    b = bytearray(img)
    b[offset:offset + len(value)] = value
    return bytes(b)


def _fix_crc(img: bytes) -> bytes:
    return _corrupt(img, 24, struct.pack("<I", zlib.crc32(img[32:])))


@pytest.mark.parametrize("name,mutate,needle", [
    ("magic", lambda i: _corrupt(i, 0, b"XXXX"), "magic"),
    ("version", lambda i: _corrupt(i, 4, struct.pack("<H", 9)), "version"),
    ("fingerprint", lambda i: _corrupt(i, 8, struct.pack("<I", 0x12345678)), "fingerprint"),
    ("length", lambda i: _fix_crc(i[:-8]), "length"),
    ("crc", lambda i: _corrupt(i, len(i) - 1, bytes([i[-1] ^ 1])), "CRC"),
])
def test_bad_weight_image(capsys, tmp_path, ip_dir, name, mutate, needle):
    img = mutate((ip_dir / "weights.bin").read_bytes())
    (tmp_path / "w.bin").write_bytes(img)
    np.save(tmp_path / "x.npy", np.zeros((2, 16), np.float32))
    rc, err = run_cli(capsys, "csim", ip_dir, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
                      "--weights", tmp_path / "w.bin")
    assert_one_line(rc, err)
    assert needle.lower() in err.lower(), err
    assert not (tmp_path / "y.npy").exists()


def test_input_of_wrong_shape(capsys, tmp_path, ip_dir):
    np.save(tmp_path / "x.npy", np.zeros((3, 15), np.float32))
    rc, err = run_cli(capsys, "csim", ip_dir, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert_one_line(rc, err, "(3, 15)", "16")
    assert not (tmp_path / "y.npy").exists()


def test_weights_of_another_architecture(capsys, tmp_path, ip_dir, cnn_models):
    rc, err = run_cli(capsys, "weights", cnn_models[0], "--layout", ip_dir, "-o", tmp_path / "w.bin")
    assert_one_line(rc, err, "does not fit")
    assert not (tmp_path / "w.bin").exists()


def test_cli_process_prints_no_traceback(tmp_path):
    """The installed entry point, end to end, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "nnaccel", "ip", str(tmp_path / "none.keras"), "-o",
                           str(tmp_path / "o")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("nnaccel")]
    assert lines == [f"nnaccel ip: error: model: {tmp_path / 'none.keras'} does not exist"]
    assert "Traceback" not in proc.stderr
