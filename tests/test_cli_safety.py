"""Issue 7: never lose a user's file, and a command line that behaves like a Unix tool.

Output safety is checked against the file system itself (byte snapshots of the directories
before and after), the help and version against argparse's own structures and the package
metadata, exit codes against the convention documented in README.md."""
from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, make_ip
from nnaccel.cli import main, parser
from nnaccel.progress import Progress

NNACCEL = [sys.executable, "-m", "nnaccel"]
FAST = ["--set", "tb_samples=0"]  # no hls4ml compile: conversion only


def snapshot(root: Path) -> dict:
    """Every entry under root (hidden ones too): file bytes, or None for a directory."""
    return {p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes())
            for p in sorted(Path(root).rglob("*"))}


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err.strip()


def assert_one_error_line(rc, err, prog, *needles):
    assert rc == 1, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), err
    for n in needles:
        assert n in lines[0], err


@pytest.fixture
def workdir(tmp_path, mlp_models):
    """A directory a user works in: their model and a file of theirs."""
    d = tmp_path / "work"
    d.mkdir()
    shutil.copy(mlp_models[0], d / "model.keras")
    (d / "notes.txt").write_text("my notes\n")
    return d


# -- output directories ------------------------------------------------------------------------

@pytest.mark.parametrize("force", [[], ["--force"]])
def test_output_dot_is_refused_and_nothing_changes(capsys, workdir, monkeypatch, force):
    monkeypatch.chdir(workdir)
    before = snapshot(workdir)
    rc, out, err = run(capsys, "ip", "model.keras", "-o", ".", *force, *FAST)
    assert_one_error_line(rc, err, "nnaccel ip", ".", "current directory")
    assert snapshot(workdir) == before  # byte-identical, and nothing new (no staging directory)


def test_parent_of_cwd_is_refused(capsys, workdir, monkeypatch):
    (workdir / "sub").mkdir()
    monkeypatch.chdir(workdir / "sub")
    before = snapshot(workdir)
    rc, _, err = run(capsys, "ip", "../model.keras", "-o", "..", "--force", *FAST)
    assert_one_error_line(rc, err, "nnaccel ip", "current directory")
    assert snapshot(workdir) == before


def test_force_never_replaces_a_directory_holding_the_inputs(capsys, workdir, tmp_path):
    before = snapshot(workdir)
    rc, _, err = run(capsys, "ip", workdir / "model.keras", "-o", workdir, "--force", *FAST)
    assert_one_error_line(rc, err, "nnaccel ip", str(workdir), "holds the input")
    # the configuration file is an input too
    cfg = workdir / "cfg.yml"
    cfg.write_text("interface: axi_stream\n")
    before = snapshot(workdir)
    rc, _, err = run(capsys, "ip", tmp_path / "elsewhere.keras", "--config", cfg, "-o", workdir, "--force", *FAST)
    assert_one_error_line(rc, err, "nnaccel ip", "holds the input", "cfg.yml")
    assert snapshot(workdir) == before


def test_foreign_directory_refused_unless_force(capsys, tmp_path, mlp_models):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "thesis.tex").write_text("chapter 1\n")
    # a description file without nnaccel's keys is not ours either
    (out / "nnaccel.json").write_text(json.dumps({"name": "something else"}))
    before = snapshot(out)
    rc, _, err = run(capsys, "ip", mlp_models[0], "-o", out, *FAST)
    assert_one_error_line(rc, err, "nnaccel ip", str(out), "--force")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs"]

    rc, _, err = run(capsys, "ip", mlp_models[0], "-o", out, "--force", *FAST)
    assert rc == 0, err
    assert not (out / "thesis.tex").exists()
    assert json.loads((out / "nnaccel.json").read_text())["nnaccel_version"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs"]  # no staging or old copy left


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_file_where_the_ip_directory_goes_is_refused(capsys, tmp_path, mlp_models, force):
    f = tmp_path / "afile.txt"
    f.write_text("keep me\n")
    rc, _, err = run(capsys, "ip", mlp_models[0], "-o", f, *force, *FAST)
    assert_one_error_line(rc, err, "nnaccel ip", str(f), "not a directory")
    assert f.read_text() == "keep me\n"
    assert [p.name for p in tmp_path.iterdir()] == ["afile.txt"]


def test_rerun_replaces_own_output_with_progress_lines(capsys, tmp_path, mlp_models):
    out = tmp_path / "ip"
    out.mkdir()  # an empty directory is fine too
    rc, stdout, err = run(capsys, "ip", mlp_models[0], "-o", out, *FAST)
    assert rc == 0 and err == "", err
    desc = json.loads((out / "nnaccel.json").read_text())
    lines = stdout.splitlines()
    assert re.fullmatch(r"nnaccel ip: converting with hls4ml \.\.\. done in \d+\.\d s", lines[0]), stdout
    wrote = next(line for line in lines if line.startswith("nnaccel: wrote"))
    assert f"fingerprint 0x{desc['fingerprint']:08X}" in wrote
    (out / "stale.txt").write_text("left by an older run\n")

    rc, stdout, err = run(capsys, "ip", mlp_models[1], "-o", out, "--quiet", *FAST)
    assert rc == 0 and err == "", err
    assert "converting" not in stdout and "nnaccel: wrote" in stdout
    assert not (out / "stale.txt").exists()  # replaced as a whole
    assert (out / "nnaccel.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ip"]


def test_failed_run_takes_back_the_parents_it_made(capsys, tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip file")  # fails inside the conversion, after staging began
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, "ip", junk, "-o", tmp_path / "new" / "deep" / "ip", *FAST)
    assert_one_error_line(rc, err, "nnaccel ip", "junk.keras")
    assert snapshot(tmp_path) == before


# -- output files ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ip_dir(mlp_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("safety") / "ip"
    make_ip(mlp_models[0], out, io_type="io_parallel", interface="axi_master", tb_samples=4)
    return out


def test_output_file_that_is_a_directory_is_refused(capsys, tmp_path, ip_dir, mlp_models):
    d = tmp_path / "adir"
    d.mkdir()
    (d / "inside.txt").write_text("x")
    np.save(tmp_path / "x.npy", np.zeros((2, 16), np.float32))
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, "weights", mlp_models[1], "--layout", ip_dir, "-o", d)
    assert_one_error_line(rc, err, "nnaccel weights", str(d), "is a directory")
    rc, _, err = run(capsys, "csim", ip_dir, "--input", tmp_path / "x.npy", "--output", d)
    assert_one_error_line(rc, err, "nnaccel csim", str(d), "is a directory")
    assert snapshot(tmp_path) == before


