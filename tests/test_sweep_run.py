"""A csim sweep of five points through the local pool, end to end: four points run (two at once), one
fails (the resource guard refuses it on PYNQ-Z2) without stopping the others; a point whose result is
cut short and whose re-run is killed with SIGKILL mid-run is redone alone by the next submit, the
others untouched; collect's table agrees with each point's own report.json."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

NNACCEL = [sys.executable, "-m", "nnaccel"]
POINTS = [
    {"hls.Model.ReuseFactor": 1, "interface": "axi_stream"},
    {"hls.Model.ReuseFactor": 1, "interface": "axi_lite"},
    {"hls.Model.ReuseFactor": 4, "interface": "axi_stream"},
    {"hls.Model.ReuseFactor": 4, "interface": "axi_lite"},
    # 252 multiplications at reuse factor 1 need 252 DSPs; the Z-7020 has 220
    {"hls.Model.ReuseFactor": 1, "interface": "axi_stream", "board": "pynq-z2"},
]


def nnaccel(*args, timeout=1800):
    return subprocess.run([*NNACCEL, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def _result(out: Path, pid: str) -> dict:
    return json.loads((out / "points" / pid / "result.json").read_text())


def _stamp(out: Path, pid: str):
    p = out / "points" / pid / "result.json"
    return p.stat().st_mtime_ns, p.read_bytes()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, mlp_models):
    root = tmp_path_factory.mktemp("sweep-run")
    spec = root / "spec.yml"
    spec.write_text(yaml.safe_dump({"name": "mlp", "base": {"model": str(mlp_models[0]), "tb_samples": 4},
                                    "points": POINTS}, sort_keys=False))
    out = root / "bundle"
    seen: dict = {"create": nnaccel("sweep", spec, "-o", out)}
    seen["submit1"] = nnaccel("sweep", "submit", out, "--jobs", 2)
    seen["collect1"] = nnaccel("sweep", "collect", out)
    seen["stamps1"] = {f"p{i:04d}": _stamp(out, f"p{i:04d}") for i in range(5)}

    # p0001: a result cut short (a writer killed mid-write), then its re-run killed mid-run
    res = out / "points" / "p0001" / "result.json"
    res.write_bytes(res.read_bytes()[:60])
    seen["collect_partial"] = nnaccel("sweep", "collect", out, "-o", root / "partial")
    proc = subprocess.Popen([*NNACCEL, "sweep", "run-point", str(out), "--index", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 600
    pdir = out / "points" / "p0001"
    while not list(pdir.glob(".ip.*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    seen["staging_seen"] = [p.name for p in pdir.glob(".ip.*")]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seen["killed_rc"] = proc.returncode
    seen["after_kill"] = res.read_bytes()
    seen["submit2"] = nnaccel("sweep", "submit", out, "--jobs", 2)
    seen["stamps2"] = {f"p{i:04d}": _stamp(out, f"p{i:04d}") for i in range(5)}
    seen["noop"] = nnaccel("sweep", "run-point", out, "--index", 0)
    return out, seen


def test_pool_runs_every_point_and_a_failure_does_not_stop_the_others(sweep):
    out, seen = sweep
    assert seen["create"].returncode == 0, seen["create"].stderr
    p = seen["submit1"]
    assert p.returncode == 1, p.stdout + p.stderr
    assert "submitting 5 of 5 points to the local backend" in p.stdout
    assert "5 points run: 4 ok, 1 failed (p0004)" in p.stdout
    for i in range(4):
        r = _result(out, f"p{i:04d}")
        assert r["status"] == "ok" and r["reason"] is None and r["stage"] == "csim", r
        assert r["values"] == POINTS[i] and r["index"] == i
        assert r["check"]["bit_exact"] is True
        assert "4 samples, C-simulation vs hls4ml predict: bit-exact" in r["check"]["lines"][0]
        assert set(r["timings"]) == {"generate", "csim"} and all(v > 0 for v in r["timings"].values())
    bad = _result(out, "p0004")
    assert bad["status"] == "failed"
    assert "resource guard: estimated 252 DSPs exceed the 220 of board pynq-z2" in bad["reason"]
    assert "p0004: failed: " in p.stdout
    assert "error: p0004 failed: resource guard" in (out / "points" / "p0004" / "run.log").read_text()


def test_each_point_got_its_axis_values(sweep):
    """The IP of each point was generated with that point's values (read back from the IP itself)."""
    out, _ = sweep
    for i in range(4):
        ip = out / "points" / f"p{i:04d}" / "ip"
        desc = json.loads((ip / "nnaccel.json").read_text())
        rep = json.loads((ip / "report.json").read_text())
        assert desc["interface"] == POINTS[i]["interface"]
        rfs = {lay["name"]: lay.get("reuse_factor") for lay in rep["layers"]}
        assert rfs["fc1"] == POINTS[i]["hls.Model.ReuseFactor"]


