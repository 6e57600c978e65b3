"""FuseSoC generator API (GAPI 1.0) glue shared by the generator scripts."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from . import __version__
from .errors import NnaccelError


def read_gapi(path: str) -> tuple[dict, Path, str]:
    """The generator's input: (parameters, files_root of the calling core, vlnv)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    return data.get("parameters") or {}, Path(data.get("files_root", ".")), data.get("vlnv", "")


def run(name: str, body, script_version: str | None = None) -> int:
    """Run a generator body; a user mistake is one line on stderr and a non-zero exit."""
    if len(sys.argv) != 2:
        print(f"usage: {name} GAPI_INPUT.yml (FuseSoC runs this generator; see generators.core)", file=sys.stderr)
        return 2
    if script_version is not None and script_version != __version__:
        # The script's version is part of FuseSoC's cache key; a stale one would keep old IPs.
        print(f"{name}: error: generator script is for nnaccel {script_version}, the nnaccel package beside it "
              f"is {__version__}; reinstall nn_accel so both come from one release", file=sys.stderr)
        return 1
    try:
        params, files_root, vlnv = read_gapi(sys.argv[1])
        body(params, files_root, vlnv)
    except NnaccelError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 1
    return 0
