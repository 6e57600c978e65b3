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
