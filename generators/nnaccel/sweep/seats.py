"""Licence seats for the local backend: at most K points in the vendor-tool stage at once.

A seat is an flock on one of K files in DIR/.seats; the kernel drops a lock when its holder dies,
so a killed point never keeps a seat. Run-point takes a seat only when NNACCEL_SWEEP_SEATS is set
(the local backend sets it; Slurm and HTCondor count licences themselves)."""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

ENV = "NNACCEL_SWEEP_SEATS"
POLL_SECONDS = 0.2


def seats_from_env() -> int | None:
    text = os.environ.get(ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


@contextlib.contextmanager
def seat(bundle: Path, count: int | None, log=lambda msg: None):
    """Hold one of `count` seats (None: no limit) for the duration of the block."""
    if count is None:
        yield None
        return
    d = Path(bundle) / ".seats"
    d.mkdir(exist_ok=True)
    waited = False
    while True:
        for i in range(count):
            fd = os.open(d / f"seat{i}", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield i
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if not waited:
            log(f"waiting for one of {count} licence seats")
            waited = True
        time.sleep(POLL_SECONDS)
