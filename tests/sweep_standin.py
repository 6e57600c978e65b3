"""A stand-in sweep bundle and `run-point` for the cluster-backend tests, in the bundle format
`nnaccel sweep` writes (sweep.json, points.txt, points/<id>/). The stand-in run-point has the
same contract as the real one: exit 0 and write result.json, or do nothing when an ok result.json
exists. It also records when it ran and what the scheduler gave it, which the tests read.
Marker files in a point's folder steer it: `hold` (sleep until killed), `fail` (write a failed result).

Run as a script: python sweep_standin.py sweep run-point DIR --index I
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

FORMAT = "nnaccel-sweep/1"


def make_bundle(root: Path, n: int) -> Path:
    points = []
    for i in range(n):
        pid = f"p{i:04d}"
        points.append({"index": i, "id": pid, "values": {"reuse_factor": 2 ** i}, "dir": f"points/{pid}",
                       "core": f"nnaccel:sweep:{pid}:0.1.0", "target": "csim"})
        (root / "points" / pid).mkdir(parents=True, exist_ok=True)
    (root / "sweep.json").write_text(json.dumps({"format": FORMAT, "stage": "csim", "points": points}, indent=2))
    (root / "points.txt").write_text("".join(f"{p['index']} {p['id']} {p['dir']}\n" for p in points))
    return root


def command(bundle: Path) -> list[str]:
    """The stand-in for batch.run_point_command."""
    return [sys.executable, str(Path(__file__).resolve()), "sweep", "run-point", str(bundle)]


def run_point(bundle: Path, index: int) -> int:
    point = next(p for p in json.loads((bundle / "sweep.json").read_text())["points"] if p["index"] == index)
    pdir = bundle / point["dir"]
    result = pdir / "result.json"
    if result.exists() and json.loads(result.read_text()).get("status") == "ok":
        return 0
    start = time.time()
    while (pdir / "hold").exists():
        time.sleep(0.2)
    time.sleep(1.0)  # long enough that two points running at once would overlap
    failed = (pdir / "fail").exists()
    data = {"status": "failed" if failed else "ok", "index": index, "id": point["id"],
            "timings": {"start": start, "end": time.time()},
            "reason": "stand-in failure (fail marker)" if failed else None,
            "env": {k: os.environ.get(k) for k in ("EDALIZE_LAUNCHER", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID")}}
    tmp = pdir / "result.json.tmp"
    tmp.write_text(json.dumps(data))
    tmp.replace(result)
    return 1 if failed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    assert args[:2] == ["sweep", "run-point"] and args[3] == "--index", args
    sys.exit(run_point(Path(args[2]), int(args[4])))
