"""Sweep points through real FuseSoC: a `setup` point (`fusesoc run --setup --target=pynq-z2` of the
point's generated core) and a `build` point run by the local pool with the fake vendor tools
(tests/fake_tools) behind an EDALIZE_LAUNCHER (`submit --launcher`) that also leaves the csynth.xml
Vitis HLS would write; the result and collect's table carry its figures."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO

BIN = Path(sys.executable).parent
FAKE_TOOLS = REPO / "tests" / "fake_tools"
CSYNTH = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <UserAssignments><Part>xc7z020-clg400-1</Part><TopModelName>nn_accel</TopModelName>
    <TargetClockPeriod>10.00</TargetClockPeriod></UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><EstimatedClockPeriod>7.30</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency><Best-caseLatency>31</Best-caseLatency><Worst-caseLatency>37</Worst-caseLatency>
      <Interval-min>5</Interval-min><Interval-max>6</Interval-max></SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates><Resources><BRAM_18K>3</BRAM_18K><DSP>61</DSP><FF>2345</FF><LUT>3456</LUT><URAM>0</URAM>
  </Resources></AreaEstimates>
</profile>
"""
# A tool environment in a job (module load, apptainer exec) is a launcher; this one logs each call and,
# after Vitis HLS, leaves the C-synthesis report where the real tool would (its project, in the work root).
LAUNCHER = """#!/bin/sh
echo "$*" >> "$SWEEP_LAUNCH_LOG"
"$@" || exit $?
if [ "$(basename "$1")" = vitis_hls ]; then
  mkdir -p nn_accel_prj/solution1/syn/report && cp "$SWEEP_CSYNTH" nn_accel_prj/solution1/syn/report/csynth.xml
fi
case "$*" in *_run.tcl*)
  mkdir -p design.runs/impl_1 && cp "$SWEEP_UTIL" design.runs/impl_1/nn_system_wrapper_utilization_placed.rpt;;
esac
"""
# The shape of Vivado's report_utilization tables for a Zynq-7000 (Site Type | Used | Fixed | Prohibited |
# Available | Util%); the summary rows come first, breakdowns indented below them.
UTILIZATION = """Copyright 1986-2022 Xilinx, Inc. All Rights Reserved.
| Design       : nn_system_wrapper
| Device       : 7z020clg400-1
1. Slice Logic
--------------
+----------------------------+------+-------+------------+-----------+-------+
|          Site Type         | Used | Fixed | Prohibited | Available | Util% |
+----------------------------+------+-------+------------+-----------+-------+
| Slice LUTs                 | 7421 |     0 |          0 |     53200 | 13.95 |
|   LUT as Logic             | 6900 |     0 |          0 |     53200 | 12.97 |
| Slice Registers            | 9876 |     0 |          0 |    106400 |  9.28 |
+----------------------------+------+-------+------------+-----------+-------+
3. Memory
---------
+-------------------+------+-------+------------+-----------+-------+
|     Site Type     | Used | Fixed | Prohibited | Available | Util% |
+-------------------+------+-------+------------+-----------+-------+
| Block RAM Tile    |  4.5 |     0 |          0 |       140 |  3.21 |
|   RAMB36/FIFO*    |    4 |     0 |          0 |       140 |  2.86 |
|   RAMB18          |    1 |     0 |          0 |       280 |  0.36 |
+-------------------+------+-------+------------+-----------+-------+
4. DSP
------
+----------------+------+-------+------------+-----------+-------+
|    Site Type   | Used | Fixed | Prohibited | Available | Util% |
+----------------+------+-------+------------+-----------+-------+
| DSPs           |   64 |     0 |          0 |       220 | 29.09 |
|   DSP48E1 only |   64 |       |            |           |       |
+----------------+------+-------+------------+-----------+-------+
"""


def _spec(path: Path, model: Path, stage: str) -> Path:
    path.write_text(yaml.safe_dump({
        "name": f"soc_{stage}", "stage": stage,
        "base": {"model": str(model), "board": "pynq-z2", "tb_samples": 4,
                 "hls": {"Model": {"Strategy": "Resource", "ReuseFactor": 4}}},
        "axes": {"interface": ["axi_stream"]}}, sort_keys=False))
    return path


