"""The whole Vivado side of the nnaccel_zynq flow through the Tcl model, in the order its
Makefile runs it: `fusesoc run` with EDALIZE_LAUNCHER=echo names every tool call; the Vitis HLS
script, Edalize's project script (which sources our IP-repository and block-design scripts),
its synthesis/implementation/bitstream scripts and our handoff script then run in tclsh, each
Vivado call as a fresh session on the project's .xpr. Checked: the runs completed, and the .xsa
(fixed, with the bitstream), the .bit and the .hwh beside it are written where Vitis and PYNQ
look for them. Each mutation breaks one script or the order and must make the check fail."""
from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nnaccel import boards
from tclmodel import ModelError, run_flow
from tclmodel.harness import flow_steps, installed_board_parts

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TCLINT = [str(BIN / "tclint"), "--style-line-length", "130"]
BOARDS = ("ultra96v2", "pynq-z2")  # one Zynq UltraScale+, one Zynq-7000


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """board -> (work root, stdout) of `fusesoc run --target=<board> nn_accel` with EDALIZE_LAUNCHER=echo."""
    done = {}

    def get(board):
        if board not in done:
            root = tmp_path_factory.mktemp(f"dry-{board}")
            env = {k: v for k, v in os.environ.items() if k != "EDALIZE_LAUNCHER"}
            env.update(EDALIZE_LAUNCHER="echo", PATH=f"{BIN}:/usr/bin:/bin")
            p = subprocess.run([str(BIN / "fusesoc"), "run", "--build-root", str(root), f"--target={board}",
                                "nn_accel"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
            assert p.returncode == 0, p.stderr[-2000:]
            (work,) = root.glob(f"*/{board}")
            done[board] = (work, p.stdout)
        return done[board]
    return get


def fresh_copy(dry_runs, board, tmp_path) -> tuple[Path, list, str]:
    """A copy of the board's work root (the model writes stand-in outputs into it), the flow's
    steps, and the .xsa path the Vitis step reads."""
    src, stdout = dry_runs(board)
    work = (tmp_path / board).resolve()
    shutil.copytree(src, work)
    (vitis,) = [line.split() for line in stdout.splitlines() if line.startswith("vitis -s ")]
    return work, flow_steps(stdout), vitis[-1]


def check_flow(work: Path, steps: list, xsa_for_vitis: str, board: str):
    """Run the steps through the model and check what the flow promises."""
    descs = [json.loads(p.read_text()) for p in sorted(work.rglob("ip/*/nnaccel.json"))]
    d = run_flow(steps, descs, installed_board_parts(), cwd=work)
    name = Path(steps[-1][2]).stem
    b = boards.load_board(board)
    assert d.project["part"] == b.part and d.project["board_part"] == f"{b.board_part}:1.0"
    assert d.value("top") == "nn_system_wrapper"
    assert d.runs == {"synth_1": ("synth_design Complete!", "100%"), "impl_1": ("write_bitstream Complete!", "100%")}
    (xsa,) = d.platforms
    assert xsa["file"] == str(work / xsa_for_vitis) == str(work / f"{name}.xsa"), \
        f"the .xsa is at {xsa['file']}; Vitis reads {xsa_for_vitis}"
    assert xsa["fixed"] and xsa["include_bit"], "the .xsa is not a fixed platform with the bitstream"
    assert xsa["bit"] == str(work / f"{name}.runs" / "impl_1" / "nn_system_wrapper.bit")
    # PYNQ loads <name>.bit and reads <name>.hwh beside it: the block design's own .hwh, copied.
    for ext in (".bit", ".hwh", ".xsa"):
        assert (work / f"{name}{ext}").is_file(), ext
    assert (work / f"{name}.hwh").read_text() == Path(xsa["hwh"]).read_text()
    assert "/hw_handoff/nn_system.hwh" in xsa["hwh"]
    return d


@pytest.mark.parametrize("board", BOARDS)
def test_flow_through_model(dry_runs, tmp_path, board):
    work, steps, xsa = fresh_copy(dry_runs, board, tmp_path)
    # HLS first, then the project, the bitstream and the handoff, each a Vivado session.
    kinds = [(s[0], [Path(x).name.rsplit("_", 1)[-1] for x in s[1]] if s[0] == "vivado" else None, s[-1])
             for s in steps]
    assert [k[0] for k in kinds] == ["hls", "vivado", "vivado", "vivado"]
    assert steps[1][2] is None and steps[2][2] == steps[3][2] and steps[3][2].endswith(".xpr")
    assert [k[1] for k in kinds[2:]] == [["synth.tcl", "run.tcl"], ["handoff.tcl"]]
    check_flow(work, steps, xsa, board)
    (handoff,) = work.glob("*_handoff.tcl")
    lint = subprocess.run(TCLINT + [str(handoff)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def _mutate(work: Path, steps: list, suffix: str, old: str, new: str):
    script = work / (Path(steps[-1][2]).stem + suffix)
    text = script.read_text()
    assert old in text, (script.name, old)
    script.write_text(text.replace(old, new, 1))


HANDOFF_MUTATIONS = [
    ("-include_bit ", "", "not a fixed platform with the bitstream"),
    ("-include_bit", "-include_bitstream", "unknown option -include_bitstream"),
    ("-fixed -include_bit", "-fixed -hw -include_bit", "-hw/-hw_emu are for extensible"),
    ("$nn_name.xsa]", "$nn_name.zip]", "does not end in .xsa"),
    ("[file join [pwd] $nn_name.xsa]", "[file join [pwd] hw $nn_name.xsa]", "Vitis reads"),
    ("get_files -quiet -all", "get_files -quiet", "no block-design .hwh"),  # generated files need -all
    ("$nn_name.xsa]\n", "$nn_name.xsa] $nn_name.xsa\n", "expected one .xsa file"),
]


@pytest.mark.parametrize("old,new,message", HANDOFF_MUTATIONS)
def test_broken_handoff_fails(dry_runs, tmp_path, old, new, message):
    work, steps, xsa = fresh_copy(dry_runs, "ultra96v2", tmp_path)
    _mutate(work, steps, "_handoff.tcl", old, new)
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_flow(work, steps, xsa, "ultra96v2")


@pytest.mark.parametrize("suffix,old,new,message", [
    ("_run.tcl", "launch_runs impl_1 -to_step write_bitstream", "launch_runs impl_1", "no files matched"),
    ("_synth.tcl", "    launch_runs synth_1", "    #", "synth_1 was never launched"),
    ("_synth.tcl", "launch_runs synth_1", "launch_runs synth_1 -to_step route_design", "not a step of synth_1"),
    ("_run.tcl", "wait_on_run impl_1", "puts impl_1", "exited with code 1"),
])
def test_broken_edalize_scripts_fail(dry_runs, tmp_path, suffix, old, new, message):
    work, steps, xsa = fresh_copy(dry_runs, "ultra96v2", tmp_path)
    _mutate(work, steps, suffix, old, new)
    with pytest.raises(ModelError, match=message):
        check_flow(work, steps, xsa, "ultra96v2")


def test_project_without_block_design_fails(dry_runs, tmp_path):
    """The part, the board and the top's source all come from the block-design script."""
    work, steps, xsa = fresh_copy(dry_runs, "pynq-z2", tmp_path)
    (project,) = [p for p in work.glob("*.tcl") if p.name == Path(steps[2][2]).stem + ".tcl"]
    text = project.read_text()
    (bd_line,) = [line for line in text.splitlines() if line.startswith("source ") and "_bd.tcl" in line]
    project.write_text(text.replace(bd_line + "\n", ""))
    with pytest.raises(ModelError, match="launch_runs synth_1: the project has no part"):
        check_flow(work, steps, xsa, "pynq-z2")


@pytest.mark.parametrize("order,message", [
    ([0, 1, 3, 2], "does not exist; the bitstream step has not finished"),  # handoff before the bitstream
    ([0, 2, 1, 3], "does not exist \\(the project step has not run\\)"),   # bitstream before the project
    ([1, 0, 2, 3], "no exported HLS IP"),                                   # Vivado before Vitis HLS
])
def test_wrong_order_fails(dry_runs, tmp_path, order, message):
    work, steps, xsa = fresh_copy(dry_runs, "ultra96v2", tmp_path)
    with pytest.raises(ModelError, match=message):
        check_flow(work, [steps[i] for i in order], xsa, "ultra96v2")


def test_handoff_needs_the_project_on_the_command_line(dry_runs, tmp_path):
    work, steps, xsa = fresh_copy(dry_runs, "ultra96v2", tmp_path)
    kind, scripts, _ = steps[3]
    with pytest.raises(ModelError, match="write_hw_platform: no open project"):
        check_flow(work, steps[:3] + [(kind, scripts, None)], xsa, "ultra96v2")


# ---- project-mode rules of the model, each on a small script ----

def _session(tmp_path, *scripts) -> None:
    steps = []
    for i, (text, xpr) in enumerate(scripts):
        s = tmp_path / f"s{i}.tcl"
        s.write_text(text)
        steps.append(("vivado", [s.name], xpr))
    return run_flow(steps, board_parts=installed_board_parts(), cwd=tmp_path)


@pytest.mark.parametrize("script,message", [
    ("set_property part xc7z020clg400-1 [current_project]\n", "current_project: no open project"),
    ("create_project p\ncreate_project q\n", "project p is open already"),
    ("create_project p\nset_param board.repoPath /x\n", "unknown parameter board.repoPath"),
    ("create_project p\nadd_files missing.v\n", "missing.v does not exist"),
    ("create_project p\nwait_on_run synth_1\n", "run synth_1 was never launched"),
    ("create_project p -part xc7z020clg400-1\nlaunch_runs impl_1\n", "synthesis run synth_1 has not been launched"),
    ("create_project p -part xc7z020clg400-1\nlaunch_runs synth_1\n", "sources_1 has no top"),
    ("create_project p\nlaunch_runs synth_2\n", "no run synth_2"),
    ("create_project p\nwrite_bd_tcl -force x.tcl\n", "write_bd_tcl: no block design is open"),
    ("create_project p -part xc7z020clg400-1\nset_property top t [current_fileset]\nlaunch_runs synth_1\n",
     "top t is not defined by any source"),
    ("create_project p\nwrite_hw_platform -fixed p.xsa\n", "output products are not generated"),
    ("create_project p\nset_property source_mgmt_mode Some [current_project]\n", "not All, DisplayOnly or None"),
])
def test_project_rules(tmp_path, script, message):
    with pytest.raises(ModelError, match=message):
        _session(tmp_path, (script, None))


def test_complete_run_is_not_launched_again(tmp_path):
    (tmp_path / "top.v").write_text("module top; endmodule\n")
    make = "create_project p -part xc7z020clg400-1\nread_verilog top.v\nset_property top top [current_fileset]\n"
    run = "launch_runs synth_1\nwait_on_run synth_1\nlaunch_runs impl_1 -to_step write_bitstream\nwait_on_run impl_1\n"
    d = _session(tmp_path, (make, None), (run, "p.xpr"))
    assert d.runs["impl_1"] == ("write_bitstream Complete!", "100%")
    assert (tmp_path / "p.runs" / "impl_1" / "top.bit").is_file()
    (tmp_path / "again").mkdir()
    with pytest.raises(ModelError, match="run synth_1 is complete already"):
        _session(tmp_path / "again", (make.replace("top.v", "../top.v"), None), (run + run, "p.xpr"))


def test_include_bit_needs_a_bitstream(tmp_path):
    (tmp_path / "top.v").write_text("module top; endmodule\n")
    make = "create_project p -part xc7z020clg400-1\nread_verilog top.v\nset_property top top [current_fileset]\n"
    synth_only = "launch_runs synth_1\nwait_on_run synth_1\nlaunch_runs impl_1\nwait_on_run impl_1\n"
    with pytest.raises(ModelError, match="impl_1 has no bitstream"):
        _session(tmp_path, (make, None), (synth_only + "write_hw_platform -fixed -include_bit -file p.xsa\n", "p.xpr"))
