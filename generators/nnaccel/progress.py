"""Progress for slow steps: one line per step with its elapsed time, and a bar for
sample loops when the output is a terminal. Progress goes to stdout with the results:
stderr carries nothing but the one-line error of a failed run."""
from __future__ import annotations

import contextlib
import sys
import time


class Progress:
    """A `log` callable (one line per call) that also times steps and draws bars."""

    def __init__(self, prog: str = "nnaccel", stream=None, quiet: bool = False, tty: bool | None = None):
        self.prog = prog
        self.stream = stream if stream is not None else sys.stdout
        self.quiet = quiet
        self.tty = tty if tty is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self._in_step = self._bar_drawn = False

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(f"{self.prog}: {msg}", file=self.stream, flush=True)

    @contextlib.contextmanager
    def step(self, what: str):
        """`prog: what ... done in 6.1 s`; on a terminal the first half appears when the step starts."""
        t0 = time.monotonic()
        live = self.tty and not self.quiet
        head = f"{self.prog}: {what} ... "
        self._in_step, self._bar_drawn = live, False
        if live:
            self.stream.write(head)
            self.stream.flush()
        try:
            yield
        except BaseException:
            if live:  # the error line that follows starts on a line of its own
                self.stream.write(("\r\x1b[K" + head if self._bar_drawn else "") + "failed\n")
                self.stream.flush()
            raise
        finally:
            self._in_step = False
        dt = time.monotonic() - t0
        if live:  # a bar drawn meanwhile is replaced by the step's line
            self.stream.write(("\r\x1b[K" + head if self._bar_drawn else "") + f"done in {dt:.1f} s\n")
            self.stream.flush()
        else:
            self(f"{what} ... done in {dt:.1f} s")

    def bar(self, what: str, total: int):
        """A callback `update(done)` drawing `prog: what [#####.....] done/total` on a terminal."""
        t0 = time.monotonic()
        width = 30

        def update(done: int) -> None:
            if self.quiet or not self.tty:
                return
            filled = width * done // max(total, 1)
            self.stream.write(f"\r\x1b[K{self.prog}: {what} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            self._bar_drawn = True
            if done >= total and not self._in_step:
                self.stream.write(f" in {time.monotonic() - t0:.1f} s\n")
            self.stream.flush()

        return update


@contextlib.contextmanager
def step(log, what: str):
    """Time a step with any `log` callable: a Progress draws it live, anything else gets one line at the end."""
    if isinstance(log, Progress):
        with log.step(what):
            yield
        return
    t0 = time.monotonic()
    yield
    log(f"{what} ... done in {time.monotonic() - t0:.1f} s")


def bar(log, what: str, total: int):
    """A progress-bar callback for `log` (a no-op unless it is a Progress on a terminal)."""
    return log.bar(what, total) if isinstance(log, Progress) else None
