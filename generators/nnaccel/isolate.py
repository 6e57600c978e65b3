"""Compiled model code (our C-simulation library, hls4ml's reference library) runs in worker
processes (nnaccel/csim_worker.py), never in the caller's: an abort, a segfault or an endless
loop in generated or hls4ml C++ becomes one NnaccelError naming the model and, when the
assertion names one, the layer. A worker is reused across calls and restarted after a crash;
several workers split large batches (run_all)."""
from __future__ import annotations

import atexit
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from .errors import CsimCrash, CsimTimeout, NnaccelError

WORKER_SCRIPT = Path(__file__).with_name("csim_worker.py")
_LEN = struct.Struct("<Q")
_LIVE: "weakref.WeakSet[Worker]" = weakref.WeakSet()
ASSERTION = re.compile(r"(?P<file>[\w.]+):\d+: (?P<func>.*?): Assertion [`'](?P<expr>.*)' failed")
CONFIG_T = re.compile(r"CONFIG_T = (config\d+)")
MAX_ASSERTION = 100  # characters of the assertion expression kept in the one-line message
STDERR_TAIL = 1 << 16  # bytes of a dead worker's stderr searched for the reason


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class Worker:
    """One worker process with `library` loaded (a private copy when `private`). `what` names the
    model in messages; `firmware` (hls4ml's firmware directory) maps an assertion's config to a
    layer name. `state` belongs to the owner (e.g. the weight image loaded) and is reset on restart."""

    def __init__(self, library: Path, what: str, firmware: Path | None = None, private: bool = True):
        self.library, self.what, self.firmware, self.private = Path(library), what, firmware, private
        self.proc: subprocess.Popen | None = None
        self.state = None
        self._err = None
        self._pending = False
        _LIVE.add(self)

    # -- process --
    def ensure(self, timeout: float) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.close()
        self._err = tempfile.TemporaryFile(prefix="nnaccel-worker-err-")
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", str(WORKER_SCRIPT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._err, close_fds=True)
        self.state = None
        self.request(("load", str(self.library), self.private), timeout)

    def close(self) -> None:
        p, self.proc, self._pending = self.proc, None, False
        if p is not None:
            if p.poll() is None:
                try:
                    p.stdin.close()
                    p.wait(timeout=2)
                except (OSError, subprocess.TimeoutExpired):
                    p.kill()
                    p.wait()
            for f in (p.stdin, p.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        if self._err is not None:
            self._err.close()
            self._err = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self.close()

    def fileno(self) -> int:
        return self.proc.stdout.fileno()

    # -- requests --
    def submit(self, req) -> None:
        data = pickle.dumps(req, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(_LEN.pack(len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._crashed() from None
        self._pending = True

    def receive(self, timeout: float, doing: str, deadline: float | None = None):
        """The reply to the submitted request; CsimCrash if the worker died, CsimTimeout if it
        did not answer within `timeout` seconds (or by `deadline`; the worker is killed)."""
        if deadline is None:
            deadline = time.monotonic() + timeout
        fd = self.fileno()
        buf = b""
        need = _LEN.size
        header_done = False
        while True:
            while len(buf) < need:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    self.kill()
                    raise CsimTimeout(f"{self.what}: {doing} did not finish within {timeout:g} s (an endless loop "
                                      f"in the C++?); the worker was stopped. Allow more with --timeout")
                chunk = os.read(fd, max(need - len(buf), 1 << 16))
                if not chunk:
                    raise self._crashed()
                buf += chunk
            if header_done:
                break
            need = _LEN.size + _LEN.unpack(buf[:_LEN.size])[0]
            header_done = True
        self._pending = False
        reply = pickle.loads(buf[_LEN.size:need])
        if reply[0] != "ok":
            self.kill()
            raise NnaccelError(f"{self.what}: the C-simulation worker refused a request ({reply[1]})")
        return reply

    def request(self, req, timeout: float, doing: str = "the compiled model"):
        self.submit(req)
        return self.receive(timeout, doing)

    # -- diagnosis --
    def _crashed(self) -> CsimCrash:
        p = self.proc
        try:
            rc = p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        stderr = ""
        if self._err is not None:  # the end of it: an assertion is the last thing a process says
            size = self._err.seek(0, os.SEEK_END)
            self._err.seek(max(0, size - STDERR_TAIL))
            stderr = self._err.read().decode(errors="replace")
        self.close()
        how = f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
        return CsimCrash(f"{self.what}: the compiled model {how}{describe_failure(stderr, self.firmware)}")


def describe_failure(stderr: str, firmware: Path | None) -> str:
    """' in layer L: assertion `...' failed (file)' from a C assertion message, else the last
    stderr line; '' when the C++ said nothing."""
    m = ASSERTION.search(stderr)
    if not m:
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        return f": {lines[-1][:160]}" if lines else ""
    expr = m["expr"] if len(m["expr"]) <= MAX_ASSERTION else m["expr"][:MAX_ASSERTION - 3] + "..."
    where = ""
    cfg = CONFIG_T.search(m["func"])
    layer = layer_of_config(cfg[1], firmware) if cfg else None
    if layer:
        where = f" in layer {layer}"
    return f"{where}: assertion `{expr}' failed ({m['file']})"


def layer_of_config(config: str, firmware: Path | None) -> str | None:
    """hls4ml writes one call per layer into myproject.cpp, `nnet::f<..., configN>(...); // name`."""
    if firmware is None:
        return None
    try:
        text = (Path(firmware) / "myproject.cpp").read_text()
    except OSError:
        return None
    m = re.search(rf"[<,\s]{config}>.*?//\s*(\S+)", text)
    return m[1] if m else None


def run_all(workers: list[Worker], jobs: list, timeout_of, doing: str, on_done=None) -> list:
    """Run `jobs` (requests) on the workers, each worker one job at a time; replies in job order.
    `timeout_of(job)`: its seconds; `on_done(i, reply)` as each finishes. On any failure the
    other workers are stopped (their state is reloaded on next use) and the error raised."""
    replies = [None] * len(jobs)
    queue = list(range(len(jobs)))[::-1]
    busy: dict[Worker, tuple[int, float]] = {}
    grace = 0.5  # a reply that is arriving at its deadline is still read
    try:
        while queue or busy:
            for w in workers:
                if queue and w not in busy:
                    i = queue.pop()
                    w.submit(jobs[i])
                    busy[w] = (i, time.monotonic() + timeout_of(jobs[i]))
            soonest = min(d for _, d in busy.values())
            ready = select.select(list(busy), [], [], max(0.0, soonest - time.monotonic()))[0]
            if not ready:  # a deadline passed: receive() with no time left names it
                ready = [w for w, (_, d) in busy.items() if d <= time.monotonic()]
            for w in ready:
                i, deadline = busy.pop(w)
                replies[i] = w.receive(timeout_of(jobs[i]), doing, deadline + grace)
                if on_done:
                    on_done(i, replies[i])
    except BaseException:
        for w in busy:
            w.kill()
        raise
    return replies


@atexit.register
def _stop_all() -> None:
    for w in list(_LIVE):
        w.kill()
