"""Estimates, the resource guard and `nnaccel report`: DSP figures against hand computations
(multiplications / reuse factor x DSP slices per product for the part's DSP48E1/E2), the
jet MLP refused on Ultra96-V2 at Latency / RF 1 / 16 bit, csynth.xml figures beside the
estimates, board resources as validated data."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

from conftest import make_ip
from nnaccel import boards
from nnaccel.errors import ConfigError
from nnaccel.report import m_axi_buffers_of_text

JET = (16, 64, 32, 32, 5)
LATENCY_16 = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}


def _mlp(path, sizes, seed=7):
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((sizes[0],), name="x")]
    for i, n in enumerate(sizes[1:], 1):
        layers.append(keras.layers.Dense(n, name=f"fc{i}"))
        layers.append(keras.layers.Activation("relu" if i < len(sizes) - 1 else "softmax", name=f"act{i}"))
    keras.Sequential(layers).save(path)
    return path


@pytest.fixture(scope="module")
def jet(tmp_path_factory):
    return _mlp(tmp_path_factory.mktemp("jet") / "jet16.keras", JET)


def _report(ip_dir):
    return json.loads((ip_dir / "report.json").read_text())


def test_jet_latency_rf1_16bit_is_refused_on_ultra96v2(jet, tmp_path):
    hand = sum(a * b for a, b in zip(JET, JET[1:]))  # one 16x16 multiplier (1 DSP) per multiplication
    assert hand == 4256
    with pytest.raises(ConfigError) as e:
        make_ip(jet, tmp_path / "ip", board="ultra96v2", hls=LATENCY_16, weights="external")
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{hand:,} DSPs" in msg and "360" in msg and "ultra96v2" in msg
    assert "layer fc2" in msg  # the largest layer: 64 x 32 multiplications
    assert "constant weight" in msg and "Strategy=Resource" in msg and "allow_over_budget=true" in msg
    rf = int(msg.split("ReuseFactor=")[1].split()[0])
    # the suggested reuse factor fits by hand: multiplications / RF, 1 DSP each, within 360
    assert sum(math.ceil(a * b / rf) for a, b in zip(JET, JET[1:])) <= 360
    assert sum(math.ceil(a * b / (rf // 2)) for a, b in zip(JET, JET[1:])) > 360
    assert not (tmp_path / "ip").exists()


def test_jet_over_budget_generates_when_allowed(jet, tmp_path):
    ip = tmp_path / "ip"
    make_ip(jet, ip, board="ultra96v2", hls=LATENCY_16, weights="external", allow_over_budget=True)
    rep = _report(ip)
    by_name = {lay["name"]: lay for lay in rep["layers"]}
    for i, (n_in, n_out) in enumerate(zip(JET, JET[1:]), 1):
        assert by_name[f"fc{i}"]["estimate"]["dsp"] == n_in * n_out
    assert rep["total"]["dsp"] == 4256 and rep["budget"]["dsp"] == 360
    assert rep["over_budget"][0] == "dsp" and rep["utilisation"]["dsp"] > 100
    assert rep["reload"]["image_bytes"] == (ip / "weights.bin").stat().st_size
    core = (ip / "nn_accel.core").read_text()
    assert "report.json" in core and "report.md" in core
    md = (ip / "report.md").read_text()
    assert "estimate" in md and "4,256" in md


@pytest.mark.parametrize("board,per_product", [("pynq-z2", 2), ("zcu104", 1)])
def test_layer_dsps_follow_the_dsp_slice_widths(board, per_product, mlp_models, tmp_path):
    """26-bit weights x 16-bit inputs: two DSP48E1 (25x18) slices, one DSP48E2 (27x18);
    4-bit weights go to LUTs."""
    hls = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"},
           "LayerName": {"fc1": {"Precision": {"weight": "ap_fixed<26,8>"}},
                         "fc2": {"Precision": {"weight": "ap_fixed<4,2>"}}}}
    ip = tmp_path / "ip"
    make_ip(mlp_models[0], ip, board=board, hls=hls)
    rep = _report(ip)
    by_name = {lay["name"]: lay for lay in rep["layers"]}
    assert by_name["fc1"]["reuse_factor"] == 4
    assert by_name["fc1"]["estimate"]["dsp"] == 16 * 12 // 4 * per_product
    assert by_name["fc2"]["estimate"]["dsp"] == 0
    assert by_name["fc2"]["estimate"]["multipliers"] == 12 * 5 // 4
    assert rep["dsp_family"] == ("dsp48e1" if board == "pynq-z2" else "dsp48e2")


def test_jet_example_estimates(tmp_path):
    """The README's table: the seed's setup (6-bit weights, Resource, RF 64) on Ultra96-V2."""
    from nnaccel.accel import generate_ip
    from nnaccel.config import load_config
    from conftest import EXAMPLES

    cfg = load_config(EXAMPLES / "jet_mlp" / "config.yml", overrides=["tb_samples=0"])
    generate_ip(cfg, tmp_path / "ip", log=lambda *a: None, reference=False)
    rep = _report(tmp_path / "ip")
    assert not rep["over_budget"]
    # by hand: n_in x n_out / RF multipliers of 6-bit weights, one DSP48E2 each; hls4ml turns RF 64
    # into 32 for the 32x5 output layer (its nearest valid reuse factor)
    dense = [lay for lay in rep["layers"] if lay["n_mult_call"]]
    assert [lay["name"] for lay in dense] == ["fc1", "fc2", "fc3", "output"]
    assert [lay["reuse_factor"] for lay in dense] == [64, 64, 64, 32]
    assert [lay["estimate"]["dsp"] for lay in dense] == [16 * 64 // 64, 64 * 32 // 64, 32 * 32 // 64, 32 * 5 // 32]
    # the weights port's read buffer: outstanding x burst beats x 128 bits, as the emitted top pins them
    top = (tmp_path / "ip" / "hls" / "nn_accel.cpp").read_text()
    pragma = next(line for line in top.splitlines() if "m_axi" in line and "bundle=gmem_w" in line)
    opts = dict(re.findall(r"(\w+)=(\d+)", pragma))
    want = int(opts.get("num_read_outstanding", 16)) * int(opts.get("max_read_burst_length", 16)) * 128
    buf = {b["bundle"]: b for b in rep["m_axi_buffers"]}
    assert buf["gmem_w"]["bits"] == want
    # README.md's table shows these figures: keep it true
    from conftest import REPO

    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| jet MLP |"))
    cells = [c.strip() for c in row.split("|")[2:-1]]
    t = rep["total"]
    assert [int(c.split()[0].replace(",", "")) for c in cells[:4]] == [t["dsp"], t["bram18"], t["lut"], t["ff"]]
    assert cells[4] == f"{rep['layer_totals']['latency']} cycles" and cells[5] == f"{rep['layer_totals']['interval']} cycles"
    assert cells[6].startswith(f"{rep['reload']['cycles']} cycles")


def test_m_axi_buffers_read_the_pragmas_with_vitis_defaults():
    text = ("#pragma HLS INTERFACE mode=m_axi port=a offset=slave bundle=gmem_a max_read_burst_length=64 "
            "num_read_outstanding=4\n#pragma HLS INTERFACE mode=m_axi port=b offset=slave bundle=gmem_b\n"
            "#pragma HLS INTERFACE mode=s_axilite port=return\n")
    got = {b["bundle"]: b for b in m_axi_buffers_of_text(text, 64)}
    assert set(got) == {"gmem_a", "gmem_b"}
    assert got["gmem_a"]["bits"] == 4 * 64 * 64
    assert got["gmem_b"]["bits"] == 16 * 16 * 64  # UG1399 defaults: 16 outstanding, 16 beats


CSYNTH = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2023.2</Version></ReportVersion>
  <UserAssignments><unit>ns</unit><ProductFamily>zynquplus</ProductFamily><Part>xczu3eg-sbva484-1-e</Part>
    <TopModelName>nn_accel</TopModelName><TargetClockPeriod>10.00</TargetClockPeriod></UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>7.301</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency><unit>clock cycles</unit><Best-caseLatency>4321</Best-caseLatency>
      <Average-caseLatency>4400</Average-caseLatency><Worst-caseLatency>4567</Worst-caseLatency>
      <Interval-min>4322</Interval-min><Interval-max>4568</Interval-max></SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>37</BRAM_18K><DSP>251</DSP><FF>23456</FF><LUT>34567</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>432</BRAM_18K><DSP>360</DSP><FF>141120</FF><LUT>70560</LUT><URAM>0</URAM></AvailableResources>
  </AreaEstimates>
</profile>
"""


