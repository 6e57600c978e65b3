"""What the cluster backends (Slurm, HTCondor) share: reading the bundle a sweep wrote, the
command a job runs for one point, finding a scheduler's commands, and the per-point report
read back from result.json once the jobs are done."""
from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from ..errors import NnaccelError
from .manifest import load_manifest


class SchedulerError(NnaccelError):
    """A scheduler's command is missing or refused the submission."""


def load_points(bundle: Path) -> dict[int, dict]:
    """index -> point of DIR/sweep.json, after checking it is a bundle this version can run."""
    return {int(p["index"]): p for p in load_manifest(bundle).get("points", [])}


def select(points: dict[int, dict], indices: list[int]) -> list[dict]:
    """The points to submit, in index order; an index the bundle lacks is a usage error."""
    unknown = sorted(set(indices) - set(points))
    if unknown:
        raise NnaccelError(f"point index {unknown[0]} is not in the bundle (it has {len(points)} points, "
                           f"indices {min(points, default=0)}..{max(points, default=-1)})")
    if not indices:
        raise NnaccelError("no points to submit")
    return [points[i] for i in sorted(set(indices))]


def run_point_command(bundle: Path) -> list[str]:
    """argv of the job for one point, less `--index I` (which the scheduler fills in). The
    interpreter is this one, by absolute path: a job's shell may not have the venv on PATH."""
    return [sys.executable, "-m", "nnaccel", "sweep", "run-point", str(bundle)]


def require_tool(name: str, backend: str) -> str:
    """Absolute path of a scheduler command, or one line saying it is not there."""
    path = shutil.which(name)
    if path is None:
        raise SchedulerError(f"{backend}: `{name}` not found on PATH; is the {backend} client installed "
                             f"(or its module loaded)? Use --dry-run to only write the submit file")
    return path


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def point_status(bundle: Path, point: dict) -> tuple[str, str]:
    """(status, why) of one point from its result.json: ok / failed / missing."""
    path = bundle / point["dir"] / "result.json"
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        return "missing", "no result.json (the job was cancelled, killed or never ran)"
    except (OSError, ValueError) as e:
        return "failed", f"unreadable result.json ({e})"
    if not isinstance(result, dict):
        return "failed", "result.json is not an object"
    status = str(result.get("status", "unknown"))
    return status, "" if status == "ok" else str(result.get("reason") or "")


def report(bundle: Path, selected: list[dict], log) -> int:
    """One line per point that is not ok, one summary line; 0 when every point is ok."""
    counts: dict[str, int] = {}
    for p in selected:
        status, why = point_status(bundle, p)
        counts[status] = counts.get(status, 0) + 1
        if status != "ok":
            log(f"point {p['index']} ({p['id']}): {status}" + (f": {why}" if why else ""))
    log(f"{len(selected)} points: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 0 if counts.get("ok", 0) == len(selected) else 1


def shell_join(argv: list[str]) -> str:
    return shlex.join(argv)
