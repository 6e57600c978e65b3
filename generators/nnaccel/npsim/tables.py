"""hls4ml's softmax lookup tables, bit for bit: computed once by hls4ml's own init functions
(nnet::init_exp_table / init_invert_table, float exp and division in C++), compiled with g++
against the IP's nnet_utils, and cached by content like the C-simulation library."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .. import render
from ..csim import _compiler_version, ap_types_dir, cache_root
from ..errors import NnaccelError

CXXFLAGS = ["-O2", "-std=c++17", "-w"]  # the C-simulation's optimisation level and standard


def softmax_tables(ip_dir: Path, layer: dict) -> tuple[np.ndarray, np.ndarray]:
    """(exp table, inverse table) of a softmax layer from layers.json, as raw bit patterns (uint64)."""
    firmware = Path(ip_dir) / "hls" / "firmware"
    src = render.render(
        "npsim/softmax_tables.cpp.j2", name=layer["name"],
        exp_table_size=layer["exp_table_size"], inv_table_size=layer["inv_table_size"],
        exp_scale=layer["exp_scale"], exp_table_t=layer["exp_table_t"], inv_table_t=layer["inv_table_t"],
        inv_inp_t=layer["inv_inp_t"], negative=layer["implementation"] == "stable",
        exp_index_t=layer["inp_norm_t"] if layer["implementation"] == "stable" else layer["input"])
    h = hashlib.sha256(src.encode())
    for header in ("nnet_activation.h", "nnet_common.h"):
        h.update((firmware / "nnet_utils" / header).read_bytes())
    h.update(" ".join(CXXFLAGS).encode() + _compiler_version().encode() + str(ap_types_dir()).encode())
    cached = cache_root() / "npsim" / f"softmax-{h.hexdigest()[:20]}.json"
    if not cached.is_file():
        _compute(src, firmware, cached, layer["exp_table_size"])
    data = json.loads(cached.read_text())
    return np.array(data["exp"], dtype=np.uint64), np.array(data["inv"], dtype=np.uint64)


def _compute(src: str, firmware: Path, cached: Path, n_exp: int) -> None:
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nnaccel-npsim-") as tmp:
        cpp, exe = Path(tmp) / "tables.cpp", Path(tmp) / "tables"
        cpp.write_text(src)
        proc = subprocess.run(["g++", *CXXFLAGS, f"-I{firmware}", f"-I{ap_types_dir()}", str(cpp), "-o", str(exe)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise NnaccelError("g++ could not build the softmax tables for the numpy engine: "
                               + " | ".join(proc.stderr.strip().splitlines()[:3]))
        out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    vals = [int(v) for v in out]
    tmp_json = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp_json.write_text(json.dumps({"exp": vals[:n_exp], "inv": vals[n_exp:]}))
    os.replace(tmp_json, cached)
