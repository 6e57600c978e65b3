"""The block-design generator: bad input is one clear error at generation time that
names the board and the reason, and leaves nothing behind; the Edalize plugins
produce the HLS -> Vivado -> handoff sequence and stop early without the tools."""
from __future__ import annotations

import json

import pytest
import yaml

from nnaccel import boards
from nnaccel.bd import generate
from nnaccel.errors import ConfigError
from tclmodel.fake_ip import description, write_ip
from tclmodel.harness import make_bd


def _ip(tmp_path, board="ultra96v2", **kw):
    b = boards.load_board(board)
    kw = {"bus_width": b.hp_width, "part": b.part, "board": board, **kw}  # kw may override board
    return str(write_ip(tmp_path / "ips", description(**kw)))


def _ip_on(tmp_path, facts_from, board, **kw):
    """An IP with the part and bus of board `facts_from`, built for `board` (or none)."""
    b = boards.load_board(facts_from)
    return str(write_ip(tmp_path / "ips", description(bus_width=b.hp_width, part=b.part, board=board, **kw)))


def _fails(tmp_path, params, message):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=message):
        generate(params, out)
    assert not out.exists() or list(out.iterdir()) == [], "a failed run left files behind"


def test_unknown_board(tmp_path):
    _fails(tmp_path, {"board": "ultra97", "accelerators": [{"ip": _ip(tmp_path)}]},
           r"board: 'ultra97' is not a known board; known boards: ")


def test_clock_the_board_cannot_make(tmp_path):
    _fails(tmp_path, {"board": "pynq-z2", "accelerators": [{"ip": _ip(tmp_path, "pynq-z2", clock_period=2.5)}]},
           r"board pynq-z2: cannot make a 400 MHz PL clock; its PS makes 10 to 250 MHz")


def test_clock_faster_than_synthesized(tmp_path):
    _fails(tmp_path, {"board": "zcu102", "pl_clock_mhz": 250,
                      "accelerators": [{"ip": _ip(tmp_path, "zcu102", clock_period=5.0)}]},
           r"250 MHz is faster than accelerator nn_accel was synthesized for \(200 MHz")


