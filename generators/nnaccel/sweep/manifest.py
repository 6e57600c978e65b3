"""The sweep bundle on disk (docs/sweeps.md): DIR/sweep.json, DIR/points.txt, DIR/fusesoc.conf
and DIR/points/<id>/core/{<core>.core, config.yml}; each point's result.json appears beside
core/ when `sweep run-point` has run it. The Slurm and HTCondor backends read the same files."""
from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from .. import __version__, render
from ..errors import ConfigError, InputError, OutputError
from ..staging import staged_dir
from .spec import Point, Sweep

FORMAT = "nnaccel-sweep/1"
MANIFEST = "sweep.json"
RESULT = "result.json"
CORE_VERSION = "1.0"


def generators_dir() -> Path:
    """The directory holding generators.core: the `generators/` of the checkout nnaccel runs from."""
    return Path(__file__).resolve().parents[2]


def core_name(sweep: Sweep, point: Point) -> str:
    return f"{sweep.name}_{point.id}"


def target(stage: str, board: str | None) -> str:
    return "csim" if stage == "csim" else str(board)


def _values_text(values: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items())


def build_manifest(sweep: Sweep) -> dict:
    return {
        "format": FORMAT, "nnaccel_version": __version__, "name": sweep.name, "stage": sweep.stage,
        "axes": sweep.axes,
        "points": [{"index": p.index, "id": p.id, "values": p.values, "dir": f"points/{p.id}",
                    "core": f"nnaccel:sweep:{core_name(sweep, p)}:{CORE_VERSION}",
                    "target": target(sweep.stage, p.config.board)} for p in sweep.points],
    }


def _point_files(sweep: Sweep, p: Point, entry: dict) -> dict:
    """{relative path: text} of one point's core directory."""
    ctx = {"version": __version__, "id": p.id, "name": sweep.name, "values_text": _values_text(p.values)}
    body = yaml.safe_dump(p.raw, sort_keys=False, default_flow_style=False).rstrip("\n")
    return {
        f"core/{core_name(sweep, p)}.core": render.render(
            "sweep/point.core.j2", vlnv=entry["core"], board=p.config.board, top=p.config.top, **ctx),
        "core/config.yml": render.render("sweep/config.yml.j2", body=body, **ctx),
    }


def is_bundle(d: Path) -> bool:
    try:
        data = json.loads((Path(d) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _same_bundle(final: Path, manifest: dict, files: dict) -> bool:
    try:
        old = json.loads((final / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    keys = ("format", "name", "stage", "axes", "points")
    if any(old.get(k) != manifest[k] for k in keys):
        return False
    for rel, text in files.items():
        try:
            if (final / rel).read_text() != text:
                return False
        except OSError:
            return False
    return True


def write_bundle(sweep: Sweep, out: Path, *, inputs=(), force: bool = False) -> tuple[dict, bool]:
    """Write the bundle to `out` (new, empty, or an earlier bundle: replaced only with `force` when it
    holds a different sweep). Returns (manifest, written); an identical bundle is left as it is, with
    its results, so re-running `nnaccel sweep` over it resumes instead of starting again."""
    final = Path(os.path.abspath(out))
    if sweep.stage != "csim" and not (generators_dir() / "generators.core").is_file():
        raise ConfigError(f"stage {sweep.stage} runs FuseSoC with nn_accel's generators (generators/generators.core), "
                          f"which {generators_dir()} does not hold; run nnaccel from the nn_accel checkout's venv "
                          "(make install)")
    manifest = build_manifest(sweep)
    files: dict = {}
    for p, entry in zip(sweep.points, manifest["points"]):
        for rel, text in _point_files(sweep, p, entry).items():
            files[f"{entry['dir']}/{rel}"] = text
    files["points.txt"] = render.render("sweep/points.txt.j2", points=manifest["points"])
    files["fusesoc.conf"] = render.render("sweep/fusesoc.conf.j2", version=__version__,
                                          cache_root=str(final / ".cache" / "fusesoc"),
                                          generators=str(generators_dir()))
    if is_bundle(final):
        if _same_bundle(final, manifest, files):
            return manifest, False
        if not force and any(final.glob(f"points/*/{RESULT}")):
            raise OutputError(f"{out}: holds another sweep with results; give a new directory, or pass --force "
                              "to replace it (its results are lost)")
    with staged_dir(final, inputs=inputs, force=force, owned=is_bundle) as stage:
        for rel, text in files.items():
            path = stage / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        render.write_json(stage / MANIFEST, manifest)
    return manifest, True


def load_manifest(bundle: Path) -> dict:
    path = Path(bundle) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{bundle}: no {MANIFEST}; give a bundle written by `nnaccel sweep SPEC -o DIR`") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: format {data.get('format') if isinstance(data, dict) else None!r}, "
                         f"this nnaccel reads {FORMAT}")
    return data


def point_entry(manifest: dict, index: int) -> dict:
    points = manifest["points"]
    if not 0 <= index < len(points):
        raise InputError(f"--index {index}: the bundle has points 0 to {len(points) - 1}")
    return points[index]


def read_result(bundle: Path, entry: dict) -> dict | None:
    """The point's result, or None when there is none or it is not a whole result (a killed writer)."""
    try:
        data = json.loads((Path(bundle) / entry["dir"] / RESULT).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("status") not in ("ok", "failed"):
        return None
    return data


def is_done(result: dict | None, stage: str) -> bool:
    return result is not None and result.get("status") == "ok" and result.get("stage") == stage
