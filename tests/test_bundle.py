"""`nnaccel bundle BUILD_DIR -o DIR` on a fake board build: the work root a board build leaves
(the zynq_bd generator's output under src/<core>/, <core>.bit/.hwh/.xsa written by Vivado,
the self-test .elf in the Vitis workspace under vitis/<accel>/; tests/fake_tools writes the
same files) with real IP directories. The bundle's files are compared with the build's,
byte for byte; its driver wheel is installed and imported; bad input changes nothing."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import make_ip

CORE = "me_demo_mysoc_0.1.0"  # FuseSoC names the bitstream after the core, not the design
DESIGN = "mysoc"


@pytest.fixture(scope="module")
def fake_build(tmp_path_factory, mlp_models):
    from nnaccel.bd import generate

    root = tmp_path_factory.mktemp("bundle")
    ips = {}
    for name, interface in (("acc", "axi_master"), ("strm", "axi_stream")):
        ips[name] = root / "ips" / name
        make_ip(mlp_models[0], ips[name], board="ultra96v2", interface=interface, top=f"{name}_top")
    work = root / "build" / "me_demo_mysoc_0.1.0" / "ultra96v2"
    generate({"board": "ultra96v2", "design": DESIGN,
              "accelerators": [{"ip": str(ips["acc"]), "name": "acc"}, {"ip": str(ips["strm"]), "name": "strm"}]},
             work / "src" / CORE)
    for ext in (".bit", ".hwh", ".xsa"):
        (work / f"{CORE}{ext}").write_bytes(f"fake {ext} of {CORE}\n".encode())
    # the self-test of acc only: strm's was skipped (e.g. tb_samples: 0)
    elf = work / "vitis" / "acc" / "vitis_ws" / "acc_selftest" / "build" / "acc_selftest.elf"
    elf.parent.mkdir(parents=True)
    elf.write_bytes(b"\x7fELF fake")
    return work, ips


def _bundle(*args, path=None):
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "nnaccel", "bundle", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


def _tree(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def bundled(fake_build, tmp_path_factory):
    work, ips = fake_build
    out = tmp_path_factory.mktemp("out") / "deploy"
    p = _bundle(work, "-o", out, path=f"{Path(sys.executable).parent}:/usr/bin:/bin")  # no dtc here
    assert p.returncode == 0, p.stderr
    return out, p


def test_bundle_holds_the_build_files_named_after_the_design(fake_build, bundled):
    work, ips = fake_build
    out, p = bundled
    b = out / DESIGN
    for ext in (".bit", ".hwh", ".xsa"):
        assert (b / f"{DESIGN}{ext}").read_bytes() == (work / f"{CORE}{ext}").read_bytes()
    (summary,) = (work / "src" / CORE).glob(f"{DESIGN}.json")
    assert (b / f"{DESIGN}.json").read_bytes() == summary.read_bytes()
    for name, ip in ips.items():
        desc = json.loads((ip / "nnaccel.json").read_text())
        expected = ["nnaccel.json", "regmap.json", "weights_layout.json", "weights.bin",
                    f"{desc['top']}_regs.h", f"{desc['top']}_model.h"]
        for f in expected:
            assert (b / name / f).read_bytes() == (ip / f).read_bytes(), f
        assert (b / name / f"{name}.dtso").read_bytes() == (work / "src" / CORE / f"{name}.dtso").read_bytes()
        assert not (b / name / f"{name}.dtbo").exists()  # no dtc on PATH
    assert (b / "acc" / "acc_selftest.elf").read_bytes() == b"\x7fELF fake"
    assert not list((b / "strm").glob("*.elf"))
    assert str(b) in p.stdout and str(out / f"{DESIGN}.tar.gz") in p.stdout


def test_readme_says_how_to_install_and_run(bundled):
    out, _ = bundled
    readme = (out / DESIGN / "README.md").read_text()
    (wheel,) = (out / DESIGN).glob("*.whl")
    lines = readme.splitlines()
    start = lines.index(f"tar xzf {DESIGN}.tar.gz && cd {DESIGN}")
    assert lines[start + 1] == f"pip install {wheel.name}"
    assert lines[start + 2] == ('python3 -c "from pynq import Overlay; import numpy as np; '
                                f"print(Overlay('{DESIGN}.bit').acc.predict(np.zeros((1, 16))))\"")
    assert lines[start + 3] == "```"
    assert f'NnAccelOverlay("{DESIGN}.bit")' in readme
    assert "no self-test application for `strm`" in readme
    assert f"dtc -@ -I dts -O dtb -o strm.dtbo strm.dtso" in readme


def test_manifest_lists_every_file_with_its_sha256(bundled):
    out, _ = bundled
    b = out / DESIGN
    manifest = json.loads((b / "bundle.json").read_text())
    files = {k: v for k, v in _tree(b).items() if k != "bundle.json"}
    assert manifest["files"] == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


def test_archive_holds_the_same_files_under_the_design_name(bundled):
    out, _ = bundled
    tree = _tree(out / DESIGN)
    with tarfile.open(out / f"{DESIGN}.tar.gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        assert all(m.uid == 0 and m.uname == "" for m in tar.getmembers())
    assert members == {f"{DESIGN}/{k}": v for k, v in tree.items()}


def test_driver_wheel_installs_and_imports(bundled, tmp_path):
    out, _ = bundled
    (wheel,) = (out / DESIGN).glob("nnaccel_driver-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Name: nnaccel-driver" in meta and "Requires-Dist: numpy" in meta
    assert "nnaccel_driver/pynq_driver.py" in names and not any("__pycache__" in n for n in names)
    target = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                        "--disable-pip-version-check", "--target", str(target), str(wheel)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    code = "import nnaccel_driver, nnaccel_driver.core, nnaccel_driver.description; print(nnaccel_driver.__file__)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(target)})
    assert p.returncode == 0, p.stderr
    assert Path(p.stdout.strip()).parent == target / "nnaccel_driver"


def test_dtc_compiles_the_overlays_when_installed(fake_build, tmp_path):
    work, _ = fake_build
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    (fakebin / "dtc").write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/calls"\n'
                                 'while [ "$1" != "-o" ]; do shift; done; echo dtb > "$2"\n')
    (fakebin / "dtc").chmod(0o755)
    p = _bundle(work, "-o", tmp_path / "out", path=f"{fakebin}:{Path(sys.executable).parent}:/usr/bin:/bin")
    assert p.returncode == 0, p.stderr
    calls = (fakebin / "calls").read_text().splitlines()
    assert len(calls) == 2 and all(c.startswith("-@ -q -I dts -O dtb -o ") for c in calls)
    for name in ("acc", "strm"):
        assert (tmp_path / "out" / DESIGN / name / f"{name}.dtbo").read_text() == "dtb\n"
    readme = (tmp_path / "out" / DESIGN / "README.md").read_text()
    assert "`strm/strm.dtbo` (from `strm.dtso`)" in readme


def test_rerun_replaces_its_own_bundle(fake_build, tmp_path):
    work, _ = fake_build
    out = tmp_path / "out"
    assert _bundle(work, "-o", out).returncode == 0
    (work / f"{CORE}.bit").write_bytes(b"new bitstream")
    try:
        p = _bundle(work, "-o", out)
    finally:
        (work / f"{CORE}.bit").write_bytes(f"fake .bit of {CORE}\n".encode())
    assert p.returncode == 0, p.stderr
    assert (out / DESIGN / f"{DESIGN}.bit").read_bytes() == b"new bitstream"


def _refused(p, message):
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    assert message in p.stderr, p.stderr


def test_a_dry_run_build_is_refused_and_nothing_is_written(fake_build, tmp_path):
    work, _ = fake_build
    dry = tmp_path / "dry"
    (dry / "src").mkdir(parents=True)
    for f in (work / "src").rglob("*"):
        if f.is_file():
            (dry / f.relative_to(work)).parent.mkdir(parents=True, exist_ok=True)
            (dry / f.relative_to(work)).write_bytes(f.read_bytes())
    p = _bundle(dry, "-o", tmp_path / "out")
    _refused(p, "no bitstream (*.bit): the build has not finished, or was a dry run")
    assert not (tmp_path / "out").exists()
    _refused(_bundle(tmp_path / "nothing", "-o", tmp_path / "out"), "is not a directory")
    _refused(_bundle(tmp_path, "-o", tmp_path / "out"), "no block-design summary")


def test_a_foreign_directory_or_archive_is_never_replaced(fake_build, tmp_path):
    work, _ = fake_build
    out = tmp_path / "out"
    (out / DESIGN).mkdir(parents=True)
    (out / DESIGN / "notes.txt").write_text("mine")
    _refused(_bundle(work, "-o", out), "is a directory of files nnaccel did not write")
    assert _tree(out) == {f"{DESIGN}/notes.txt": b"mine"}
    out2 = tmp_path / "out2"
    out2.mkdir()
    (out2 / f"{DESIGN}.tar.gz").write_bytes(b"someone's archive")
    _refused(_bundle(work, "-o", out2), "was not written by nnaccel bundle")
    assert _tree(out2) == {f"{DESIGN}.tar.gz": b"someone's archive"}
