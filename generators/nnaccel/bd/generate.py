"""Render the block design of a board and its accelerators into a directory:
<design>_bd.tcl (sourced by Vivado), <design>.json (addresses, interrupts) and
<design>.core (FuseSoC), with each accelerator's IP directory under ip/<name>/."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from .. import __version__, render as render_mod, swgen
from ..boards import load_board
from ..errors import ConfigError
from . import accel as accel_mod
from .plan import make_plan, summary

GENERATOR_KEYS = {
    "board": "a board from boards/ (nnaccel boards lists them)",
    "accelerators": "list of {ip: DIR} or {config: {nnaccel keys}}, each with an optional name",
    "design": "block design name (default nn_system); the top is <design>_wrapper",
    "pl_clock_mhz": "PL clock in MHz (default: the accelerators' synthesis clock)",
}
_DESIGN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,40}")


def render(template: str, **ctx) -> str:
    return render_mod.render(template, version=__version__, **ctx)


def _ip_files(ip_dir: Path, rel_to: Path, desc: dict) -> dict:
    def rel(p: Path) -> str:
        return p.relative_to(rel_to).as_posix()

    hls = sorted(p for p in (ip_dir / "hls").rglob("*") if p.is_file())
    script = ip_dir / desc.get("files", {}).get("hls_script", "hls/build_hls.tcl")
    if not script.is_file():
        raise ConfigError(f"accelerator {desc['top']}: {script} is missing; the IP directory is incomplete")
    meta = [ip_dir / f for f in ("nnaccel.json", "regmap.json", "weights_layout.json", "weights.bin")]
    meta += sorted(ip_dir.glob("*_regs.h")) + sorted(ip_dir.glob("*_model.h"))
    # C-simulation sources and test vectors: the self-test header (nnaccel.swgen) needs both.
    meta += sorted(p for d in ("csim", "tb") for p in (ip_dir / d).rglob("*") if p.is_file())
    return {
        "sources": [rel(p) for p in hls if p.suffix in (".cpp", ".cc")],
        "headers": [rel(p) for p in hls if p.suffix in (".h", ".hpp")],
        "script": rel(script),
        "meta": [rel(p) for p in meta if p.is_file()],
    }


def generate(params: dict, out_dir: Path, files_root: Path = Path("."), vlnv: str | None = None,
             log=print) -> dict:
    """Write the block design into out_dir (which may exist, e.g. the generator's working
    directory). Everything is built in a staging directory first: on any error nothing is written."""
    if not isinstance(params, dict):
        raise ConfigError("zynq_bd: parameters must be a mapping")
    unknown = sorted(set(params) - set(GENERATOR_KEYS), key=repr)
    if unknown:
        raise ConfigError(f"zynq_bd: unknown parameter {unknown[0]!r}; valid: {', '.join(GENERATOR_KEYS)}")
    if "board" not in params:
        raise ConfigError("zynq_bd: parameter board is missing; " + GENERATOR_KEYS["board"])
    board = load_board(params["board"])
    design = params.get("design", "nn_system")
    if not isinstance(design, str) or not _DESIGN.fullmatch(design):
        raise ConfigError(f"design: {design!r} is not a block design name (letter, then letters, digits, _)")
    vlnv = vlnv or f"nnaccel:bd:{design}_{board.name.replace('-', '_')}:1.0"

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".zynq_bd.", dir=out_dir))
    try:
        accels = accel_mod.collect(params.get("accelerators"), board.name, Path(files_root), stage / "ip", log=log)
        for a in accels:
            if a.desc["part"] != board.part:
                raise ConfigError(f"accelerator {a.name}: IP {a.vlnv} was synthesized for part {a.desc['part']}, "
                                  f"board {board.name} has {board.part}")
        plan = make_plan(board, accels, design, params.get("pl_clock_mhz"))
        ip_files = {a.name: _ip_files(a.ip_dir, stage, a.desc) for a in accels}
        info = summary(plan)
        (stage / f"{design}_bd.tcl").write_text(render("bd/bd.tcl.j2", **plan))
        (stage / f"{design}.json").write_text(render("bd/summary.json.j2", text=json.dumps(info, indent=2)))
        for a in accels:  # Linux: binds each accelerator (and its DMA) to generic-uio
            swgen.write_dt_overlay(a.ip_dir, stage / f"{design}.json", stage / f"{a.name}.dtso", accel=a.name)
        (stage / f"{design}.core").write_text(render("bd/bd.core.j2", vlnv=vlnv, ip_files=ip_files, **plan))
        for entry in stage.iterdir():
            dst = out_dir / entry.name
            if dst.is_dir():
                shutil.rmtree(dst)
            elif dst.exists():
                dst.unlink()
            entry.rename(dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return info
