"""A cache of generator outputs keyed by the content of everything they read.

FuseSoC re-runs generators it cannot cache on every `fusesoc run` (zynq_bd: the model
paths nested in `accelerators` are invisible to `file_input_parameters`). The output of
such a run is stored under <NNACCEL_CACHE>/generators/<name>-<key>/ and copied back when
the key matches. The key covers: the generator, its parameters and vlnv, the content of
every file or directory a parameter names (recursively through YAML files, whose paths
are relative to themselves, and a Keras 2 model's NAME_weights.h5), the board files,
nnaccel's version and its own source and templates, and the versions of the packages
that shape the output (hls4ml, Keras, TensorFlow, NumPy).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import yaml

from . import __version__, resources
from .boards import board_dirs

PACKAGES = ("hls4ml", "keras", "tensorflow-cpu", "tensorflow", "numpy")
SKIP_DIRS = {"__pycache__"}


def cache_root() -> Path:
    return resources.cache_root() / "generators"


def _tree_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith("_prj"))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.endswith((".pyc", ".so", ".o"))]
    return out


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def input_files(params, base: Path, seen: set[Path] | None = None) -> list[Path]:
    """Every existing file that a string among the parameters names (relative to base), and
    every file of a named IP directory."""
    seen = set() if seen is None else seen
    found: list[Path] = []
    for s in _strings(params):
        if not s or "\n" in s or len(s) > 4096:
            continue
        try:
            p = (base / s).resolve()
            is_file, is_dir = p.is_file(), p.is_dir()
        except OSError:
            continue
        if p in seen or not (is_file or is_dir):
            continue
        seen.add(p)
        if p.name == "nnaccel.json":  # `ip:` may name the description instead of its directory
            p, is_dir = p.parent, True
        if is_dir:
            # Only IP directories are directory inputs; any other (".", a board name that
            # happens to be a folder) is not read by the generator.
            if (p / "nnaccel.json").is_file():
                found += _tree_files(p)
            continue
        found.append(p)
        if p.suffix == ".json":  # a Keras 2 model reads NAME_weights.h5 beside NAME.json
            weights = p.with_name(p.stem + "_weights.h5")
            if weights.is_file():
                found.append(weights)
        if p.suffix in (".yml", ".yaml"):
            try:
                nested = yaml.safe_load(p.read_text())
            except (OSError, yaml.YAMLError):
                nested = None  # the generator itself reports a broken file
            found += input_files(nested, p.parent, seen)
    return found


def _hash_files(h, files, label) -> None:
    for f in files:
        h.update(f"{label}:{f}\n".encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())


def _canonical(value):
    """`value` with every mapping key a string, so that json can sort keys of mixed types."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else f"{type(k).__name__}:{k!r}": _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def key(generator: str, params, files_root: Path, vlnv: str) -> str:
    h = hashlib.sha256()
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    h.update(json.dumps({"generator": generator, "nnaccel": __version__, "vlnv": vlnv, "params": _canonical(params),
                         "packages": versions}, sort_keys=True, default=str).encode())
    package = Path(__file__).resolve().parent
    for f in _tree_files(package):  # nnaccel's code and templates, wherever it is installed
        h.update(f"nnaccel:{f.relative_to(package).as_posix()}\n".encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    for d in board_dirs():
        if d.is_dir():
            _hash_files(h, _tree_files(d), "board")
    _hash_files(h, input_files(params, Path(files_root)), "input")
    return h.hexdigest()[:32]


def _copy_entries(names, src: Path, dst: Path) -> None:
    for name in names:
        s = src / name
        if s.is_dir():
            shutil.copytree(s, dst / name, dirs_exist_ok=True)
        else:
            shutil.copy2(s, dst / name)


def run_cached(generator: str, params, files_root: Path, vlnv: str, out_dir: Path, generate, log=print) -> bool:
    """Fill out_dir from the cache if this input was generated before, else call generate()
    (which writes into out_dir) and store what it wrote. True on a cache hit."""
    out_dir = Path(out_dir)
    entry = cache_root() / f"{generator}-{key(generator, params, files_root, vlnv)}"
    if entry.is_dir():
        _copy_entries(sorted(os.listdir(entry)), entry, out_dir)
        log(f"{generator}: inputs unchanged, reusing the output generated before ({entry})")
        return True
    before = set(os.listdir(out_dir))
    generate()
    written = sorted(set(os.listdir(out_dir)) - before)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
        _copy_entries(written, out_dir, tmp)
        try:
            tmp.rename(entry)
        except OSError:  # another run stored the same key first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:  # an unwritable cache costs time, not the build
        log(f"{generator}: warning: cannot store the output in the cache {entry.parent} ({e})")
    return False
