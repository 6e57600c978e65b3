"""Check, before anything imports them, that the Python running a generator has the
packages nnaccel needs. FuseSoC runs generators with whatever `python3` is first on
PATH; without this check a missing package surfaces as a ModuleNotFoundError traceback.
Standard library only: this module must import in a bare Python."""
from __future__ import annotations

import importlib.util
import sys

# (module imported, distribution that provides it)
REQUIRED = (("yaml", "pyyaml"), ("jinja2", "jinja2"), ("numpy", "numpy"), ("h5py", "h5py"),
            ("hls4ml", "hls4ml"), ("keras", "keras"), ("tensorflow", "tensorflow-cpu"))


def missing(required=REQUIRED) -> list[str]:
    """Distributions whose module this interpreter cannot find (find_spec imports nothing)."""
    return [dist for module, dist in required if importlib.util.find_spec(module) is None]


def require(generator: str, required=REQUIRED) -> None:
    """Exit 1 with one line naming what is missing and how to get it, if anything is."""
    lacking = missing(required)
    if lacking:
        print(f"{generator}: error: the Python running this generator ({sys.executable}) lacks "
              f"{', '.join(lacking)}; install nn_accel into it (`pip install <nn_accel clone>`), or run "
              "FuseSoC with the nn_accel venv first on PATH (`make install`, then `. .venv/bin/activate`), "
              "so that the generators' `interpreter: python3` is that venv's python", file=sys.stderr)
        sys.exit(1)
