"""`fusesoc run --setup --target=<board> nn_accel` for every board, with the generated
scripts (the real HLS script, the IP repository script, the block design) run through
the Tcl model and tclint; `--build` without vendor tools stops at once naming the
tool; EDALIZE_LAUNCHER=echo shows HLS -> Vivado -> handoff -> Vitis; setup writes the
Vitis self-test application; the two-accelerator example sets up."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnaccel import boards
from tclmodel import run as run_model
from tclmodel.harness import installed_board_parts

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TCLINT = [str(BIN / "tclint"), "--style-line-length", "130"]


def _fusesoc(args, build_root: Path, env_extra=None, timeout=600):
    if "zynq_bd:" not in (REPO / "generators" / "generators.core").read_text() \
            and not os.environ.get("NNACCEL_TEST_EXTRA_CORES"):
        pytest.skip("generators/generators.core does not declare zynq_bd yet")
    extra = os.environ.get("NNACCEL_TEST_EXTRA_CORES")
    cmd = [str(BIN / "fusesoc")] + (["--cores-root", extra] if extra else []) + \
        ["run", "--build-root", str(build_root)] + args
    env = {k: v for k, v in os.environ.items() if k != "EDALIZE_LAUNCHER"}
    env["PATH"] = f"{BIN}:/usr/bin:/bin"  # no vendor tools on PATH (unless env_extra puts stand-ins there)
    env.update(env_extra or {})
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _check_work_root(work: Path, design: str):
    """Run what the Makefile would run, through the model; lint every generated script."""
    (src,) = [d for d in (work / "src").iterdir() if (d / f"{design}_bd.tcl").is_file()]
    hls = sorted(src.glob("ip/*/hls/build_hls.tcl"))
    descs = [json.loads(p.read_text()) for p in sorted(src.glob("ip/*/nnaccel.json"))]
    (repo_tcl,) = work.glob("*_ip_repo.tcl")
    d = run_model(vivado_scripts=[repo_tcl, src / f"{design}_bd.tcl"], hls_scripts=hls, ip_descs=descs,
                  board_parts=installed_board_parts(), cwd=work)
    assert d.value("wrapper") == f"{design}_wrapper"
    assert sorted(d.exports) == sorted(x["vlnv"] for x in descs)
    (handoff,) = work.glob("*_handoff.tcl")
    p = subprocess.run(TCLINT + [str(src / f"{design}_bd.tcl"), str(repo_tcl), str(handoff)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout
    return d


@pytest.mark.parametrize("board", boards.list_boards())
def test_setup_every_board(tmp_path, board):
    p = _fusesoc(["--setup", f"--target={board}", "nn_accel"], tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    (work,) = tmp_path.glob(f"*/{board}")
    make = (work / "Makefile").read_text()
    assert "vitis_hls -f" in make and "_handoff.tcl" in make
    d = _check_work_root(work, "nn_system")
    assert d.project["part"] == boards.load_board(board).part


def test_build_without_tools_names_the_missing_tool(tmp_path):
    p = _fusesoc(["--build", "--target=pynq-z2", "nn_accel"], tmp_path)
    assert p.returncode != 0
    assert "vitis_hls not found on PATH" in p.stderr and "Error 127" not in p.stderr + p.stdout


def test_dry_run_shows_hls_vivado_handoff(tmp_path):
    p = _fusesoc(["--target=ultra96v2", "nn_accel"], tmp_path, env_extra={"EDALIZE_LAUNCHER": "echo"})
    assert p.returncode == 0, p.stderr[-2000:]
    calls = [line.split()[0] for line in p.stdout.splitlines() if line.startswith(("vitis_hls ", "vivado "))]
    assert calls[0] == "vitis_hls" and calls.count("vivado") == 3
    handoff = [line for line in p.stdout.splitlines() if line.startswith("vivado ")][-1]
    assert "_handoff.tcl" in handoff
    assert "nn_accel: outputs in" in p.stdout
    # Vitis builds the self-test from the handoff's .xsa, after it; the report names the .elf.
    lines = p.stdout.splitlines()
    (vitis,) = [i for i, line in enumerate(lines) if line.startswith("vitis -s ")]
    assert vitis > lines.index(handoff)
    assert lines[vitis].split()[2:] == ["vitis/nn_accel/build_selftest.py", handoff.split()[-1][:-4] + ".xsa"]
    assert any(line.strip().startswith("self-test application:") and line.endswith("nn_accel_selftest.elf")
               for line in lines)
    # then the bundle, once, through the launcher like every other step (a dry run writes nothing)
    bundle = [i for i, line in enumerate(lines) if line.startswith("echo ") and " -m nnaccel bundle . -o bundle" in line]
    assert len(bundle) == 1 and bundle[0] > vitis
    assert lines.count(handoff) == 1
    (work,) = tmp_path.glob("*/ultra96v2")
    assert not (work / "bundle").exists()


def test_setup_writes_vitis_selftest_app(tmp_path):
    """--build with Vitis HLS and Vivado (stand-ins) but no Vitis: setup wrote the application
    (scripts, sources, headers with this design's addresses), then the build stops naming vitis."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for tool in ("vitis_hls", "vivado"):
        (fake / tool).write_text("#!/bin/sh\nexit 1\n")
        (fake / tool).chmod(0o755)
    p = _fusesoc(["--build", "--target=pynq-z2", "nn_accel"], tmp_path / "build",
                 env_extra={"PATH": f"{fake}:{BIN}:/usr/bin:/bin"})
    assert p.returncode != 0
    assert "vitis not found on PATH" in p.stderr and "vitis_command: xsct" in p.stderr
    (work,) = (tmp_path / "build").glob("*/pynq-z2")
    app = work / "vitis" / "nn_accel"
    script = (app / "build_selftest.py").read_text()
    compile(script, "build_selftest.py", "exec")
    assert '"ps7_cortexa9_0"' in script
    (summary,) = work.glob("src/*/nn_system.json")
    base = json.loads(summary.read_text())["control"][0]["offset"]
    assert f'"NNA_ACCEL_BASEADDR=0x{base:X}"' in script
    assert (app / "src" / "nna_selftest_data.h").is_file() and (app / "src" / "selftest.c").is_file()
    lint = subprocess.run(TCLINT + [str(app / "build_selftest.tcl")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    make = (work / "Makefile").read_text()
    assert "vitis -s vitis/nn_accel/build_selftest.py " in make
    # the build ends with the board bundle, made from the self-test .elf and the handoff
    assert "post_build: bundle/nn_system.tar.gz" in make
    (rule,) = [line for line in make.splitlines() if line.startswith("bundle/nn_system.tar.gz:")]
    assert "vitis/nn_accel/vitis_ws/nn_accel_selftest/build/nn_accel_selftest.elf" in rule.split()


def test_two_accelerator_example_sets_up(tmp_path):
    p = _fusesoc(["--setup", "--target=pynq-z2", "two_accel"], tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    (work,) = tmp_path.glob("*/pynq-z2")
    d = _check_work_root(work, "two_accel")
    assert {"jet", "digits", "digits_dma"} <= set(d.cells)
    assert d.cells["jet"] == "nnaccel:hls:jet_accel:1.0" and d.cells["digits"] == "nnaccel:hls:digits_accel:1.0"
