"""The real thing on the real local Slurm: `nnaccel sweep` makes a bundle of four csim points, `nnaccel
sweep submit --backend slurm` runs them as one job array through sbatch (each task the real
`nnaccel sweep run-point`: generate the IP, C-simulate, compare with hls4ml's predict()), `collect` makes
the table; a point whose result is gone is the only one a re-submission runs. The stand-in tests in
test_sweep_slurm.py cover what needs a controllable point (scancel mid-run, the launcher's environment)."""
from __future__ import annotations

import csv
import json
import re

import yaml

from test_sweep_slurm import slurm  # noqa: F401  (fixture)
from test_sweep_run import POINTS as RUN_POINTS, nnaccel

POINTS = RUN_POINTS[:4]  # the board-less points of the local-pool test (a warm build cache when both run)


def test_four_csim_points_through_sbatch_collected_and_resumed(slurm, mlp_models, tmp_path):  # noqa: F811
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump({"name": "mlp", "base": {"model": str(mlp_models[0]), "tb_samples": 4},
                                    "points": POINTS}, sort_keys=False))
    out = tmp_path / "bundle"
    made = nnaccel("sweep", spec, "-o", out)
    assert made.returncode == 0, made.stderr

    run = nnaccel("sweep", "submit", out, "--backend", "slurm", "--seats", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    job = re.search(r"job array (\d+)", run.stdout + run.stderr).group(1)
    # one task of that array per point, task id = point index
    assert sorted(p.name for p in (out / "slurm" / "logs").iterdir()) == [f"{job}_{i}.log" for i in range(4)]
    results = [json.loads((out / "points" / f"p{i:04d}" / "result.json").read_text()) for i in range(4)]
    assert [r["status"] for r in results] == ["ok"] * 4, [r.get("reason") for r in results]
    # run-point's own check: the C-simulated IP agreed with hls4ml's predict() on every sample
    for i, r in enumerate(results):
        assert r["values"] == POINTS[i] and r["check"]["bit_exact"] is True
        assert r["weight_image_bytes"] == (out / "points" / f"p{i:04d}" / "ip" / "weights.bin").stat().st_size

    col = nnaccel("sweep", "collect", out)
    assert col.returncode == 0, col.stderr
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["status"] for row in rows] == ["ok"] * 4
    assert (out / "results.png").stat().st_size > 0

    # p0002's result disappears (a node lost mid-job): only p0002 runs again, the others stay byte-identical
    stamps = {i: (out / "points" / f"p{i:04d}" / "result.json").stat().st_mtime_ns for i in (0, 1, 3)}
    (out / "points" / "p0002" / "result.json").unlink()
    again = nnaccel("sweep", "submit", out, "--backend", "slurm", "--seats", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "submitting 1 of 4 points to the slurm backend (3 already ok)" in again.stdout + again.stderr
    assert json.loads((out / "points" / "p0002" / "result.json").read_text())["status"] == "ok"
    assert {i: (out / "points" / f"p{i:04d}" / "result.json").stat().st_mtime_ns for i in (0, 1, 3)} == stamps
