"""A regular (non-editable) `pip install .` works without the checkout: the board database,
the sw/ sources and the templates come with the package, and nnaccel_driver is installed too.

The package is installed with `pip install --target` from a copy of the checkout (the build
writes build/ and egg-info there, not here). Dependencies come from this test's environment:
its site-packages on PYTHONPATH behind the install, with `python -S` so that no .pth file (the
editable install's points at generators/) adds the checkout. Every command runs in a directory
outside the checkout.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

TOP_LEVEL_SKIP = {".git", ".venv", ".cache", "build", "fusesoc_libraries", "work", ".pytest_cache"}
ANYWHERE_SKIP = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so", "*.o")


def _ignore(folder, names):
    skip = set(ANYWHERE_SKIP(folder, names))
    if Path(folder) == REPO:
        skip |= TOP_LEVEL_SKIP & set(names)
    return skip


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("install")
    src, site = root / "src", root / "site"
    shutil.copytree(REPO, src, ignore=_ignore)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "--target", str(site), str(src)],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.rmtree(src)
    return site


@pytest.fixture(scope="module")
def run(site, tmp_path_factory):
    work = tmp_path_factory.mktemp("outside")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work),
           "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]),
           "NNACCEL_CACHE": os.environ.get("NNACCEL_CACHE", str(work / "cache")), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow",
           "TF_ENABLE_ONEDNN_OPTS": "0"}

    def run(*args, code: str | None = None, module: str = "nnaccel", ok: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-S"] + (["-c", code] if code else ["-m", module]) + [str(a) for a in args]
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        assert (proc.returncode == 0) == ok, f"{cmd}: {proc.returncode} {proc.stderr[-3000:]}"
        return proc

    run.work = work
    return run


def test_imports_come_from_the_install(site, run):
    facts = json.loads(run(code="""
import json, sys
import nnaccel, nnaccel_driver
import edalize.tools.vitis_hls
from nnaccel import resources, swgen, render
print(json.dumps({"nnaccel": nnaccel.__file__, "driver": nnaccel_driver.__file__, "path": sys.path,
                  "edalize_plugin": edalize.tools.vitis_hls.__file__,
                  "boards": str(resources.boards_dir()), "sw": str(resources.sw_dir()),
                  "templates": str(render.TEMPLATES), "checkout": resources.checkout() is not None,
                  "baremetal": [str(swgen.SW_ROOT / f) for f in swgen.BAREMETAL_SOURCES]}))
""").stdout)
    for key in ("nnaccel", "driver", "edalize_plugin", "boards", "sw", "templates"):
        assert Path(facts[key]).is_relative_to(site), (key, facts[key])
    checkout_dirs = (REPO, REPO / "generators", REPO / "sw", REPO / "sw" / "python")
    assert not any(p and Path(p).resolve() in checkout_dirs for p in facts["path"]), facts["path"]
    assert facts["checkout"] is False
    assert all(Path(f).is_file() for f in facts["baremetal"])  # what write_vitis_app copies


def test_boards_listed(run):
    out = run("boards").stdout.splitlines()
    listed = {line.split()[0] for line in out[1:]}
    assert listed == {p.stem for p in (REPO / "boards").glob("*.yml")}
    assert len(listed) == 8
    assert "processing_system7" in run("boards", "pynq-z2").stdout  # boards/ps/ came along too


def test_demo_needs_the_checkout(run):
    proc = run(module="nnaccel.demo", ok=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "checkout" in proc.stderr and "Traceback" not in proc.stderr


def test_ip_csim_and_simulated_device(site, run):
    import keras

    work = run.work
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((8,), name="x"), keras.layers.Dense(6, name="fc1"),
                              keras.layers.Activation("relu", name="relu1"), keras.layers.Dense(3, name="fc2")])
    model.save(work / "m.keras")
    run("ip", "m.keras", "-o", "ip", "--set", "tb_samples=8", "--set", "board=pynq-z2")
    x = np.load(work / "ip" / "tb" / "tb_input.npy")
    expected = np.load(work / "ip" / "tb" / "tb_expected.npy")  # hls4ml's predict(), written by `nnaccel ip`
    run("csim", "ip", "--input", "ip/tb/tb_input.npy", "--output", "y.npy")
    assert np.array_equal(np.load(work / "y.npy"), expected.reshape(len(x), -1))
    run("header", "ip", "-o", "include", "--no-keras")
    assert {"nn_accel_model.h", "nna_selftest_data.h"} <= {p.name for p in (work / "include").iterdir()}
    # the simulated device builds from the sw/sim sources installed with the package
    proc = run(code="""
import numpy as np
from nnaccel_driver import sim
acc = sim.simulate("ip")
acc.load_weights()
np.save("y_sim.npy", acc.predict(np.load("ip/tb/tb_input.npy")))
print(sim.SIM_SOURCES)
""")
    assert Path(proc.stdout.strip()).is_relative_to(site)
    assert np.array_equal(np.load(work / "y_sim.npy").reshape(len(x), -1), expected.reshape(len(x), -1))


def test_install_carries_every_tracked_board_and_sw_file(site):
    """Against git's list of the repository's files: all of boards/ and sw/ (sw/python is the
    nnaccel_driver package), byte for byte."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout")
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "boards", "sw"], capture_output=True, text=True,
                             check=True).stdout.split()
    tracked = [f for f in tracked if not f.startswith("sw/python/")]
    assert len(tracked) > 20
    data = site / "nnaccel" / "_data"
    for f in tracked:
        assert (data / f).read_bytes() == (REPO / f).read_bytes(), f
    for f in (REPO / "sw" / "python" / "nnaccel_driver").glob("*.py"):
        assert (site / "nnaccel_driver" / f.name).read_bytes() == f.read_bytes(), f.name
