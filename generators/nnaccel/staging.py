"""Write outputs into a staging directory and move them into place only when
everything succeeded: a failed run leaves nothing half-written."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def staged_dir(final: Path):
    """Yield a fresh directory next to `final`; on success it replaces `final`."""
    final = Path(final).resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.rename(final, old / "x")
        os.rename(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(stage, final)


@contextlib.contextmanager
def staged_file(final: Path):
    """Yield a temporary path next to `final`; on success it is renamed to `final`."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
    os.close(fd)
    try:
        yield Path(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, final)