def test_output_file_replaces_a_file_but_not_an_input(capsys, tmp_path, ip_dir, mlp_models):
    img = tmp_path / "w.bin"
    img.write_bytes(b"old")
    rc, _, err = run(capsys, "weights", mlp_models[1], "--layout", ip_dir, "-o", img)
    assert rc == 0, err
    assert img.read_bytes()[:4] != b"old" and len(img.read_bytes()) > 32
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 16), np.float32))
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, "csim", ip_dir, "--input", x, "--output", x)
    assert_one_error_line(rc, err, "nnaccel csim", "also an input")
    assert snapshot(tmp_path) == before


def test_header_writes_only_its_own_files(capsys, tmp_path, ip_dir):
    out = tmp_path / "include"
    out.mkdir()
    (out / "mine.h").write_text("#define MINE 1\n")
    (out / "nna_selftest_data.h").write_text("old generated header\n")
    rc, _, err = run(capsys, "header", ip_dir, "-o", out, "--no-keras")
    assert rc == 0, err
    assert (out / "mine.h").read_text() == "#define MINE 1\n"
    assert "old generated" not in (out / "nna_selftest_data.h").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["mine.h", "nn_accel_model.h", "nna_selftest_data.h"]
    # a file where the directory goes, a directory where a header goes: refused, nothing touched
    (out / "sub").mkdir()
    (out / "sub" / "nn_accel_model.h").mkdir()
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, "header", ip_dir, "-o", out / "mine.h", "--no-keras")
    assert_one_error_line(rc, err, "nnaccel header", "mine.h", "not a directory")
    rc, _, err = run(capsys, "header", ip_dir, "-o", out / "sub", "--no-keras")
    assert_one_error_line(rc, err, "nnaccel header", "nn_accel_model.h", "is a directory")
    assert snapshot(tmp_path) == before


# -- I/O errors: one line, exit 1, nothing left behind (these fail for root as well) ----------------

def test_output_under_a_file_is_one_line(capsys, tmp_path, mlp_models, ip_dir):
    f = tmp_path / "plain"
    f.write_text("x")
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, "ip", mlp_models[0], "-o", f / "ip", *FAST)
    assert_one_error_line(rc, err, "nnaccel ip", str(f / "ip"), os.strerror(20))  # ENOTDIR
    rc, _, err = run(capsys, "weights", mlp_models[1], "--layout", ip_dir, "-o", f / "w.bin")
    assert_one_error_line(rc, err, "nnaccel weights", os.strerror(20))
    assert snapshot(tmp_path) == before


def test_output_in_a_directory_nobody_may_write(capsys, tmp_path, mlp_models):
    sysfs = Path("/sys")
    if not sysfs.is_dir():
        pytest.skip("no /sys")
    target = sysfs / "nnaccel-test-output" / "ip"
    rc, _, err = run(capsys, "ip", mlp_models[0], "-o", target, *FAST)
    assert_one_error_line(rc, err, "nnaccel ip", "nnaccel-test-output", "cannot create")
    assert not target.parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_read_only_parent(capsys, tmp_path, mlp_models):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = run(capsys, "ip", mlp_models[0], "-o", ro / "ip", *FAST)
        assert_one_error_line(rc, err, "nnaccel ip", str(ro / "ip"), os.strerror(13))
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# -- modes follow the umask ------------------------------------------------------------------------

