"""FuseSoC generator API (GAPI 1.0) glue shared by the generator scripts."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from . import __version__
from .errors import ConfigError, NnaccelError, one_line


def read_gapi(path: str) -> tuple[dict, Path, str]:
    """The generator's input: (parameters, files_root of the calling core, vlnv). FuseSoC writes
    it from the calling core's `parameters`, which may hold anything YAML can: checked here."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as e:
        raise ConfigError(f"generator input {path}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"generator input {path}: not a text (UTF-8) YAML file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"generator input {path}: not valid YAML" + (f" at line {mark.line + 1}" if mark else "")) \
            from None
    if not isinstance(data, dict):
        raise ConfigError(f"generator input {path}: expected a GAPI mapping (files_root, vlnv, parameters)")
    params, files_root, vlnv = data.get("parameters") or {}, data.get("files_root", "."), data.get("vlnv") or ""
    if not isinstance(params, dict):
        raise ConfigError(f"parameters: expected a mapping of generator parameters, got {params!r:.80}")
    if not isinstance(files_root, str) or not isinstance(vlnv, str):
        raise ConfigError(f"generator input {path}: files_root and vlnv must be strings")
    return params, Path(files_root), vlnv


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
        print(f"{name}: error: {one_line(e)}", file=sys.stderr)
        return 1
    except OSError as e:  # a path no check saw (as the CLI does): name it and the reason, no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"{name}: error: {one_line(where)}{e.strerror or e}", file=sys.stderr)
        return 1
    return 0