def _run(args, env):
    return subprocess.run([sys.executable, "-m", "nnaccel", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=1800)


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "EDALIZE_LAUNCHER"}
    env["PATH"] = f"{BIN}:/usr/bin:/bin"
    env.update(extra)
    return env


def test_setup_point_through_fusesoc(tmp_path, mlp_models):
    out = tmp_path / "b"
    env = _env()
    assert _run(["sweep", _spec(tmp_path / "s.yml", mlp_models[0], "setup"), "-o", out], env).returncode == 0
    p = _run(["sweep", "submit", out], env)
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads((out / "points" / "p0000" / "result.json").read_text())
    assert res["status"] == "ok" and res["stage"] == "setup" and res["target"] == "pynq-z2", res
    assert set(res["timings"]) == {"setup"}
    (work,) = (out / "points" / "p0000" / "build").glob("nnaccel_sweep_soc_setup_p0000_1.0/pynq-z2")
    assert "vivado" in (work / "Makefile").read_text()  # set up, not built: no tool ran
    assert list(work.glob("src/*/nn_system_bd.tcl"))
    ip = out / "points" / "p0000" / res["ip"]
    rep = json.loads((ip / "report.json").read_text())
    assert json.loads((ip / "nnaccel.json").read_text())["board"] == "pynq-z2"
    assert {k: res["estimate"][k] for k in ("dsp", "bram18", "lut", "ff")} == \
        {k: rep["total"][k] for k in ("dsp", "bram18", "lut", "ff")}
    assert res["weight_image_bytes"] == (ip / "weights.bin").stat().st_size
    assert res["csynth"] is None


def test_build_point_with_launcher_and_seats(tmp_path, mlp_models):
    out = tmp_path / "b"
    launcher = tmp_path / "launch.sh"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    (tmp_path / "csynth.xml").write_text(CSYNTH)
    (tmp_path / "util.rpt").write_text(UTILIZATION)
    env = _env(PATH=f"{FAKE_TOOLS}:{BIN}:/usr/bin:/bin", NNACCEL_FAKE_LOG=str(tmp_path / "fake.log"),
               SWEEP_LAUNCH_LOG=str(tmp_path / "launch.log"), SWEEP_CSYNTH=str(tmp_path / "csynth.xml"),
               SWEEP_UTIL=str(tmp_path / "util.rpt"))
    assert _run(["sweep", _spec(tmp_path / "s.yml", mlp_models[0], "build"), "-o", out], env).returncode == 0
    p = _run(["sweep", "submit", out, "--seats", "1", "--launcher", str(launcher)], env)
    assert p.returncode == 0, p.stdout + p.stderr + (out / "points" / "p0000" / "run.log").read_text()
    res = json.loads((out / "points" / "p0000" / "result.json").read_text())
    assert res["status"] == "ok" and res["stage"] == "build" and set(res["timings"]) == {"setup", "build"}
    launched = (tmp_path / "launch.log").read_text().splitlines()
    firsts = [ln.split()[0] for ln in launched]
    assert firsts[0] == "vitis_hls" and "vivado" in firsts and "vitis" in firsts, launched
    tools = [json.loads(ln)["tool"] for ln in (tmp_path / "fake.log").read_text().splitlines()]
    assert tools[0] == "vitis_hls" and "vivado" in tools
    assert {k: res["csynth"][k] for k in ("dsp", "bram18", "lut", "ff", "latency_worst", "interval_max")} == \
        {"dsp": 61, "bram18": 3, "lut": 3456, "ff": 2345, "latency_worst": 37, "interval_max": 6}
    assert {k: res["vivado"][k] for k in ("lut", "ff", "bram18", "dsp")} == \
        {"lut": 7421, "ff": 9876, "bram18": 9, "dsp": 64}
    assert _run(["sweep", "collect", out], env).returncode == 0
    with open(out / "results.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["csynth_dsp"], row["csynth_bram18"], row["csynth_lut"], row["csynth_ff"],
            row["csynth_latency_cycles"]) == ("61", "3", "3456", "2345", "37")
    assert (row["vivado_lut"], row["vivado_ff"], row["vivado_bram18"], row["vivado_dsp"]) == \
        ("7421", "9876", "9", "64")
    assert row["dsp"] == str(res["estimate"]["dsp"]) and row["status"] == "ok"
