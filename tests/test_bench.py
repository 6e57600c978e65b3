"""`make bench` in small: the benchmark runs end to end on both example models and its own
bit-exactness check (each engine against hls4ml's predict() of the same run) passes. Speed is
not asserted: the ratios depend on the machine and its load."""
from __future__ import annotations

import importlib.util
import re

from conftest import REPO


def _bench_module():
    spec = importlib.util.spec_from_file_location("nnaccel_bench", REPO / "benchmarks" / "bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_smoke(tmp_path, capsys):
    out = tmp_path / "results.md"
    rc = _bench_module().main(["--jet-samples", "300", "--cnn-samples", "120", "-o", str(out),
                               "--work", str(tmp_path / "work")])
    text = out.read_text()
    assert rc == 0, capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| jet MLP") or line.startswith("| digits CNN")]
    assert len(rows) == 2
    for row in rows:
        assert row.endswith("c: yes; numpy: yes |")
        assert len(re.findall(r"\| [0-9.]+x \|", row)) == 2  # the two ratios
    assert "| jet MLP (16-64-32-32-5, 6-bit, softmax) | 300 |" in text
    assert "cores: " in text and "hls4ml: 1.3" in text and "g++" in text
