"""`nnaccel sweep submit`: the points still to run, handed to a backend module
`nnaccel.sweep.backend_<name>` with `submit(bundle, indices, *, seats, launcher, wait, dry_run, log) -> int`."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from ..errors import InputError
from .manifest import is_done, load_manifest, read_result


def available_backends() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name[len("backend_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("backend_"))


def parse_points(text: str | None, n: int) -> list[int] | None:
    """`--points 0,3,5-7`: indices, each checked against the bundle."""
    if text is None:
        return None
    out: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            rng = range(int(lo), int(hi) + 1) if sep else [int(lo)]
        except ValueError:
            raise InputError(f"--points {text!r}: expected indices like 0,3,5-7") from None
        for i in rng:
            if not 0 <= i < n:
                raise InputError(f"--points: {i} is not a point of this bundle (0 to {n - 1})")
            if i not in out:
                out.append(i)
    return out


def submit(bundle: Path, backend: str, *, seats: int, launcher: str | None, wait: bool, dry_run: bool,
           points: str | None, jobs: int | None, log) -> int:
    names = available_backends()
    if backend not in names:
        raise InputError(f"--backend {backend}: unknown backend; available: {', '.join(names)}")
    module = importlib.import_module(f"{__package__}.backend_{backend}")
    extra = {}
    if jobs is not None:
        if "jobs" not in inspect.signature(module.submit).parameters:
            raise InputError(f"--jobs: the {backend} backend does not take it (its scheduler decides)")
        extra["jobs"] = jobs
    manifest = load_manifest(bundle)
    n = len(manifest["points"])
    chosen = parse_points(points, n)
    candidates = chosen if chosen is not None else list(range(n))
    pending = [i for i in candidates if not is_done(read_result(bundle, manifest["points"][i]), manifest["stage"])]
    if not pending:
        log(f"all {len(candidates)} points already have an ok result; nothing to submit")
        return 0
    log(f"submitting {len(pending)} of {n} points to the {backend} backend"
        + (f" ({len(candidates) - len(pending)} already ok)" if len(pending) < len(candidates) else ""))
    return module.submit(Path(bundle).resolve(), pending, seats=seats, launcher=launcher, wait=wait,
                         dry_run=dry_run, log=log, **extra)