@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_outputs_follow_the_umask(capsys, tmp_path, mlp_models, mask, file_mode, dir_mode):
    old = os.umask(mask)
    try:
        rc, _, err = run(capsys, "ip", mlp_models[0], "-o", tmp_path / "ip", *FAST)
        assert rc == 0, err
        rc, _, err = run(capsys, "weights", mlp_models[1], "--layout", tmp_path / "ip", "-o", tmp_path / "w.bin")
        assert rc == 0, err
    finally:
        os.umask(old)
    paths = [tmp_path / "ip", *(tmp_path / "ip").rglob("*"), tmp_path / "w.bin"]
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in paths}
    assert len(modes) > 10
    wrong = {k: oct(m) for k, m in modes.items() if m != (dir_mode if (tmp_path / k).is_dir() else file_mode)}
    assert wrong == {}


# -- signals -------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_ip_leaves_previous_output_and_no_staging(tmp_path, mlp_models, sig, code):
    out = tmp_path / "ip"
    make_ip(mlp_models[0], out)
    (tmp_path / "tmp").mkdir()  # the process's TMPDIR: hls4ml's scratch project must go too
    before = snapshot(tmp_path)
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    proc = subprocess.Popen([*NNACCEL, "ip", str(mlp_models[1]), "-o", str(out), "--set", "tb_samples=50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".ip.") for p in tmp_path.iterdir()):  # staging has begun
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(1.0)  # into the hls4ml conversion
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before  # the previous IP intact, no staging or scratch directory


# -- the command line ------------------------------------------------------------------------

def _subparsers(p: argparse.ArgumentParser) -> dict:
    action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _positionals(sp) -> list[str]:
    return [a.dest for a in sp._actions if not a.option_strings and a.required and a.nargs is None]


def test_every_subcommand_answers_help_in_every_position(capsys):
    subs = _subparsers(parser())
    assert {"ip", "weights", "csim", "check", "boards", "header", "port-qkeras"} <= set(subs)
    for name, sp in subs.items():
        fill = ["x"] * len(_positionals(sp))
        for argv in ([name, "--help"], [name, "-h"], [name, *fill, "--help"], ["help", name]):
            with pytest.raises(SystemExit) as e:
                if main(argv) == 0:  # `help NAME` returns instead of exiting
                    raise SystemExit(0)
            assert e.value.code == 0, argv
            out = capsys.readouterr().out
            assert out.startswith(f"usage: nnaccel {name} "), (argv, out[:200])
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: nnaccel ") and all(name in out for name in subs)


def test_every_option_has_help_text():
    p = parser()
    for name, sp in _subparsers(p).items():
        for a in sp._actions:
            assert a.help and a.help != argparse.SUPPRESS, f"nnaccel {name}: {a.option_strings or a.dest}"


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"nnaccel {importlib.metadata.version('nnaccel')}"


def test_exit_codes(capsys, tmp_path, mlp_models):
    for argv in ([], ["ip"], ["ip", "m.keras"], ["nosuch"], ["ip", "m.keras", "-o", "x", "--bogus"],
                 ["weights", "m", "--layout", "d", "-o", "o", "--format", "int4"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2, argv  # usage
    capsys.readouterr()
    rc, _, err = run(capsys, "ip", mlp_models[0], "-o", tmp_path / "o", "--set", "interface=pcie")
    assert_one_error_line(rc, err, "nnaccel ip", "pcie")  # validation
    rc, _, err = run(capsys, "boards", "nosuch")
    assert_one_error_line(rc, err, "nnaccel boards", "nosuch")


# -- progress ------------------------------------------------------------------------------------

def test_progress_on_a_terminal_and_off_it():
    s = io.StringIO()
    p = Progress("nnaccel csim", stream=s, tty=True)
    with p.step("simulating 3 samples"):
        update = p.bar("simulating", 3)
        update(1)
        update(3)
    text = s.getvalue()
    assert text.startswith("nnaccel csim: simulating 3 samples ... ")
    assert "[##########....................] 1/3" in text
    assert re.search(r"\r\x1b\[Knnaccel csim: simulating 3 samples \.\.\. done in \d+\.\d s\n$", text), text
    for quiet, tty in ((True, True), (False, False)):
        s = io.StringIO()
        p = Progress("nnaccel csim", stream=s, tty=tty, quiet=quiet)
        p.bar("simulating", 2)(2)
        assert s.getvalue() == ""  # bars only on a terminal, nothing at all when quiet


def test_chunked_simulation_for_the_bar_is_the_same(ip_dir):
    from nnaccel import csim

    x = np.random.default_rng(5).standard_normal((csim.PROGRESS_CHUNK * 2 + 7, 16)).astype(np.float32)
    seen = []
    whole = csim.run_csim(ip_dir, x)
    chunked = csim.CsimAccelerator(ip_dir)
    chunked.load_weights((ip_dir / "weights.bin").read_bytes())
    y = chunked.predict(x, progress=seen.append)
    # three starts of at most PROGRESS_CHUNK samples, reported as they finish (workers run in parallel)
    assert len(seen) == 3 and seen[-1] == len(x) and seen == sorted(seen)
    assert max(np.diff([0, *seen])) <= csim.PROGRESS_CHUNK
    assert np.array_equal(y, whole)
