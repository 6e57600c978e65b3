"""One user of a device at a time: threads of a process share a lock, processes an advisory
flock on a file every user of the device opens (on Linux/UIO the /dev/uioN node, which the C
driver's Linux HAL locks too). Reentrant for its holder, so a caller can hold it across a
sequence of operations (`with acc.lock(): load_weights(...); predict(...)`)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time

from .errors import BusyError, DriverError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: threads are still serialised
    fcntl = None


def _task():
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop in this thread
        return None


class DeviceLock:
    """`path` None: threads only. The file is opened once (created if it does not exist and
    the directory allows it) and flock'ed exclusively while the outermost holder holds it."""

    def __init__(self, path=None):
        self.path = None if path is None else os.fspath(path)
        self._mutex = threading.Lock()
        self._owner = None
        self._depth = 0
        self._fd = None
        if self.path is not None and fcntl is not None:
            try:
                try:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                except PermissionError:  # a device node or another user's file: a read-only fd can be flock'ed
                    self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise DriverError(f"cannot open the device lock file {self.path} ({e.strerror})") from None

    def _me(self):
        return threading.get_ident(), _task()

    def _reenter(self, me) -> bool:
        if self._owner == me:
            self._depth += 1
            return True
        if self._owner is not None and self._owner[0] == me[0]:
            # another coroutine of this thread holds it across an await: blocking here would stop
            # the event loop that has to finish the holder
            raise BusyError("the device is in use by another coroutine of this thread; await it first")
        return False

    def acquire(self, timeout: float | None = None) -> None:
        me = self._me()
        if self._reenter(me):
            return
        t0 = time.monotonic()
        if not self._mutex.acquire(timeout=-1 if timeout is None else timeout):
            raise BusyError(f"the device is in use by another thread (waited {timeout:g} s)")
        try:
            self._flock(t0, timeout)
        except BaseException:
            self._mutex.release()
            raise
        self._owner, self._depth = me, 1

    async def acquire_async(self, timeout: float | None = None) -> None:
        """acquire() that awaits instead of blocking the event loop (also for another coroutine
        of this thread that holds it)."""
        me = self._me()
        if self._owner == me:
            self._depth += 1
            return
        owner = self._owner
        if owner is not None and owner[0] == me[0] and owner[1] is None:
            # this thread holds it outside the event loop that runs us: waiting would never end
            raise BusyError("the device is held by this thread outside the event loop (acc.lock()); "
                            "release it before running coroutines that use the device")
        t0, pause = time.monotonic(), 0.0002
        while not self._mutex.acquire(blocking=False):
            self._check_wait(t0, timeout, "another thread or coroutine")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.005)
        try:
            while not self._try_flock():
                self._check_wait(t0, timeout, f"another process ({self.path})")
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.005)
        except BaseException:
            self._mutex.release()
            raise
        self._owner, self._depth = me, 1

    def release(self) -> None:
        if self._owner != self._me():
            raise RuntimeError("DeviceLock released by a thread or task that does not hold it")
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._mutex.release()

    @staticmethod
    def _check_wait(t0: float, timeout: float | None, who: str) -> None:
        if timeout is not None and time.monotonic() - t0 > timeout:
            raise BusyError(f"the device is in use by {who} (waited {timeout:g} s)")

    def _try_flock(self) -> bool:
        if self._fd is None:
            return True
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _flock(self, t0: float, timeout: float | None) -> None:
        if self._fd is None:
            return
        if timeout is None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            return
        pause = 0.0002
        while not self._try_flock():
            self._check_wait(t0, timeout, f"another process ({self.path})")
            time.sleep(pause)
            pause = min(pause * 2, 0.005)

    @contextlib.contextmanager
    def hold(self, timeout: float | None = None):
        self.acquire(timeout)
        try:
            yield
        finally:
            self.release()

    @contextlib.asynccontextmanager
    async def hold_async(self, timeout: float | None = None):
        await self.acquire_async(timeout)
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
