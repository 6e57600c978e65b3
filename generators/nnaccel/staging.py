"""Output paths. Every output is built next to its target and moved into place only
when everything succeeded, so a failed or interrupted run leaves nothing
half-written; and nothing this tool did not write is ever deleted or replaced."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

from .errors import OutputError

DESCRIPTION = "nnaccel.json"
_COMMIT_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def current_umask() -> int:
    # /proc avoids the os.umask() set-and-restore dance, which races with other threads
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def give_umask_mode(path: Path, like: Path | None = None) -> None:
    """mkstemp/mkdtemp create 0600/0700; an output gets what open()/mkdir() would have given it
    (or the mode of the file it replaces, as cp does)."""
    if like is not None and like.is_file():
        os.chmod(path, like.stat().st_mode & 0o777)
        return
    full = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, full & ~current_umask())


def copy_tree(src: Path, dst: Path, ignore=None) -> None:
    """shutil.copytree, with the copies' modes from the umask rather than copied from the
    source (an installed package's files may be 0644 or read-only whatever the user's umask)."""
    shutil.copytree(src, dst, ignore=ignore, copy_function=shutil.copyfile)
    for p in [Path(dst), *Path(dst).rglob("*")]:
        give_umask_mode(p)


def written_by_nnaccel(d: Path) -> bool:
    """An IP directory `nnaccel ip` wrote: its description file names the schema and our version."""
    try:
        data = json.loads((Path(d) / DESCRIPTION).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "schema" in data and "nnaccel_version" in data


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def check_dir_target(final: Path, inputs=(), force: bool = False, owned=written_by_nnaccel) -> None:
    """Refuse an output directory that would destroy something: the current directory or one
    holding the inputs (always), a non-directory (always), a non-empty directory of someone
    else's files (unless force)."""
    shown, final = final, Path(os.path.abspath(final))
    real = final.resolve()
    if _inside(Path.cwd().resolve(), real):
        raise OutputError(f"{shown}: is the current directory or contains it; give a new directory for the output")
    for i in inputs:
        if i is not None and _inside(Path(i).resolve(), real):
            raise OutputError(f"{shown}: holds the input {i}; give a directory of its own for the output")
    if final.is_symlink():
        raise OutputError(f"{shown}: is a symbolic link; give the output directory itself")
    if not final.exists():
        return
    if not final.is_dir():
        raise OutputError(f"{shown}: exists and is not a directory; give a new directory for the output")
    try:
        empty = not any(final.iterdir())
    except OSError as e:
        raise OutputError(f"{shown}: cannot read it ({_reason(e)})") from None
    if empty or owned(final) or force:
        return
    raise OutputError(f"{shown}: is a directory of files nnaccel did not write; give a new or empty directory, "
                      "or pass --force to replace it")


def _make_parents(d: Path, created: list[Path]) -> None:
    """mkdir -p, recording in `created` what it made (deepest last) so a failure can take it back."""
    missing = []
    p = d
    while not p.exists() and not p.is_symlink():
        missing.append(p)
        p = p.parent
    for m in reversed(missing):
        try:
            m.mkdir()
        except OSError as e:
            raise OutputError(f"{m}: cannot create the directory ({_reason(e)})") from None
        created.append(m)


def _make_stage(shown, parent: Path, prefix: str, directory: bool = True) -> Path:
    try:
        if directory:
            stage = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, dir=parent)
            os.close(fd)
            stage = Path(name)
    except OSError as e:
        raise OutputError(f"{shown}: cannot write it ({_reason(e)})") from None
    return stage


def _discard(stage: Path | None, created: list[Path]) -> None:
    with _signals_held():  # a second Ctrl-C must not interrupt the cleanup of the first
        if stage is not None:
            if stage.is_dir() and not stage.is_symlink():
                shutil.rmtree(stage, ignore_errors=True)
            else:
                stage.unlink(missing_ok=True)
        _remove_created(created)


def _remove_created(created: list[Path]) -> None:
    for c in reversed(created):
        with contextlib.suppress(OSError):
            c.rmdir()


