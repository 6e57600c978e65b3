"""`nnaccel sweep`: spec validation (one line naming the axis and the value, nothing written), the
bundle format the cluster backends read (sweep.json, points.txt, one core per point), re-creating a
bundle, submit's dispatch and resume, run-point's failures, and the licence-seat lock. No point is
run here (see test_sweep_run.py and test_sweep_fusesoc.py)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO

NNACCEL = [sys.executable, "-m", "nnaccel"]


def nnaccel(*args, cwd=None, env=None):
    return subprocess.run([*NNACCEL, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env=env)


def write_spec(path: Path, model: Path, **spec) -> Path:
    spec.setdefault("base", {})
    spec["base"] = {"model": str(model), "tb_samples": 4, **spec["base"]}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def one_error_line(proc, *needles):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def model(mlp_models):
    return mlp_models[0]


@pytest.mark.parametrize("axes, needles", [
    ({"interfce": ["axi_stream"]}, ["axis interfce", "unknown configuration key 'interfce'"]),
    ({"interface.x": ["a"]}, ["axis interface.x", "only hls takes dotted keys"]),
    ({"interface": ["axi_stream", "axi_pcie"]}, ["axis interface, value 'axi_pcie'", "axi_stream, axi_lite"]),
    ({"hls.Model.ReuseFactor": [1, 0], "interface": ["axi_stream", "axi_lite"]},
     ["axis hls.Model.ReuseFactor, value 0", "not a positive integer"]),
    ({"hls.Model.ReuseFactr": [2]}, ["axis hls.Model.ReuseFactr, value 2", "did you mean ReuseFactor"]),
    ({"board": ["ultra96v2", "nope"], "io_type": ["io_stream"]}, ["axis board, value 'nope'", "not a known board"]),
    ({"interface": []}, ["axis interface", "non-empty list"]),
])
def test_invalid_axis_is_one_line_and_nothing_is_written(tmp_path, model, axes, needles):
    spec = write_spec(tmp_path / "s.yml", model, axes=axes)
    out = tmp_path / "out"
    one_error_line(nnaccel("sweep", spec, "-o", out), "nnaccel sweep: error:", *needles)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yml"]  # no staging directory left either


@pytest.mark.parametrize("spec, needles", [
    ({"axes": {"interface": ["axi_lite"]}, "points": [{"interface": "axi_lite"}]}, ["not both"]),
    ({}, ["no axes and no points"]),
    ({"axes": {"interface": ["axi_lite"]}, "stage": "bitstream"}, ["stage: 'bitstream'", "csim, setup, build"]),
    ({"axes": {"interface": ["axi_lite"]}, "stage": "setup"}, ["stage setup runs a board target", "set board"]),
    ({"axes": {"interface": ["axi_lite"]}, "stages": "csim"}, ["unknown key 'stages'"]),
    ({"axes": {"model": ["missing.keras"]}}, ["axis model, value 'missing.keras'", "does not exist"]),
    ({"axes": {"tb_samples": [4, 0]}}, ["axis tb_samples, value 0", "tb_samples must be at least 1"]),
])
def test_invalid_spec_is_one_line(tmp_path, model, spec, needles):
    path = write_spec(tmp_path / "s.yml", model, **spec)
    one_error_line(nnaccel("sweep", path, "-o", tmp_path / "out"), *needles)
    assert not (tmp_path / "out").exists()


def test_a_combination_the_validation_refuses_names_the_point(tmp_path, model):
    spec = write_spec(tmp_path / "s.yml", model, points=[{"board": "ultra96v2", "bus_width": 128},
                                                          {"board": "pynq-z2", "bus_width": 128}])
    one_error_line(nnaccel("sweep", spec, "-o", tmp_path / "out"), "bus_width", "pynq-z2", "64 bits")
    assert not (tmp_path / "out").exists()


@pytest.fixture()
def bundle(tmp_path, model):
    spec = write_spec(tmp_path / "spec.yml", model, name="rf", base={"board": "ultra96v2"},
                      axes={"hls.Model.ReuseFactor": [2, 4], "interface": ["axi_stream", "axi_lite"]})
    out = tmp_path / "b"
    p = nnaccel("sweep", spec, "-o", out)
    assert p.returncode == 0, p.stderr
    assert "4 points" in p.stdout
    return out, spec


def test_bundle_format(bundle, model):
    from nnaccel.config import build_config, read_yaml

    out, _ = bundle
    m = json.loads((out / "sweep.json").read_text())
    assert m["format"] == "nnaccel-sweep/1" and m["stage"] == "csim" and m["name"] == "rf"
    assert m["axes"] == ["hls.Model.ReuseFactor", "interface"]
    expected = [(2, "axi_stream"), (2, "axi_lite"), (4, "axi_stream"), (4, "axi_lite")]  # product, last axis fastest
    assert [(p["values"]["hls.Model.ReuseFactor"], p["values"]["interface"]) for p in m["points"]] == expected
    assert [p["index"] for p in m["points"]] == [0, 1, 2, 3]
    assert [p["id"] for p in m["points"]] == ["p0000", "p0001", "p0002", "p0003"]
    assert (out / "points.txt").read_text() == "".join(f"{i} p{i:04d} points/p{i:04d}\n" for i in range(4))
    for p in m["points"]:
        assert p["dir"] == f"points/{p['id']}" and p["target"] == "csim"
        (core,) = (out / p["dir"] / "core").glob("*.core")
        text = core.read_text()
        assert text.startswith("CAPI=2:\n")
        doc = yaml.safe_load(text)
        assert doc["name"] == p["core"] == f"nnaccel:sweep:rf_{p['id']}:1.0"
        assert doc["generate"]["accel"] == {"generator": "nn_hls", "parameters": {"config": "config.yml"}}
        assert doc["targets"]["csim"]["flow_options"] == {"tool": "nnaccel_csim"}
        assert doc["targets"]["ultra96v2"]["generate"] == ["block_design"]
        assert doc["generate"]["block_design"]["parameters"]["board"] == "ultra96v2"
        cfg = build_config(read_yaml(core.parent / "config.yml"), core.parent)
        assert cfg.interface == p["values"]["interface"]
        assert cfg.hls["Model"]["ReuseFactor"] == p["values"]["hls.Model.ReuseFactor"]
        assert cfg.model == model and cfg.board == "ultra96v2" and cfg.tb_samples == 4
    conf = (out / "fusesoc.conf").read_text()
    assert f"location = {REPO / 'generators'}\n" in conf and (REPO / "generators" / "generators.core").is_file()


def _fake_ok(out: Path, pid: str, stage="csim"):
    (out / "points" / pid / "result.json").write_text(json.dumps({"status": "ok", "stage": stage}))


def test_recreating_the_same_bundle_keeps_its_results(bundle):
    out, spec = bundle
    _fake_ok(out, "p0002")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    p = nnaccel("sweep", spec, "-o", out)
    assert p.returncode == 0 and "already holds this sweep (4 points, 1 with a result)" in p.stdout
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_another_sweep_over_a_bundle_with_results_needs_force(bundle, model):
    out, spec = bundle
    _fake_ok(out, "p0002")
    other = write_spec(spec.with_name("other.yml"), model, axes={"interface": ["axi_master"]})
    one_error_line(nnaccel("sweep", other, "-o", out), "holds another sweep with results", "--force")
    assert len(json.loads((out / "sweep.json").read_text())["points"]) == 4
    assert nnaccel("sweep", other, "-o", out, "--force").returncode == 0
    assert len(json.loads((out / "sweep.json").read_text())["points"]) == 1
    assert not (out / "points" / "p0002").exists()


def test_sweep_refuses_a_directory_of_other_files(tmp_path, bundle, model):
    _, spec = bundle
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    one_error_line(nnaccel("sweep", spec, "-o", mine), "nnaccel did not write")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_submit_dry_run_lists_only_points_without_an_ok_result(bundle):
    out, _ = bundle
    _fake_ok(out, "p0000")
    _fake_ok(out, "p0001", stage="setup")  # ok for another stage: still to run at csim
    (out / "points" / "p0003" / "result.json").write_text('{"status": "ok", "sta')  # a partial write
    p = nnaccel("sweep", "submit", out, "--dry-run", "--seats", 2, "--launcher", "apptainer exec v.sif")
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if "would run:" in ln]
    assert [ln.rsplit("--index ", 1)[1] for ln in lines] == ["1", "2", "3"]
    assert all("NNACCEL_SWEEP_SEATS=2 EDALIZE_LAUNCHER='apptainer exec v.sif'" in ln for ln in lines)
    assert "submitting 3 of 4 points to the local backend (1 already ok)" in p.stdout
    assert not list(out.glob("points/*/run.log"))


def test_submit_with_everything_done_runs_nothing(bundle):
    out, _ = bundle
    for i in range(4):
        _fake_ok(out, f"p{i:04d}")
    p = nnaccel("sweep", "submit", out)
    assert p.returncode == 0 and "all 4 points already have an ok result; nothing to submit" in p.stdout


@pytest.mark.parametrize("args, needles", [
    (["--backend", "pbs"], ["--backend pbs: unknown backend; available:", "local"]),
    (["--points", "1,9"], ["--points: 9 is not a point of this bundle (0 to 3)"]),
    (["--points", "a"], ["--points 'a': expected indices"]),
])
def test_submit_bad_input(bundle, args, needles):
    out, _ = bundle
    one_error_line(nnaccel("sweep", "submit", out, *args), *needles)


def test_usage_errors_exit_2(bundle):
    out, _ = bundle
    assert nnaccel("sweep", "submit", out, "--seats", 0).returncode == 2
    assert nnaccel("sweep", "run-point", out).returncode == 2  # --index missing
    assert nnaccel("sweep", "run-point", out, "--index", -1).returncode == 2


def test_run_point_bad_index_and_not_a_bundle(bundle, tmp_path):
    out, _ = bundle
    one_error_line(nnaccel("sweep", "run-point", out, "--index", 4), "--index 4: the bundle has points 0 to 3")
    one_error_line(nnaccel("sweep", "collect", tmp_path), "no sweep.json")


def test_failing_point_writes_why_and_exits_1(bundle):
    """A point whose configuration no longer validates (edited by hand): its result says why."""
    out, _ = bundle
    cfg = out / "points" / "p0001" / "core" / "config.yml"
    cfg.write_text(cfg.read_text().replace("interface: axi_lite", "interface: axi_pcie"))
    p = nnaccel("sweep", "run-point", out, "--index", 1)
    line = one_error_line(p, "p0001 failed: interface: 'axi_pcie' is not valid")
    assert line.startswith("nnaccel sweep run-point: error:")
    res = json.loads((out / "points" / "p0001" / "result.json").read_text())
    assert res["status"] == "failed" and "interface: 'axi_pcie' is not valid" in res["reason"]
    assert res["index"] == 1 and res["id"] == "p0001" and res["stage"] == "csim" and res["estimate"] is None


def test_run_point_is_a_no_op_when_done(bundle):
    out, _ = bundle
    _fake_ok(out, "p0003")
    p = nnaccel("sweep", "run-point", out, "--index", 3)
    assert p.returncode == 0 and "p0003: already done" in p.stdout
    assert not (out / "points" / "p0003" / "ip").exists()


def test_collect_lists_missing_points(bundle, tmp_path):
    out, _ = bundle
    p = nnaccel("sweep", "collect", out, "-o", tmp_path / "table")
    assert p.returncode == 0, p.stderr
    assert "4 points: 0 ok, 0 failed, 4 missing (p0000, p0001, p0002, p0003)" in p.stdout
    csv_lines = (tmp_path / "table" / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("id,hls.Model.ReuseFactor,interface,status,dsp,")
    assert [ln.split(",")[:4] for ln in csv_lines[1:]] == [
        ["p0000", "2", "axi_stream", "missing"], ["p0001", "2", "axi_lite", "missing"],
        ["p0002", "4", "axi_stream", "missing"], ["p0003", "4", "axi_lite", "missing"]]
    assert "4 missing (p0000, p0001, p0002, p0003)" in (tmp_path / "table" / "results.md").read_text()
    assert (tmp_path / "table" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


_HOLDER = """
import sys, time
from pathlib import Path
from nnaccel.sweep.seats import seat
bundle, count, log = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
with seat(bundle, count):
    t0 = time.time(); time.sleep(0.6); t1 = time.time()
