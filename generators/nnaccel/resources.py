"""Where the data files that live outside the Python package are: boards/ and sw/.

In a checkout (and an editable install) they are the repository's own folders beside
generators/. A regular install has no checkout, so the build copies them into the package
(`nnaccel/_data/`, see setup.py); that copy is used when it exists.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGED = Path(__file__).resolve().parent / "_data"
CHECKOUT = Path(__file__).resolve().parents[2]


def _find(name: str) -> Path:
    packaged = PACKAGED / name
    return packaged if packaged.is_dir() else CHECKOUT / name


def boards_dir() -> Path:
    """The board database (boards/*.yml, boards/ps/*.yml)."""
    return _find("boards")


def sw_dir() -> Path:
    """The target software sources (sw/c, sw/sim, sw/apps, sw/Makefile)."""
    return _find("sw")


def checkout() -> Path | None:
    """The repository when running from one (examples, FuseSoC cores), else None."""
    return CHECKOUT if (CHECKOUT / "fusesoc.conf").is_file() and (CHECKOUT / "cores").is_dir() else None


def cache_root() -> Path:
    """nnaccel's own build cache (C-simulation libraries, generator outputs, softmax tables):
    $NNACCEL_CACHE, else $XDG_CACHE_HOME/nnaccel, else ~/.cache/nnaccel."""
    root = os.environ.get("NNACCEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nnaccel")
    return Path(root)
