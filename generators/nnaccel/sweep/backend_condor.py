"""HTCondor backend of `nnaccel sweep submit`: a submit file whose `queue index,id,dir from`
reads the bundle's points.txt (or the selected lines of it), one job per point, with a
`concurrency_limits` licence unit per job and `max_materialize` as the sweep's seat count.
Without condor_submit (or with dry_run) the file is written and the command printed."""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from ..errors import NnaccelError
from ..render import write
from . import batch
from .batch import SchedulerError, last_line, load_points, report, select

NAME = re.compile(r"^[A-Za-z0-9_]+$")


def condor_word(word: str) -> str:
    """One word of HTCondor's double-quoted `arguments`/`environment` syntax: in single quotes
    when it has white space or quotes, ' and " written twice."""
    word = word.replace('"', '""')
    return "'" + word.replace("'", "''") + "'" if (not word or re.search(r"[\s'\"]", word)) else word


def condor_quote(argv: list[str]) -> str:
    return " ".join(condor_word(a) for a in argv)


def write_submit(bundle: Path, points: dict[int, dict], selected: list[dict], *, seats: int,
                 launcher: str | None, licence: str = "vivado") -> Path:
    """DIR/condor/sweep.sub (and DIR/condor/points.txt when only some points are submitted)."""
    if seats < 1:
        raise NnaccelError(f"--seats {seats}: must be at least 1")
    if not NAME.match(licence):
        raise NnaccelError(f"HTCondor concurrency limit {licence!r}: use letters, digits or '_'")
    if any(re.search(r"\s", str(p[k])) for p in selected for k in ("id", "dir")):
        raise NnaccelError("a point id or dir contains white space, which `queue ... from` cannot read")
    for what, text in (("bundle path", str(bundle)), ("--launcher", launcher or "")):
        if "\n" in text or "$(" in text:  # a submit file is line-based, and expands $(...) as its macros
            raise NnaccelError(f"HTCondor: the {what} {text!r} contains a newline or '$(', which a submit file cannot hold")
    items = bundle / "points.txt"
    if {p["index"] for p in selected} != set(points) or not items.exists():
        items = write(bundle / "condor" / "points.txt", "sweep/points.txt.j2", points=selected)
    (bundle / "condor").mkdir(exist_ok=True)
    argv = batch.run_point_command(bundle)
    return write(bundle / "condor" / "sweep.sub", "sweep/condor.sub.j2",
                 bundle=str(bundle), n_points=len(selected), seats=seats, licence=licence,
                 batch_name=f"nnaccel-sweep-{bundle.name}", executable=argv[0],
                 arguments=condor_quote(argv[1:]), items=str(items),
                 environment=f"EDALIZE_LAUNCHER={condor_word(launcher)}" if launcher else None)


def submit(bundle: Path, indices: list[int], *, seats: int, launcher: str | None, wait: bool,
           dry_run: bool, log, licence: str = "vivado") -> int:
    bundle = Path(bundle).resolve()
    points = load_points(bundle)
    selected = select(points, indices)
    sub = write_submit(bundle, points, selected, seats=seats, launcher=launcher, licence=licence)
    command = f"condor_submit {shlex.quote(str(sub))}"
    if dry_run:
        log(f"wrote {sub}; submit it with: {command}")
        return 0
    try:
        condor_submit = batch.require_tool("condor_submit", "HTCondor")
    except SchedulerError as e:
        raise SchedulerError(f"{e}; wrote {sub}, submit it where HTCondor is with: {command}") from None
    proc = subprocess.run([condor_submit, "-terse", str(sub)], capture_output=True, text=True, cwd=bundle)
    if proc.returncode != 0:
        raise SchedulerError(f"HTCondor: condor_submit refused {sub}: {last_line(proc.stderr or proc.stdout)}")
    cluster = proc.stdout.strip().split(".")[0]
    log(f"submitted {len(selected)} points as HTCondor cluster {cluster} (at most {seats} at a time, "
        f"one {licence} unit each); logs in each point's folder and {bundle / 'condor/condor.log'}")
    if not wait:
        return 0
    condor_wait = batch.require_tool("condor_wait", "HTCondor")
    done = subprocess.run([condor_wait, str(bundle / "condor/condor.log"), cluster], capture_output=True, text=True)
    if done.returncode != 0:
        raise SchedulerError(f"HTCondor: condor_wait failed for cluster {cluster}: {last_line(done.stderr or done.stdout)}")
    return report(bundle, selected, log)
