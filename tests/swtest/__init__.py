"""Helpers of the software tests (tests/test_sw_*.py): a fake accelerator with the
C-simulation ABI for fast tests, real IPs of the small MLP for the integration tests,
host builds of the C driver / self-test (sw/Makefile), cached once per test process."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import zlib
from pathlib import Path

import sys

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SW = REPO / "sw"
if str(SW / "python") not in sys.path:  # the board-side driver package (sw/python/nnaccel_driver)
    sys.path.insert(0, str(SW / "python"))
HERE = Path(__file__).resolve().parent
PY = os.environ.get("NNACCEL_PYTHON") or str(REPO / ".venv" / "bin" / "python")

HLS = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
# one IP per data interface; the axi_lite one also covers fixed-point data words and float32 images
IP_SETTINGS = {
    "axi_master": dict(io_type="io_stream", interface="axi_master", bus_width=64),
    "axi_stream": dict(io_type="io_stream", interface="axi_stream", bus_width=64),
    "axi_lite": dict(io_type="io_parallel", interface="axi_lite", lite_max_batch=4, bus_width=64,
                     input_type="ap_fixed<16,6>", output_type="ap_fixed<16,6>", weight_format="float32"),
}
TB_SAMPLES = 12

_cache: dict = {}


def samples(n, shape=(16,), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def make(*targets, ip: Path, build: Path, header_flags: str = "--no-keras") -> None:
    proc = subprocess.run(["make", "-s", "-C", str(SW), *targets, f"IP={ip}", f"BUILD={build}",
                           f"HEADER_FLAGS={header_flags}", f"PY={PY}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def real_ip(kind: str, model_a: Path, root: Path) -> Path:
    """The small MLP (conftest.mlp_models A) as an IP with data interface `kind`, built once."""
    key = ("ip", kind, str(model_a))
    if key not in _cache:
        from conftest import make_ip

        out = root / f"sw-ip-{kind}"
        if not (out / "nnaccel.json").is_file():
            make_ip(model_a, out, hls=HLS, tb_samples=TB_SAMPLES, **IP_SETTINGS[kind])
        _cache[key] = out
    return _cache[key]


def host_tools(ip: Path, build: Path, csim: Path | None = None) -> dict:
    """nna_host, selftest and the csim library path for one IP (make, cached). With `csim`
    given (the fake accelerator) only nna_host is built."""
    key = ("tools", str(ip))
    if key not in _cache:
        if csim is None:
            make("host", "selftest", "csimlib", ip=ip, build=build)
            csim = Path((build / "csim_lib.txt").read_text().strip())
        else:
            make("host", ip=ip, build=build)
        _cache[key] = {"nna_host": build / "nna_host", "selftest": build / "selftest", "csim": csim,
                       "build": build, "ip": ip}
    return _cache[key]


def run_host(tools: dict, *ops, timeout=60) -> tuple[int, dict]:
    """Run nna_host; returns (exit status, {op index: parsed line})."""
    proc = subprocess.run([str(tools["nna_host"]), str(tools["csim"]), *map(str, ops)], capture_output=True,
                          text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if " rc=" in ln]
    assert lines and lines[0].startswith("init rc=0 "), proc.stdout + proc.stderr
    lines = lines[1:]
    parsed = []
    for ln in lines:
        op, rest = ln.split(" rc=", 1)
        fields = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv and not kv.startswith("("))
        parsed.append({"op": op, "rc": int(rest.split()[0]), "line": ln, **fields})
    return proc.returncode, parsed


def with_fingerprint(image: bytes, fp: int) -> bytes:
    """The same image claiming another layout (the header's own fields stay consistent)."""
    b = bytearray(image)
    b[8:12] = struct.pack("<I", fp)
    return bytes(b)


# ---------------------------------------------------------------------------
# the fake accelerator

FAKE_FP = 0x12345678
FAKE_IN, FAKE_OUT = 4, 3


def fake_image(bias: float, fp: int = FAKE_FP) -> bytes:
    payload = struct.pack("<4f", bias, 0, 0, 0)
    header = struct.pack("<IHHIHHIIII", 0x57414E4E, 1, 0, fp, 32, 32, len(payload), 4,
                         zlib.crc32(payload) & 0xFFFFFFFF, 0)
    return header + payload


def fake_ip(interface: str, root: Path) -> tuple[Path, Path]:
    """(IP directory, csim library) of the fake accelerator for one interface."""
    key = ("fake", interface)
    if key in _cache:
        return _cache[key]
    from nnaccel.regmap import ERRORS, IDENT, build_regmap

    lite = 2 if interface == "axi_lite" else 0
    d = root / f"fake-{interface}"
    d.mkdir(parents=True, exist_ok=True)
    word = {"type": "float", "cpp": "float", "bits": 32, "bytes": 4}
    desc = {"schema": 1, "top": "fake_accel", "vlnv": "nnaccel:hls:fake_accel:1.0", "interface": interface,
            "weights": "external", "weight_format": "native", "io_type": "io_parallel", "bus_width": 32,
            "n_inputs": FAKE_IN, "n_outputs": FAKE_OUT, "input_shape": [FAKE_IN], "output_shape": [FAKE_OUT],
            "input_word": word, "output_word": word, "lite_max_batch": lite or None, "fingerprint": FAKE_FP,
            "files": {"image": "weights.bin"}, "config": {}}
    regmap = build_regmap(interface, True, (lite or 1) * FAKE_IN * 4, (lite or 1) * FAKE_OUT * 4)
    sizes = {"payload_bits": 128, "payload_bytes": 16, "words": 4, "image_bytes": 48}
    layout = {"format_version": 1, "fingerprint": FAKE_FP, "bus_width": 32, "n_values": 4, "variables": [],
              "encodings": {"native": sizes, "float32": sizes}}
    for name, data in (("nnaccel.json", desc), ("regmap.json", regmap), ("weights_layout.json", layout)):
        (d / name).write_text(json.dumps(data, indent=1))
    (d / "weights.bin").write_bytes(fake_image(0.5))
    src = HERE / "fake_csim.c"
    flags = [f"-DN_IN={FAKE_IN}", f"-DN_OUT={FAKE_OUT}", f"-DFP={FAKE_FP:#x}", f"-DLITE_MAX={lite}",
             f"-DIDENT={IDENT:#x}", *(f"-DERR_{name}={code}" for name, code in ERRORS.items())]
    lib = d / ("libfake-" + hashlib.sha256(src.read_bytes() + " ".join(flags).encode()).hexdigest()[:12] + ".so")
    subprocess.run(["cc", "-std=c99", "-O1", "-shared", "-fPIC", *flags, "-o", str(lib), str(src)], check=True)
    _cache[key] = (d, lib)
    return d, lib


def fake_expected(x: np.ndarray, bias: float) -> np.ndarray:
    x = np.asarray(x, np.float32).reshape(-1, FAKE_IN)
    return (np.float32(2) * x[:, [j % FAKE_IN for j in range(FAKE_OUT)]] + np.float32(bias)).astype(np.float32)
