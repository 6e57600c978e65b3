"""Generate a block design from hand-made IP directories and run everything Vivado
and Vitis HLS would run (HLS scripts, the vitis_hls tool's IP repository script, the
block-design script) through the Tcl model."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from nnaccel import boards
from nnaccel.bd import generate

from .fake_ip import description, write_ip
from .runner import run


def installed_board_parts() -> list[str]:
    """Board files as if every board's vendor files were installed (version 1.0)."""
    return [f"{boards.load_board(n).board_part}:1.0" for n in boards.list_boards()]


def make_bd(tmp: Path, board: str, accels: list[dict], **params) -> Path:
    """accels: description() keyword sets; returns the generated block-design directory."""
    b = boards.load_board(board)
    items = []
    for kw in accels:
        kw = {"bus_width": b.hp_width, "part": b.part, "board": board, **kw}
        items.append({"ip": str(write_ip(tmp / "ips", description(**kw)))})
    out = tmp / "bd"
    generate({"board": board, "accelerators": items, **params}, out)
    return out


def ip_repo_script(bd_dir: Path, name: str = "nn_system") -> Path:
    """What the vitis_hls Edalize tool writes for the HLS scripts in bd_dir."""
    from edalize.tools.vitis_hls import Vitis_hls

    tool = Vitis_hls()
    tool.work_root = str(bd_dir)
    files = [{"name": p.relative_to(bd_dir).as_posix(), "file_type": "hlsTclSource"}
             for p in sorted(bd_dir.glob("ip/*/hls/build_hls.tcl"))]
    tool.setup({"name": name, "files": files})
    tool.write_config_files()
    return bd_dir / f"{name}_ip_repo.tcl"


def run_bd(bd_dir: Path, design: str = "nn_system", board_parts=None, bd_script: Path | None = None,
           hls_scripts=None):
    descs = [json.loads(p.read_text()) for p in sorted(bd_dir.glob("ip/*/nnaccel.json"))]
    return run(vivado_scripts=[ip_repo_script(bd_dir), bd_script or bd_dir / f"{design}_bd.tcl"],
               hls_scripts=hls_scripts if hls_scripts is not None else sorted(bd_dir.glob("ip/*/hls/build_hls.tcl")),
               ip_descs=descs,
               board_parts=installed_board_parts() if board_parts is None else board_parts, cwd=bd_dir)


def flow_steps(dry_run_stdout: str) -> list:
    """The Vitis HLS and Vivado calls of an EDALIZE_LAUNCHER=echo build, in the order the flow's
    Makefile made them, as run_flow steps."""
    steps = []
    for line in dry_run_stdout.splitlines():
        if not line.startswith(("vitis_hls ", "vitis-run ", "vivado ")):
            continue
        words = shlex.split(line)
        if words[0] == "vitis_hls":
            steps.append(("hls", words[words.index("-f") + 1]))
        elif words[0] == "vitis-run":
            steps.append(("hls", words[words.index("--tcl") + 1]))
        else:
            rest = words[words.index("-source") + 1:]
            if any(not w.endswith((".tcl", ".xpr")) for w in rest):
                raise ValueError(f"unexpected vivado call: {line}")
            xprs = [w for w in rest if w.endswith(".xpr")]
            steps.append(("vivado", [w for w in rest if w.endswith(".tcl")], xprs[0] if xprs else None))
    return steps
