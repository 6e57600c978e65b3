"""Every board x interface x weight mode: the generated block design runs through the
Tcl model of Vivado/Vitis HLS, and the model itself rejects what Vivado would reject
(each negative test breaks one thing in a generated script)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nnaccel import boards
from tclmodel import ModelError
from tclmodel.harness import make_bd, run_bd

INTERFACES = ("axi_stream", "axi_lite", "axi_master")
WEIGHTS = ("external", "embedded")
TCLINT = [str(Path(sys.executable).parent / "tclint"), "--style-line-length", "130"]


@pytest.mark.parametrize("board", boards.list_boards())
def test_matrix_through_model_and_tclint(tmp_path, board):
    for interface in INTERFACES:
        for weights in WEIGHTS:
            tmp = tmp_path / f"{interface}-{weights}"
            bd = make_bd(tmp, board, [{"interface": interface, "weights": weights}])
            d = run_bd(bd)
            acc = "/nn_accel"
            b = boards.load_board(board)
            # the design is complete: validated, saved, wrapped and the wrapper is the top
            assert d.value("wrapper") == "nn_system_wrapper" == d.value("top")
            assert d.exports == ["nnaccel:hls:nn_accel:1.0"]
            assert d.connected(f"{acc}/s_axi_control", "/ctrl_sc/M00_AXI")
            assert d.same_net(f"{acc}/interrupt", "/irq_concat/In0")
            assert d.same_net("/irq_concat/dout", f"/zynq_ps/{b.ps.interrupt['pin']}")
            assert d.project["board_part"] == f"{b.board_part}:1.0"
            spaces = {a[0] for a in d.addresses}
            if interface == "axi_master":
                assert "/nn_accel/Data_m_axi_gmem_data" in spaces
            if interface == "axi_stream":
                assert d.connected("/nn_accel_dma/M_AXIS_MM2S", f"{acc}/in_stream")
                assert d.connected(f"{acc}/out_stream", "/nn_accel_dma/S_AXIS_S2MM")
                assert d.config["nn_accel_dma"]["c_include_sg"] == "0"
            assert ("/nn_accel/Data_m_axi_gmem_w" in spaces) == (weights == "external")
            p = subprocess.run(TCLINT + [str(bd / "nn_system_bd.tcl"), str(bd / "nn_system_ip_repo.tcl")],
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stdout + p.stderr


def test_two_accelerators_share_the_control_map(tmp_path):
    bd = make_bd(tmp_path, "pynq-z2", [{"top": "a", "interface": "axi_master"},
                                        {"top": "b", "interface": "axi_stream"}])
    d = run_bd(bd)
    ctrl = sorted((off, rng) for sp, seg, off, rng in d.addresses if sp == "/zynq_ps/Data")
    assert len(ctrl) == 3 and all(o1 + r1 <= o2 for (o1, r1), (o2, _) in zip(ctrl, ctrl[1:]))
    assert {c for c in d.cells} >= {"a", "b", "b_dma", "hp0_sc", "hp1_sc", "hp2_sc", "hp3_sc"}


# ---- the model fails on what Vivado would reject: break one thing in a good script ----

@pytest.fixture
def good(tmp_path):
    bd = make_bd(tmp_path, "ultra96v2", [{"interface": "axi_stream", "weights": "external"}])
    run_bd(bd)  # the unbroken script passes
    return bd


def _broken(bd: Path, old: str, new: str, count: int = 1) -> Path:
    text = (bd / "nn_system_bd.tcl").read_text()
    assert old in text, old
    out = bd / "broken_bd.tcl"
    out.write_text(text.replace(old, new, count))
    return out


@pytest.mark.parametrize("old,new,message", [
    ("validate_bd_design\n", "validate_bd_desing\n", "invalid command name"),
    ("create_bd_cell -type ip -vlnv", "create_bd_cell -type ip -bogus 1 -vlnv", "unknown option -bogus"),
    ("[get_bd_intf_pins nn_accel/in_stream]", "[get_bd_intf_pins nn_accel/input_stream]",
     "no intf_pin matches nn_accel/input_stream"),
    ("[get_bd_pins nn_accel/ap_clk]", "[get_bd_pins nn_accel/aclk]", "no pin matches nn_accel/aclk"),
    ("nnaccel:hls:nn_accel:1.0 nn_accel", "nnaccel:hls:nn_accel:2.0 nn_accel", "not in the catalog"),
    ("CONFIG.PSU__USE__IRQ0 {1}", "CONFIG.PCW_USE_FABRIC_INTERRUPT {1}",
     "zynq_ultra_ps_e:3.5 (zynq_ps) has no property CONFIG.PCW_USE_FABRIC_INTERRUPT"),
    ("CONFIG.PSU__USE__M_AXI_GP1 {0}", "CONFIG.PSU__USE__M_AXI_GP1 {1}", "maxihpm1_fpd_aclk"),
    ("CONFIG.PSU__USE__S_AXI_GP3 {1}", "CONFIG.PSU__USE__S_AXI_GP3 {0}", "no pin matches zynq_ps/saxihp1_fpd_aclk"),
    ("-offset 0xA0010000", "-offset 0xA0000000", "overlaps"),
    ("-offset 0xA0010000", "-offset 0xB0010000", "outside"),
    ("-offset 0xA0010000", "-offset 0xA0010800", "not aligned"),
    ("-range 0x80000000 [get_bd_addr_segs zynq_ps/SAXIGP3/HP1_DDR_LOW]",
     "-range 0x80000000 [get_bd_addr_segs zynq_ps/SAXIGP2/HP0_DDR_LOW]", "not reachable"),
    ("connect_bd_net $nn_clk [get_bd_pins nn_accel_dma/m_axi_s2mm_aclk]\n", "", "m_axi_s2mm_aclk"),
    ("connect_bd_net $nn_rstn [get_bd_pins nn_accel/ap_rst_n]", "connect_bd_net $nn_clk [get_bd_pins nn_accel/ap_rst_n]",
     "pins of different types"),
    ("CONFIG.c_m_axis_mm2s_tdata_width {32}", "CONFIG.c_m_axis_mm2s_tdata_width {64}", "stream widths differ"),
    ("CONFIG.c_sg_length_width {26}", "CONFIG.c_sg_length_width {27}", "is not allowed"),
])
def test_model_rejects(good, old, new, message):
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_bd(good, bd_script=_broken(good, old, new))


def test_model_rejects_missing_address_assignment(good):
    text = (good / "nn_system_bd.tcl").read_text()
    lines = text.splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if "Data_m_axi_gmem_w" in line)
    (good / "broken_bd.tcl").write_text("".join(lines[:i] + lines[i + 2:]))
    with pytest.raises(ModelError, match="not mapped in /nn_accel/Data_m_axi_gmem_w"):
        run_bd(good, bd_script=good / "broken_bd.tcl")


def test_model_rejects_missing_board_files(good):
    with pytest.raises(ModelError, match=r"board files for ultra96v2 \(avnet.com:ultra96v2:part0\) are not "
                                          r"installed.*github.com/Avnet/bdf"):
        run_bd(good, board_parts=[])


def test_model_rejects_block_design_before_hls(tmp_path):
    bd = make_bd(tmp_path, "zcu104", [{"interface": "axi_master"}])
    with pytest.raises(ModelError, match="no exported HLS IP .* the vitis_hls step has not run"):
        run_bd(bd, hls_scripts=[])


def test_model_rejects_hls_export_of_another_vlnv(good):
    script = good / "ip" / "nn_accel" / "hls" / "build_hls.tcl"
    script.write_text(script.read_text().replace("-ipname nn_accel", "-ipname other"))
    with pytest.raises(ModelError, match="exports nnaccel:hls:other:1.0, which no IP description"):
        run_bd(good)
