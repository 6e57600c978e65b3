"""Reference for the quantiser: `T x = (double)v;` compiled with g++ against
the ap_types headers shipped in the hls4ml wheel.

One program converts every value to every requested type and writes the raw
bit pattern and `x.to_double()`.  The binary is cached under the temp dir by
the hash of its source, the header directory and the compiler, so it is built
once per set of types.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np


def ap_types_dir() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


def have_gxx() -> bool:
    return shutil.which("g++") is not None and ap_types_dir().is_dir()


_PROLOGUE = """\
#include <ap_fixed.h>
#include <ap_int.h>
#include <cstdio>
#include <cstdint>
#include <vector>

// Each value goes through the same constructor a C++ initialiser uses.
template <typename T, int W>
static void run(const std::vector<double>& in, FILE* out) {
  std::vector<uint64_t> bits(in.size());
  std::vector<double> real(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    T x = in[i];
    bits[i] = x.range(W - 1, 0).to_uint64();
    real[i] = x.to_double();
  }
  fwrite(bits.data(), 8, bits.size(), out);
  fwrite(real.data(), 8, real.size(), out);
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  FILE* f = fopen(argv[1], "rb");
  if (!f) return 3;
  std::vector<double> in;
  double v;
  while (fread(&v, 8, 1, f) == 1) in.push_back(v);
  fclose(f);
  FILE* out = fopen(argv[2], "wb");
  if (!out) return 4;
"""


def _source(types: list[tuple[str, int]]) -> str:
    body = "".join(f"  run<{cpp}, {w}>(in, out);\n" for cpp, w in types)
    return _PROLOGUE + body + "  fclose(out);\n  return 0;\n}\n"


def _binary(types: list[tuple[str, int]]) -> Path:
    return build_cached(_source(types), "cpp_cast")


def build_cached(src: str, kind: str) -> Path:
    """A g++ build of `src` against the ap_types headers, cached by content (source, headers, compiler)."""
    inc = ap_types_dir()
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256("\0".join([src, str(inc), gxx]).encode()).hexdigest()[:20]
    cache = Path(tempfile.gettempdir()) / "nnaccel-test-cache" / kind
    exe = cache / f"cast_{key}"
    if exe.is_file():
        return exe
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cpp = Path(tmp) / "cast.cpp"
        cpp.write_text(src)
        out = Path(tmp) / "cast"
        subprocess.run(["g++", "-O1", "-w", f"-I{inc}", str(cpp), "-o", str(out)], check=True,
                       capture_output=True, text=True)
        os.replace(out, exe)  # atomic: concurrent test workers never see half a binary
    return exe


def cast(types: list[tuple[str, int]], values: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{cpp type: (raw bits uint64, to_double float64)} for `values` (float64) converted to each
    (cpp spelling, width) in `types`."""
    exe = _binary(types)
    values = np.ascontiguousarray(values, dtype=np.float64)
    n = values.size
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(values.tobytes())
        subprocess.run([str(exe), str(fin), str(fout)], check=True, capture_output=True)
        data = fout.read_bytes()
    assert len(data) == 16 * n * len(types)
    result = {}
    for k, (cpp, _) in enumerate(types):
        chunk = data[16 * n * k: 16 * n * (k + 1)]
        result[cpp] = (np.frombuffer(chunk[: 8 * n], dtype=np.uint64).copy(),
                       np.frombuffer(chunk[8 * n:], dtype=np.float64).copy())
    return result