with open(log, "a") as f:
    f.write(f"{t0} {t1}\\n")
"""


@pytest.mark.parametrize("count", [1, 2])
def test_seats_limit_how_many_hold_one_at_once(tmp_path, count):
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER)
    log = tmp_path / "log"
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path), str(count), str(log)]) for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    spans = [tuple(map(float, ln.split())) for ln in log.read_text().splitlines()]
    assert len(spans) == 4
    # the most spans open at any moment
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    most = run = 0
    for _, d in events:
        run += d
        most = max(most, run)
    assert most <= count
    if count == 1:  # strictly one after another: together at least 4 x 0.6 s
        assert max(b for _, b in spans) - min(a for a, _ in spans) >= 4 * 0.6


def test_a_killed_holder_frees_its_seat(tmp_path):
    from nnaccel.sweep.seats import seat

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
                               "from nnaccel.sweep.seats import seat\n"
                               "with seat(Path(sys.argv[1]), 1):\n    print('held', flush=True); time.sleep(60)",
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    t0 = time.monotonic()
    with seat(tmp_path, 1) as i:
        assert i == 0
    assert time.monotonic() - t0 < 5


def test_help_lists_sweep():
    p = nnaccel("help", "sweep")
    assert p.returncode == 0 and "run-point" in p.stdout and "SPEC.yml -o DIR" in p.stdout


def test_no_wait_starts_a_detached_pool(bundle):
    """--no-wait returns at once; the detached pool runs every point (here each fails at once: its
    configuration was broken by hand) and sums up in submit-local.log."""
    out, _ = bundle
    for cfg in out.glob("points/*/core/config.yml"):
        cfg.write_text(cfg.read_text().replace("board: ultra96v2", "board: nope"))
    t0 = time.monotonic()
    p = nnaccel("sweep", "submit", out, "--no-wait", "--jobs", 2)
    assert p.returncode == 0 and "started the local pool as process" in p.stdout, p.stderr
    assert time.monotonic() - t0 < 30
    log = out / "submit-local.log"
    deadline = time.monotonic() + 240
    while "points run:" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "4 points run: 0 ok, 4 failed (p0000, p0001, p0002, p0003)" in log.read_text()
    for i in range(4):
        res = json.loads((out / "points" / f"p{i:04d}" / "result.json").read_text())
        assert res["status"] == "failed" and "board: 'nope' is not a known board" in res["reason"]


def test_vivado_utilization_of_an_ultrascale_design(tmp_path):
    """UltraScale+ names the rows CLB LUTs / CLB Registers and reports URAM; indented breakdown rows
    that repeat a name do not count."""
    from nnaccel.errors import InputError
    from nnaccel.vivado_report import read_utilization

    rpt = tmp_path / "u.rpt"
    rpt.write_text("\n".join([
        "| Device       : xczu3eg-sbva484-1-e",
        "+-------------------+------+-------+------------+-----------+-------+",
        "|     Site Type     | Used | Fixed | Prohibited | Available | Util% |",
        "| CLB LUTs*         | 5120 |     0 |          0 |     70560 |  7.26 |",
        "|   LUT as Logic    | 5000 |     0 |          0 |     70560 |  7.09 |",
        "| CLB Registers     | 6400 |     0 |          0 |    141120 |  4.54 |",
        "| Block RAM Tile    |    3 |     0 |          0 |       216 |  1.39 |",
        "| URAM              |    0 |     0 |          0 |         0 |  0.00 |",
        "| DSPs              |   70 |     0 |          0 |       360 | 19.44 |",
        "| DSPs              |  999 |     0 |          0 |       360 | 19.44 |", ""]))
    u = read_utilization(rpt)
    assert {k: u[k] for k in ("lut", "ff", "bram18", "dsp", "uram")} == \
        {"lut": 5120, "ff": 6400, "bram18": 6, "dsp": 70, "uram": 0}
    rpt.write_text("not a report\n")
    with pytest.raises(InputError, match="not a Vivado utilisation report"):
        read_utilization(rpt)
