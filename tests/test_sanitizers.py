"""Memory and undefined-behaviour checks of our own C/C++ (issue 13): the C-simulation of a
small model of each data interface (csim bridge + accelerator top + hls4ml's myproject) and the
C driver with the simulated device, all built with -fsanitize=address,undefined, run once per
interface: no sanitizer report, and the same bits as the normal build."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from swtest import IP_SETTINGS, real_ip, samples, SW
from nnaccel.csim import CXXFLAGS, compile_command, run_csim

SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
REPORT = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")
# Xilinx's arbitrary-precision headers (shipped in hls4ml, not ours) shift negative values on
# purpose (ap_private::clearUnusedBits sign-extends with << then >>); their reports are
# suppressed by file, every other report fails the test (UB checks recover so all are seen).
THIRD_PARTY = ["shift-base:ap_types/", "shift-exponent:ap_types/", "signed-integer-overflow:ap_types/"]


@pytest.mark.parametrize("kind", list(IP_SETTINGS))
def test_bridge_top_and_c_driver_under_sanitizers(kind, mlp_models, tmp_path_factory, tmp_path):
    root = tmp_path_factory.getbasetemp()
    ip = real_ip(kind, mlp_models[0], root)
    build = tmp_path / "build"
    build.mkdir()
    lib = build / "csim-asan.so"
    flags = [f for f in CXXFLAGS if f != "-O2"] + ["-O1", *SANITIZE]
    proc = subprocess.run(compile_command(ip, lib, flags), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cflags = "-std=c99 -O1 -Wall -Wextra " + " ".join(SANITIZE)
    proc = subprocess.run(["make", "-s", "-C", str(SW), "host", f"IP={ip}", f"BUILD={build}", f"CFLAGS={cflags}",
                           "HEADER_FLAGS=--no-keras", f"PY={sys.executable}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    x = samples(9, seed=17)  # more than one axi_lite batch
    x.tofile(tmp_path / "x.f32")
    supp = tmp_path / "ubsan.supp"
    supp.write_text("\n".join(THIRD_PARTY) + "\n")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=99",
               UBSAN_OPTIONS=f"print_stacktrace=1:suppressions={supp}")
    proc = subprocess.run([str(build / "nna_host"), str(lib), "load", str(ip / "weights.bin"), "predict-f32",
                           str(tmp_path / "x.f32"), str(tmp_path / "y.f32")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert not any(r in proc.stderr for r in REPORT), proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    y = np.fromfile(tmp_path / "y.f32", dtype=np.float32)
    assert np.array_equal(y, run_csim(ip, x).reshape(-1))


def test_the_setup_reports_our_own_faults(tmp_path):
    """The flags and suppressions above still catch a heap overflow and a negative shift in a file
    of ours (the suppressions name only ap_types/)."""
    src = tmp_path / "bad.c"
    src.write_text("#include <stdlib.h>\nint main(int argc, char **argv) { (void)argv; int *p = malloc(4 * sizeof *p);\n"
                   "  int v = -argc; int s = v << 3; p[argc + 3] = s; int r = p[0]; free(p); return r & 0; }\n")
    supp = tmp_path / "ubsan.supp"
    supp.write_text("\n".join(THIRD_PARTY) + "\n")
    subprocess.run(["cc", "-O0", *SANITIZE, "-o", str(tmp_path / "bad"), str(src)], check=True)
    proc = subprocess.run([str(tmp_path / "bad")], capture_output=True, text=True,
                          env=dict(os.environ, UBSAN_OPTIONS=f"suppressions={supp}"))
    assert "runtime error: left shift of negative value" in proc.stderr
    assert "AddressSanitizer: heap-buffer-overflow" in proc.stderr and proc.returncode != 0
