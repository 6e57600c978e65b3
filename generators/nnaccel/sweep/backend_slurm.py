"""Slurm backend of `nnaccel sweep submit`: the selected points of a bundle become one job
array (`--array=<indices>%K`, one licence seat per task), submitted with sbatch; with `wait`
squeue is polled until no task is left, then each point's result.json is reported."""
from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path

from ..errors import NnaccelError
from ..render import write
from . import batch
from .batch import SchedulerError, last_line, load_points, report, require_tool, select, shell_join

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def array_spec(indices: list[int]) -> str:
    """Sorted indices as Slurm's compact array list: [0, 1, 2, 5, 7, 8] -> '0-2,5,7-8'."""
    runs: list[list[int]] = []
    for i in sorted(set(indices)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def _sbatch_value(text: str) -> str:
    """An #SBATCH option value: sbatch reads double quotes around one with spaces."""
    return f'"{text}"' if re.search(r"\s", text) else text


def write_script(bundle: Path, selected: list[dict], *, seats: int, launcher: str | None,
                 licence: str = "vivado", partition: str | None = None) -> Path:
    """DIR/slurm/sweep.sbatch for these points (the logs folder it names is made too)."""
    if seats < 1:
        raise NnaccelError(f"--seats {seats}: must be at least 1")
    for what, value in (("licence", licence), ("partition", partition)):
        if value is not None and not NAME.match(value):
            raise NnaccelError(f"Slurm {what} {value!r}: use letters, digits, '_', '.' or '-'")
    if re.search(r'["\n]', str(bundle)):
        raise NnaccelError(f"Slurm: the bundle path {str(bundle)!r} contains a double quote or newline, "
                           "which an #SBATCH line cannot hold")
    logs = bundle / "slurm" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return write(bundle / "slurm" / "sweep.sbatch", "sweep/slurm.sbatch.j2",
                 bundle=_sbatch_value(str(bundle)), n_points=len(selected), seats=seats, licence=licence,
                 partition=partition, output=_sbatch_value(f"{logs}/%A_%a.log"),
                 job_name="nnaccel-sweep-" + re.sub(r"[^A-Za-z0-9_.-]", "_", bundle.name),
                 array=array_spec([p["index"] for p in selected]),
                 launcher=shlex.quote(launcher) if launcher else None,
                 command=shell_join(batch.run_point_command(bundle)))


def wait_for(job: str, log, poll: float = 5.0) -> None:
    """Return once squeue lists no task of the job (sacct needs an accounting database; squeue does not)."""
    squeue = require_tool("squeue", "Slurm")
    failures = 0
    while True:
        proc = subprocess.run([squeue, "-h", "-j", job, "-o", "%i %T"], capture_output=True, text=True)
        if proc.returncode == 0 and not proc.stdout.strip():
            return
        if proc.returncode != 0:
            if "invalid job id" in proc.stderr.lower():  # finished and already purged
                return
            failures += 1
            if failures >= 5:
                raise SchedulerError(f"Slurm: squeue keeps failing for job {job}: {last_line(proc.stderr)}")
        else:
            failures = 0
        time.sleep(poll)


def submit(bundle: Path, indices: list[int], *, seats: int, launcher: str | None, wait: bool,
           dry_run: bool, log, licence: str = "vivado", partition: str | None = None,
           poll: float = 5.0) -> int:
    bundle = Path(bundle).resolve()
    selected = select(load_points(bundle), indices)
    sbatch = None if dry_run else require_tool("sbatch", "Slurm")  # before writing anything
    script = write_script(bundle, selected, seats=seats, launcher=launcher, licence=licence,
                          partition=partition)
    if dry_run:
        log(f"wrote {script}; submit it with: sbatch {shlex.quote(str(script))}")
        return 0
    proc = subprocess.run([sbatch, "--parsable", str(script)], capture_output=True, text=True, cwd=bundle)
    if proc.returncode != 0:
        raise SchedulerError(f"Slurm: sbatch refused {script}: {last_line(proc.stderr)}")
    job = proc.stdout.strip().split(";")[0]
    log(f"submitted {len(selected)} points as Slurm job array {job} (at most {seats} at a time, "
        f"one {licence} licence each); logs in {script.parent / 'logs'}")
    if not wait:
        return 0
    wait_for(job, log, poll)
    return report(bundle, selected, log)