def _one_hp_board(tmp_path, monkeypatch):
    data = yaml.safe_load((boards.REPO_BOARDS / "pynq-z2.yml").read_text())
    data.update(name="onehp", hp_ports=["S_AXI_HP0"])
    d = tmp_path / "myboards"
    d.mkdir()
    (d / "onehp.yml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv(boards.ENV_PATH, str(d))


def test_weights_port_without_free_hp_port(tmp_path, monkeypatch):
    _one_hp_board(tmp_path, monkeypatch)
    _fails(tmp_path, {"board": "onehp", "accelerators": [{"ip": _ip_on(tmp_path, "pynq-z2", "onehp")}]},
           r"board onehp: no free HP port for the weights port of accelerator nn_accel")


def test_data_ports_may_share_an_hp_port(tmp_path, monkeypatch):
    _one_hp_board(tmp_path, monkeypatch)
    ips = [{"ip": _ip_on(tmp_path, "pynq-z2", "onehp", top=t, weights="embedded")} for t in ("a", "b")]
    info = generate({"board": "onehp", "accelerators": ips}, tmp_path / "out")
    assert info["hp_ports"] == [{"port": "S_AXI_HP0", "masters": ["a/m_axi_gmem_data", "b/m_axi_gmem_data"]}]


def test_ip_for_another_part(tmp_path):
    _fails(tmp_path, {"board": "zcu104", "accelerators": [{"ip": _ip_on(tmp_path, "ultra96v2", None)}]},
           r"IP nnaccel:hls:nn_accel:1.0 was synthesized for part xczu3eg-sbva484-1-e, board zcu104 has")


def test_ip_for_another_board(tmp_path):
    _fails(tmp_path, {"board": "kv260", "accelerators": [{"ip": _ip(tmp_path, "ultra96v2")}]},
           r"was built for board ultra96v2, the block design is for kv260")


@pytest.mark.parametrize("params,message", [
    ({"accelerators": []}, r"accelerators: give a list"),
    ({"accelerators": [{"ip": "x", "config": {}}]}, r"exactly one of ip: DIR or config"),
    ({"accelerators": [{"ip": "nowhere"}]}, r"accelerators\[0\]: nowhere does not exist; give an IP directory"),
    ({"colour": 1}, r"unknown parameter 'colour'"),
    ({"design": "9x"}, r"design: '9x' is not a block design name"),
])
def test_bad_parameters(tmp_path, params, message):
    _fails(tmp_path, {"board": "ultra96v2", "accelerators": [{"ip": _ip(tmp_path)}], **params}, message)


def test_same_vlnv_twice(tmp_path):
    ip = _ip(tmp_path)
    _fails(tmp_path, {"board": "ultra96v2", "accelerators": [{"ip": ip}, {"ip": ip, "name": "other"}]},
           r"two accelerators share the VLNV nnaccel:hls:nn_accel:1.0")


def test_summary_and_core(tmp_path):
    bd = make_bd(tmp_path, "kv260", [{"interface": "axi_stream"}], design="soc")
    info = json.loads((bd / "soc.json").read_text())
    assert info["board"] == "kv260" and info["processor"] == "psu_cortexa53_0"
    assert [c["offset"] for c in info["control"]] == [0xA0000000, 0xA0010000]
    assert info["dmas"][0]["interrupts"] == {"mm2s": 1, "s2mm": 2}
    # the drivers' DMA transfer limit is the length register width the design builds
    assert f"CONFIG.c_sg_length_width {{{info['dma_length_bits']}}}" in (bd / "soc_bd.tcl").read_text()
    core = yaml.safe_load((bd / "soc.core").read_text())
    files = [next(iter(f)) for fs in core["filesets"].values() for f in fs["files"]]
    assert all((bd / f).is_file() for f in files), "the core lists a file that is not there"
    assert core["targets"]["default"]["toplevel"] == "soc_wrapper"
    assert not list(bd.rglob("*.core"))[1:], "only the block-design core may be left (FuseSoC takes every .core)"
    overlay = (bd / "nn_accel.dtso").read_text()  # listed in the core, checked above
    assert "generic-uio" in overlay and f"{info['control'][0]['offset']:x}" in overlay
    bd_tcl = (bd / "soc_bd.tcl").read_text()
    assert "board_connections {som240_1_connector xilinx.com:kv260_carrier:som240_1_connector:1.3}" in bd_tcl


# ---- Edalize plugins ----

def _flow(tmp_path, monkeypatch, launcher=None):
    from edalize.flows.nnaccel_zynq import Nnaccel_zynq

    bd = make_bd(tmp_path, "ultra96v2", [{"interface": "axi_master"}])
    files = [{"name": "ip/nn_accel/hls/build_hls.tcl", "file_type": "hlsTclSource"},
             {"name": "ip/nn_accel/hls/nn_accel.cpp", "file_type": "cppSource"},
             {"name": "ip/nn_accel/nnaccel.json", "file_type": "user"},
             {"name": "nn_system_bd.tcl", "file_type": "tclSource"},
             {"name": "nn_system.json", "file_type": "user"}]
    if launcher is None:
        monkeypatch.delenv("EDALIZE_LAUNCHER", raising=False)
    else:
        monkeypatch.setenv("EDALIZE_LAUNCHER", launcher)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no vendor tools
    flow = Nnaccel_zynq({"name": "top", "files": files, "toplevel": "nn_system_wrapper",
                         "flow_options": {}}, bd)
    flow.configure()
    return flow, bd


def test_flow_makefile_runs_hls_vivado_handoff_in_order(tmp_path, monkeypatch, capfd):
    flow, bd = _flow(tmp_path, monkeypatch, launcher="echo")
    flow.build()
    out = capfd.readouterr().out
    calls = [line for line in out.splitlines() if line.startswith(("vitis_hls", "vivado", "touch"))]
    assert calls[0] == "vitis_hls -f ip/nn_accel/hls/build_hls.tcl"
    assert calls[1] == "touch top_ip_repo.tcl"
    assert calls[2] == "vivado -notrace -mode batch -source top.tcl"
    assert calls[-1] == "vivado -notrace -mode batch -source top_handoff.tcl top.xpr"
    assert "nn_accel: outputs in" in out and "top.xsa" in out
    project = (bd / "top.tcl").read_text()
    assert project.index("top_ip_repo.tcl") < project.index("nn_system_bd.tcl"), "IP repository first"


def test_flow_without_tools_stops_naming_the_tool(tmp_path, monkeypatch):
    flow, _ = _flow(tmp_path, monkeypatch)
    with pytest.raises(RuntimeError, match=r"^vitis_hls not found on PATH: this step needs AMD Vitis HLS"):
        flow.build()


def test_vitis_run_for_newer_releases(tmp_path, monkeypatch):
    from edalize.tools.vitis_hls import choose_command

    assert choose_command("vitis-run") == "vitis-run"
    with pytest.raises(RuntimeError, match="hls_command 'vivado_hls' is not one of"):
        choose_command("vivado_hls")