def _as_output_error(e: OSError, shown, stage: Path | None) -> BaseException:
    """An OSError while writing the staged copy names a hidden path; name the user's output instead.
    (Errors about other paths, e.g. an input, keep their own name.)"""
    names = [n for n in (e.filename, e.filename2) if n is not None]
    final = Path(os.path.abspath(shown))
    if not names or any((stage is not None and _inside(Path(os.path.abspath(n)), stage))
                        or Path(os.path.abspath(n)) == final for n in names):
        return OutputError(f"{shown}: cannot write it ({_reason(e)})")
    return e


@contextlib.contextmanager
def _signals_held():
    """The swap of a finished output into place is not interruptible: a signal waits until it is done."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _COMMIT_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def staged_dir(final: Path, *, inputs=(), force: bool = False, owned=written_by_nnaccel):
    """Yield a fresh directory next to `final`; on success it replaces `final`. `final` must be new,
    empty, or recognised by `owned` as our own earlier output (or `force`); see check_dir_target."""
    shown, final = final, Path(os.path.abspath(final))
    check_dir_target(shown, inputs, force, owned)
    created: list[Path] = []
    stage = None
    try:  # every step inside: an error or a signal at any point takes back what was made
        _make_parents(final.parent, created)
        stage = _make_stage(shown, final.parent, f".{final.name}.")
        give_umask_mode(stage)
        yield stage
        with _signals_held():
            _replace_dir(stage, final)
    except BaseException as e:
        _discard(stage, created)
        if isinstance(e, OSError):
            raise _as_output_error(e, shown, stage) from None
        raise


def _replace_dir(stage: Path, final: Path) -> None:
    if not final.exists():
        os.rename(stage, final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
    try:
        os.rename(final, old / "x")
        try:
            os.rename(stage, final)
        except OSError:
            os.rename(old / "x", final)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def check_file_target(final: Path, inputs=()) -> None:
    """An output file named by the user may replace a file (like cp or gcc -o), never a directory or an input."""
    shown, final = final, Path(os.path.abspath(final))
    if final.is_dir():
        raise OutputError(f"{shown}: is a directory; give the name of the file to write")
    if final.exists() and not final.is_file():  # a device or a FIFO would be replaced by a plain file
        raise OutputError(f"{shown}: is not a regular file; give the name of the file to write")
    for i in inputs:
        if i is not None and final.exists() and Path(i).exists() and final.samefile(i):
            raise OutputError(f"{shown}: is also an input; give another name for the output")


@contextlib.contextmanager
def staged_file(final: Path, *, inputs=()):
    """Yield a temporary path next to `final`; on success it is renamed to `final`."""
    shown, final = final, Path(os.path.abspath(final))
    check_file_target(shown, inputs)
    created: list[Path] = []
    tmp = None
    try:
        _make_parents(final.parent, created)
        tmp = _make_stage(shown, final.parent, f".{final.name}.", directory=False)
        give_umask_mode(tmp, like=final)
        yield tmp
        with _signals_held():
            os.replace(tmp, final)
    except BaseException as e:
        _discard(tmp, created)
        if isinstance(e, OSError):
            raise _as_output_error(e, shown, tmp) from None
        raise


@contextlib.contextmanager
def staged_files(out_dir: Path, names: list[str], *, inputs=()):
    """Yield a staging directory inside out_dir; on success the files `names` written there
    replace their namesakes in out_dir. Other files in out_dir are left alone."""
    shown, out_dir = out_dir, Path(os.path.abspath(out_dir))
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{shown}: is not a directory; give the directory for the files")
    for n in names:
        check_file_target(out_dir / n, inputs)
    created: list[Path] = []
    stage = None
    try:
        _make_parents(out_dir, created)
        stage = _make_stage(shown, out_dir, ".nnaccel-stage.")
        yield stage
        with _signals_held():
            for n in names:
                os.replace(stage / n, out_dir / n)
        shutil.rmtree(stage, ignore_errors=True)
    except BaseException as e:
        _discard(stage, created)  # out_dir stays if an earlier name already moved in
        if isinstance(e, OSError):
            raise _as_output_error(e, shown, stage) from None
        raise