@pytest.fixture(scope="module")
def small_ip(mlp_models, tmp_path_factory):
    ip = tmp_path_factory.mktemp("small") / "ip"
    make_ip(mlp_models[0], ip, hls=LATENCY_16)  # default part: Ultra96-V2's
    return ip


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "nnaccel", "report", *map(str, args)],
                          capture_output=True, text=True)


def test_report_prints_csynth_beside_the_estimates(small_ip, tmp_path):
    rep = _report(small_ip)
    assert rep["budget_board"] == "ultra96v2"  # found by the part: no board was configured
    r = _cli(small_ip)
    assert r.returncode == 0, r.stderr
    assert "csynth" not in r.stdout and "estimate" in r.stdout
    # where build_hls.tcl leaves it when run from the IP directory (the project goes to the cwd)
    csynth = small_ip / "nn_accel_prj" / "solution1" / "syn" / "report" / "csynth.xml"
    csynth.parent.mkdir(parents=True)
    try:
        csynth.write_text(CSYNTH)
        r = _cli(small_ip)
    finally:
        csynth.unlink()
    assert r.returncode == 0, r.stderr
    dsp_row = next(line for line in r.stdout.splitlines() if line.startswith("| DSP "))
    assert dsp_row.split("|")[-2].strip() == "251"
    for text in ("4,321-4,567", "4,322-4,568", "7.301"):
        assert text in r.stdout
    other = tmp_path / "elsewhere.xml"
    other.write_text(CSYNTH.replace("<DSP>251</DSP>", "<DSP48E>199</DSP48E>"))
    r = _cli(small_ip, "--csynth", other)
    assert r.returncode == 0 and "| 199 |" in r.stdout


