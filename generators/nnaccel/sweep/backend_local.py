"""The default backend: a local process pool. `jobs` points run at once, each as its own
`nnaccel sweep run-point` process (its output in points/<id>/run.log); at most `seats` of them are
in the vendor-tool stage at once (seats.py); a failing point does not stop the others."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import batch
from . import seats as seat_env
from .manifest import load_manifest, read_result


def run_point_command(bundle: Path, index: int) -> list[str]:
    return batch.run_point_command(bundle) + ["--index", str(index)]


def _env(seats: int, launcher: str | None) -> dict:
    env = dict(os.environ, **{seat_env.ENV: str(seats)})
    if launcher:
        env["EDALIZE_LAUNCHER"] = launcher
    return env


def _detach(bundle: Path, indices: list[int], seats: int, launcher: str | None, jobs: int | None, log) -> int:
    cmd = [sys.executable, "-m", "nnaccel", "sweep", "submit", str(bundle), "--backend", "local",
           "--seats", str(seats), "--points", ",".join(map(str, indices))]
    cmd += ["--jobs", str(jobs)] if jobs else []
    cmd += ["--launcher", launcher] if launcher else []
    with open(bundle / "submit-local.log", "a") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    log(f"started the local pool as process {proc.pid} (log: {bundle / 'submit-local.log'}); "
        f"`nnaccel sweep collect {bundle}` shows the results so far")
    return 0


def submit(bundle: Path, indices: list[int], *, seats: int, launcher: str | None, wait: bool, dry_run: bool,
           log, jobs: int | None = None) -> int:
    bundle = Path(bundle).resolve()
    manifest = load_manifest(bundle)
    jobs = jobs or os.cpu_count() or 1
    if dry_run:
        prefix = f"{seat_env.ENV}={seats}" + (f" EDALIZE_LAUNCHER={shlex.quote(launcher)}" if launcher else "")
        for i in indices:
            log(f"would run: {prefix} {shlex.join(run_point_command(bundle, i))}")
        return 0
    if not wait:
        return _detach(bundle, indices, seats, launcher, jobs, log)

    env = _env(seats, launcher)
    running: set = set()
    lock = threading.Lock()
    stopping = threading.Event()

    def one(i: int) -> int:
        if stopping.is_set():
            return -1
        entry = manifest["points"][i]
        with open(bundle / entry["dir"] / "run.log", "w") as out:
            proc = subprocess.Popen(run_point_command(bundle, i), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env)
            with lock:
                running.add(proc)
            rc = proc.wait()
            with lock:
                running.discard(proc)
        res = read_result(bundle, entry)
        if res is None:
            log(f"{entry['id']}: run-point exited {rc} without a result ({entry['dir']}/run.log)")
        elif res["status"] == "ok":
            log(f"{entry['id']}: ok ({res['seconds']:.1f} s)")
        else:
            log(f"{entry['id']}: failed: {res['reason']}")
        return rc

    pool = ThreadPoolExecutor(max_workers=min(jobs, max(1, len(indices))))
    try:
        codes = list(pool.map(one, indices))
    except BaseException:
        stopping.set()  # no new points; the running ones are stopped and leave no result
        with lock:
            for proc in running:
                proc.terminate()
        pool.shutdown(wait=True)
        raise
    pool.shutdown()
    results = [read_result(bundle, manifest["points"][i]) for i in indices]
    ok = [manifest["points"][i]["id"] for i, r in zip(indices, results) if r and r["status"] == "ok"]
    bad = [manifest["points"][i]["id"] for i, r in zip(indices, results) if not (r and r["status"] == "ok")]
    log(f"{len(indices)} points run: {len(ok)} ok, {len(bad)} failed" + (f" ({', '.join(bad)})" if bad else ""))
    return 0 if not bad and all(c == 0 for c in codes) else 1
