"""SIGTERM and SIGHUP as an exception (SIGINT is KeyboardInterrupt already), so every
staging context manager cleans up on the way out instead of the process vanishing."""
from __future__ import annotations

import contextlib
import signal
import threading


class Terminated(BaseException):
    """Not an Exception: library code catching `Exception` must not swallow a kill request."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def signals_raise():
    """While active (main thread only; elsewhere a no-op), SIGTERM/SIGHUP raise Terminated and
    SIGINT raises KeyboardInterrupt; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, _raise_terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def exit_status(signum: int) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)