def test_report_png_and_bad_input(small_ip, tmp_path):
    png = tmp_path / "use.png"
    r = _cli(small_ip, "--png", png)
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.xml"
    bad.write_text("<profile><nothing/></profile>")
    for args in ((tmp_path / "nosuch",), (small_ip, "--csynth", bad), (tmp_path,)):
        r = _cli(*args)
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr


def test_part_without_board_reports_without_budget(mlp_models, tmp_path):
    ip = tmp_path / "ip"
    notes = []
    from nnaccel.accel import generate_ip
    from nnaccel.config import build_config

    cfg = build_config({"model": str(mlp_models[0]), "tb_samples": 0, "part": "xcvu9p-flga2104-2-e"})
    generate_ip(cfg, ip, log=notes.append)
    rep = _report(ip)
    assert rep["budget"] is None and rep["over_budget"] == []
    assert any("without a budget" in n for n in notes)


def test_every_board_has_resources_of_its_family():
    for name in boards.list_boards():
        b = boards.load_board(name)
        assert b.resources is not None, name
        want = "dsp48e1" if b.family == "Zynq-7000" else "dsp48e2"
        assert b.resources["dsp_family"] == want, name
    u96 = boards.load_board("ultra96v2").resources  # DS891: XCZU3EG
    assert (u96["dsp"], u96["bram18"], u96["lut"], u96["ff"]) == (360, 432, 70560, 141120)
    z7 = boards.load_board("pynq-z2").resources  # DS190: XC7Z020
    assert (z7["dsp"], z7["bram18"], z7["lut"], z7["ff"]) == (220, 280, 53200, 106400)


def test_bad_board_resources_is_one_line(tmp_path, monkeypatch):
    text = (boards.REPO_BOARDS / "ultra96v2.yml").read_text().replace("dsp: 360", "dsp: -1")
    (tmp_path / "myu96.yml").write_text(text.replace("name: ultra96v2", "name: myu96"))
    monkeypatch.setenv(boards.ENV_PATH, str(tmp_path))
    with pytest.raises(ConfigError, match=r"resources\.dsp must be a positive integer"):
        boards.load_board("myu96")


def test_allow_over_budget_must_be_a_boolean(mlp_models):
    from nnaccel.config import build_config

    with pytest.raises(ConfigError, match="allow_over_budget"):
        build_config({"model": str(mlp_models[0]), "allow_over_budget": "maybe"})


def test_cli_refusal_is_one_line_and_writes_nothing(jet, tmp_path):
    out = tmp_path / "ip"
    r = subprocess.run([sys.executable, "-m", "nnaccel", "ip", str(jet), "-o", str(out), "--set", "board=ultra96v2",
                        "--set", "tb_samples=0"], capture_output=True, text=True)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "4,256 DSPs" in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


def test_report_help_describes_every_option():
    r = subprocess.run([sys.executable, "-m", "nnaccel", "report", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for option in ("--png", "--csynth", "dir"):
        assert option in r.stdout
    assert "% of the board" in r.stdout and "csynth.xml" in r.stdout
