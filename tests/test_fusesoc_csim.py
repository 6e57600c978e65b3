"""`fusesoc run --target=csim nn_accel`: the generator runs, the IP is C-simulated on its
stored test vectors, and a mismatch with hls4ml's outputs fails the run."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def csim_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fusesoc-csim")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run(["fusesoc", "run", "--build-root", str(root / "build"), "--target=csim", "nn_accel"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    return proc, root


def test_csim_target_passes_bit_exact(csim_run):
    proc, _ = csim_run
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "200 samples, C-simulation vs hls4ml predict: bit-exact" in proc.stdout
    assert "accuracy of the C-simulated accelerator on 200 labelled samples" in proc.stdout


def test_check_fails_on_a_mismatch(csim_run, tmp_path):
    proc, root = csim_run
    ip = next((root / "build").rglob("nnaccel.json")).parent
    bad = tmp_path / "ip"
    shutil.copytree(ip, bad)
    expected = np.load(bad / "tb" / "tb_expected.npy")
    expected[7, 2] = np.nextafter(expected[7, 2], np.float32(2))
    np.save(bad / "tb" / "tb_expected.npy", expected)
    res = subprocess.run([sys.executable, "-m", "nnaccel", "check", str(bad)], capture_output=True, text=True)
    assert res.returncode == 1
    assert "1 samples DIFFER" in res.stdout


def test_csim_target_reports_a_crash_in_one_line(csim_run, tmp_path):
    """The target's own command (Edalize's Makefile) on a copy of its work directory whose model
    C++ aborts: the run fails, with nnaccel's one line saying why, and no Python traceback."""
    _, root = csim_run
    makefile = next(p for p in (root / "build").rglob("Makefile") if "nnaccel check" in p.read_text())
    work = tmp_path / "csim"
    shutil.copytree(makefile.parent, work)
    src = next(work.rglob("nnaccel.json")).parent / "hls" / "firmware" / "myproject.cpp"
    text = src.read_text()
    body = text.index(") {", text.index("void myproject(")) + 3
    src.write_text("#include <cstdlib>\n" + text[:body] + "\n    std::abort();\n" + text[body:])
    res = subprocess.run(["make", "-C", str(work)], capture_output=True, text=True, timeout=900)
    assert res.returncode != 0
    ours = [ln for ln in res.stderr.splitlines() if ln.startswith("nnaccel check")]
    assert len(ours) == 1 and "the compiled model was killed by SIGABRT" in ours[0], res.stderr
    assert "Traceback" not in res.stderr