def test_collect_table_matches_each_points_report(sweep):
    out, seen = sweep
    assert seen["collect1"].returncode == 0, seen["collect1"].stderr
    assert "5 points: 4 ok, 1 failed, 0 missing" in seen["collect1"].stdout
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [f"p{i:04d}" for i in range(5)]
    for i, row in enumerate(rows[:4]):
        ip = out / "points" / row["id"] / "ip"
        rep = json.loads((ip / "report.json").read_text())
        assert row["status"] == "ok"
        assert row["hls.Model.ReuseFactor"] == str(POINTS[i]["hls.Model.ReuseFactor"])
        assert row["interface"] == POINTS[i]["interface"]
        for key in ("dsp", "bram18", "lut", "ff"):
            assert int(row[key]) == rep["total"][key], (row["id"], key)
        assert int(row["latency_cycles"]) == rep["layer_totals"]["latency"]
        assert int(row["interval_cycles"]) == rep["layer_totals"]["interval"]
        assert int(row["weight_image_bytes"]) == (ip / "weights.bin").stat().st_size
        assert row["csynth_dsp"] == ""  # no C synthesis in a csim sweep
    # reuse factor 4 divides the multipliers of every layer by 4 (252 -> 63: 48 + 15)
    assert int(rows[0]["dsp"]) == 252 and int(rows[2]["dsp"]) == 63
    assert rows[4]["status"] == "failed" and "resource guard" in rows[4]["reason"] and rows[4]["dsp"] == ""
    md = (out / "results.md").read_text()
    assert "| p0002 | 4 | axi_stream |  | ok | 63 |" in md  # the board axis is empty: p0002 does not set it
    assert "| p0004 | 1 | axi_stream | pynq-z2 | failed |" in md
    png = (out / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_partial_result_counts_as_missing(sweep):
    out, seen = sweep
    p = seen["collect_partial"]
    assert p.returncode == 0 and "5 points: 3 ok, 1 failed, 1 missing (p0001)" in p.stdout


def test_killed_point_is_redone_alone(sweep):
    out, seen = sweep
    assert seen["staging_seen"], "the run-point process ended before it was killed mid-run"
    assert seen["killed_rc"] == -signal.SIGKILL
    assert len(seen["after_kill"]) == 60  # the kill left the cut result as it was: nothing half-written
    p = seen["submit2"]
    assert "submitting 2 of 5 points to the local backend (3 already ok)" in p.stdout, p.stdout
    assert p.returncode == 1 and "2 points run: 1 ok, 1 failed (p0004)" in p.stdout
    for pid in ("p0000", "p0002", "p0003"):
        assert seen["stamps2"][pid] == seen["stamps1"][pid], pid  # not run again
    assert _result(out, "p0001")["status"] == "ok"
    assert not list((out / "points" / "p0001").glob(".ip.*"))  # the killed run's staging is gone
    assert _result(out, "p0004")["status"] == "failed"  # a failed point is tried again, and fails again


def test_run_point_on_a_done_point_is_a_no_op(sweep):
    _, seen = sweep
    p = seen["noop"]
    assert p.returncode == 0 and "p0000: already done (result.json: ok, stage csim); nothing to run" in p.stdout
