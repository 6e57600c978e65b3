"""Reference for ap_fixed-to-ap_fixed assignment: `S x = (double)v; D y = x;` compiled with g++
against the ap_types headers in the hls4ml wheel, for a list of (S, D) type pairs. The doubles are
exact values of S, so the first step is exact and the second is the conversion under test.
The binary is cached under the temp dir by the hash of its source, headers and compiler."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from cpp_cast import build_cached

_PROLOGUE = """\
#include <ap_fixed.h>
#include <ap_int.h>
#include <cstdio>
#include <cstdint>
#include <vector>

template <typename S, typename D, int W>
static void run(FILE* in, FILE* out, size_t n) {
  std::vector<double> v(n);
  if (fread(v.data(), 8, n, in) != n) return;
  std::vector<uint64_t> bits(n);
  for (size_t i = 0; i < n; ++i) {
    S x = v[i];
    D y = x;
    bits[i] = y.range(W - 1, 0).to_uint64();
  }
  fwrite(bits.data(), 8, n, out);
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  size_t n = (size_t)atol(argv[3]);
  FILE* in = fopen(argv[1], "rb");
  FILE* out = fopen(argv[2], "wb");
  if (!in || !out) return 3;
"""


def _binary(pairs) -> Path:
    body = "".join(f"  run<{s}, {d}, {w}>(in, out, n);\n" for s, d, w in pairs)
    return build_cached(_PROLOGUE + body + "  fclose(in);\n  fclose(out);\n  return 0;\n}\n", "cpp_fixed_cast")


def convert(pairs, values: list[np.ndarray]) -> list[np.ndarray]:
    """pairs: (S cpp, D cpp, D width); values: one float64 array per pair, all the same length.
    Returns the raw D bit patterns (uint64) per pair."""
    exe = _binary(pairs)
    n = len(values[0])
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(b"".join(np.ascontiguousarray(v, dtype=np.float64).tobytes() for v in values))
        subprocess.run([str(exe), str(fin), str(fout), str(n)], check=True, capture_output=True)
        data = np.frombuffer(fout.read_bytes(), dtype=np.uint64)
    assert data.size == n * len(pairs)
    return [data[k * n:(k + 1) * n].copy() for k in range(len(pairs))]
