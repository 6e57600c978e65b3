"""The Slurm backend of `nnaccel sweep submit`, on a real Slurm: the one-node cluster that
tests/slurm/start-local-slurm.sh starts on localhost (with Licenses=vivado:1); .ci/run starts it
before the tests. Where no Slurm is running these tests skip and say so.

The bundle and run-point are the stand-ins of sweep_standin.py (same contract as the real ones:
result.json, no-op when an ok one exists); the `standin` fixture is the one line to drop for the
real `nnaccel sweep run-point`."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest

import sweep_standin
from nnaccel.errors import NnaccelError
from nnaccel.sweep import backend_slurm, batch


def _slurm_problem() -> str | None:
    for tool in ("sbatch", "squeue", "sinfo", "scontrol", "scancel"):
        if shutil.which(tool) is None:
            return f"`{tool}` not on PATH"
    states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if states.returncode != 0 or not re.search(r"idle|mixed|allocated", states.stdout):
        return f"no idle Slurm node (sinfo: {(states.stdout + states.stderr).strip() or 'nothing'})"
    lic = subprocess.run(["scontrol", "show", "license", "vivado"], capture_output=True, text=True)
    if "Total=1" not in lic.stdout:
        return "the Slurm cluster has no Licenses=vivado:1 line"
    return None


@pytest.fixture(scope="module")
def slurm():
    problem = _slurm_problem()
    if problem:
        pytest.skip(f"no local Slurm: {problem}; start it as root with tests/slurm/start-local-slurm.sh")


@pytest.fixture
def standin(monkeypatch):
    monkeypatch.setattr(batch, "run_point_command", sweep_standin.command)


class Log(list):
    def __call__(self, msg):
        self.append(msg)


def _results(bundle, n):
    return [json.loads((bundle / f"points/p{i:04d}/result.json").read_text()) for i in range(n)]


def _mtimes(bundle, n):
    paths = {i: bundle / f"points/p{i:04d}/result.json" for i in range(n)}
    return {i: p.stat().st_mtime_ns if p.exists() else None for i, p in paths.items()}


def _assert_one_at_a_time(results):
    spans = sorted((r["timings"]["start"], r["timings"]["end"]) for r in results)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, f"two points ran at once: {spans}"


def _job_id(log) -> str:
    return re.search(r"job array (\d+)", " ".join(log)).group(1)


def _wait_running(task: str, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        out = subprocess.run(["squeue", "-h", "-j", task.split("_")[0], "-o", "%i %T"],
                             capture_output=True, text=True).stdout
        if f"{task} RUNNING" in out:
            return
        time.sleep(0.5)
    raise AssertionError(f"{task} never ran: {out}")


def test_array_of_four_points_one_seat_then_kill_and_resume(slurm, standin, tmp_path):
    bundle = sweep_standin.make_bundle(tmp_path / "a sweep", 4)
    log = Log()
    assert backend_slurm.submit(bundle, [0, 1, 2, 3], seats=1, launcher=None, wait=True, dry_run=False,
                                log=log, poll=1.0) == 0, log
    results = _results(bundle, 4)
    assert [r["status"] for r in results] == ["ok"] * 4
    job = _job_id(log)
    # each point ran as its own task of one array, task id = point index
    assert [(r["env"]["SLURM_ARRAY_JOB_ID"], r["env"]["SLURM_ARRAY_TASK_ID"]) for r in results] == \
        [(job, str(i)) for i in range(4)]
    _assert_one_at_a_time(results)
    assert sorted(p.name for p in (bundle / "slurm/logs").iterdir()) == [f"{job}_{i}.log" for i in range(4)]
    assert "4 points: 4 ok" in log[-1]

    # Kill point 1 while it runs and delete point 2's result: the re-submission of all four runs
    # only those two; 0 and 3 keep their results untouched.
    before = _mtimes(bundle, 4)
    (bundle / "points/p0001/hold").touch()
    (bundle / "points/p0001/result.json").unlink()
    (bundle / "points/p0002/result.json").unlink()
    log = Log()
    assert backend_slurm.submit(bundle, [0, 1, 2, 3], seats=1, launcher=None, wait=False, dry_run=False,
                                log=log) == 0
    job = _job_id(log)
    _wait_running(f"{job}_1")
    subprocess.run(["scancel", f"{job}_1"], check=True)
    backend_slurm.wait_for(job, log, poll=1.0)
    log = Log()
    assert batch.report(bundle, [{"index": i, "id": f"p{i:04d}", "dir": f"points/p{i:04d}"} for i in range(4)],
                        log) == 1
    assert any(line.startswith("point 1 (p0001): missing") for line in log), log
    assert "4 points: 1 missing, 3 ok" in log[-1]
    after = _mtimes(bundle, 4)
    assert after[0] == before[0] and after[3] == before[3] and after[1] is None
    rerun = json.loads((bundle / "points/p0002/result.json").read_text())
    assert after[2] != before[2] and rerun["env"]["SLURM_ARRAY_JOB_ID"] == job

    (bundle / "points/p0001/hold").unlink()
    log = Log()
    assert backend_slurm.submit(bundle, [0, 1, 2, 3], seats=1, launcher=None, wait=True, dry_run=False,
                                log=log, poll=1.0) == 0, log
    final = _mtimes(bundle, 4)
    assert {i: final[i] == after[i] for i in range(4)} == {0: True, 1: False, 2: True, 3: True}
    assert _results(bundle, 4)[1]["env"]["SLURM_ARRAY_JOB_ID"] == _job_id(log)


def test_licence_bounds_a_sweep_that_asks_for_more_seats(slurm, standin, tmp_path):
    """seats=2 lifts the array throttle to 2 and the node has 2 CPUs, yet the cluster's single
    vivado licence still runs the points one after the other; a failed point is reported with
    its reason and does not stop the other; the launcher reaches the job as EDALIZE_LAUNCHER."""
    bundle = sweep_standin.make_bundle(tmp_path / "b", 3)
    (bundle / "points/p0000/fail").touch()
    log = Log()
    launcher = "apptainer exec --bind '/tools dir' vivado.sif"
    assert backend_slurm.submit(bundle, [0, 1, 2], seats=2, launcher=launcher, wait=True, dry_run=False,
                                log=log, poll=1.0) == 1
    results = _results(bundle, 3)
    assert [r["status"] for r in results] == ["failed", "ok", "ok"]
    assert {r["env"]["EDALIZE_LAUNCHER"] for r in results} == {launcher}
    _assert_one_at_a_time(results)
    assert "point 0 (p0000): failed: stand-in failure (fail marker)" in log
    assert "3 points: 1 failed, 2 ok" in log[-1]


def test_script_accepted_by_sbatch_test_only(slurm, standin, tmp_path):
    bundle = sweep_standin.make_bundle(tmp_path / "b", 6)
    log = Log()
    assert backend_slurm.submit(bundle, [5, 0, 2, 1], seats=3, launcher="/shared/bin/with-vivado --release ' 2024.1'",
                                wait=False, dry_run=True, log=log) == 0
    script = bundle / "slurm/sweep.sbatch"
    assert str(script) in log[0]
    # sbatch validates the whole script (options, licence, array) without queueing it
    check = subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "to start at" in check.stderr
    bash = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert bash.returncode == 0, bash.stderr


@pytest.mark.parametrize("indices, spec", [([0, 1, 2, 3], "0-3"), ([5, 0, 2, 1, 7, 8], "0-2,5,7-8"),
                                           ([4], "4"), ([1, 1, 3], "1,3")])
def test_array_spec(indices, spec):
    assert backend_slurm.array_spec(indices) == spec


def test_no_sbatch_is_one_clear_error_and_writes_nothing(tmp_path, monkeypatch):
    bundle = sweep_standin.make_bundle(tmp_path / "b", 2)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(NnaccelError, match=r"^Slurm: `sbatch` not found on PATH") as e:
        backend_slurm.submit(bundle, [0, 1], seats=1, launcher=None, wait=False, dry_run=False, log=print)
    assert "\n" not in str(e.value)
    assert not (bundle / "slurm").exists()


@pytest.mark.parametrize("change, message", [
    (lambda b: (b / "sweep.json").unlink(), r"no sweep.json; give a bundle written by `nnaccel sweep SPEC -o DIR`"),
    (lambda b: (b / "sweep.json").write_text('{"format": "nnaccel-sweep/9"}'), r"format 'nnaccel-sweep/9', this nnaccel reads nnaccel-sweep/1"),
    (lambda b: (b / "sweep.json").write_text("{"), r"sweep.json: cannot read it"),
])
def test_bad_bundle(tmp_path, change, message):
    bundle = sweep_standin.make_bundle(tmp_path / "b", 2)
    change(bundle)
    with pytest.raises(NnaccelError, match=message):
        backend_slurm.submit(bundle, [0], seats=1, launcher=None, wait=False, dry_run=True, log=print)


@pytest.mark.parametrize("kw, message", [
    ({"indices": [0, 7]}, r"point index 7 is not in the bundle \(it has 2 points, indices 0..1\)"),
    ({"indices": []}, r"no points to submit"),
    ({"seats": 0}, r"--seats 0: must be at least 1"),
    ({"licence": "viv ado"}, r"Slurm licence 'viv ado'"),
])
def test_bad_arguments(tmp_path, kw, message):
    bundle = sweep_standin.make_bundle(tmp_path / "b", 2)
    args = {"indices": [0, 1], "seats": 1} | kw
    with pytest.raises(NnaccelError, match=message):
        backend_slurm.submit(bundle, args.pop("indices"), launcher=None, wait=False, dry_run=True, log=print,
                             **args)
