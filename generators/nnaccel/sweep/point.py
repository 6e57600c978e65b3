"""`nnaccel sweep run-point DIR --index I`: run one design point and write its result.json.

csim: generate the IP (points/<id>/ip) and C-simulate its test vectors against hls4ml's predict();
setup: `fusesoc run --setup --target=<board>`; build: setup, then `fusesoc run --build` holding a
licence seat (seats.py). EDALIZE_LAUNCHER passes through to FuseSoC/Edalize unchanged. The result is
written atomically, so a killed point has no result and the next run redoes it; a point whose
result says ok for the same stage is not run again."""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from .. import __version__
from ..config import build_config, read_yaml
from ..errors import NnaccelError
from ..staging import staged_file
from . import seats
from .manifest import RESULT, is_done, load_manifest, point_entry, read_result

RESULT_FORMAT = "nnaccel-sweep-result/1"
# what our own staging leaves behind when a point is killed (staging.py names: .<final name>.<random>)
STALE_PREFIXES = (".ip.", f".{RESULT}.")


class PointFailed(Exception):
    """A point that could not be run to the end: its result says why."""


def _remove_stale(pdir: Path) -> None:
    for child in pdir.iterdir() if pdir.is_dir() else []:
        if child.name.startswith(STALE_PREFIXES):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def estimates_of(ip_dir: Path) -> dict | None:
    """The figures of the IP's report.json that a sweep compares (docs/estimates.md)."""
    try:
        rep = json.loads((ip_dir / "report.json").read_text())
    except (OSError, ValueError):
        return None
    totals = rep.get("layer_totals") or {}
    return {**{k: rep["total"].get(k) for k in ("dsp", "bram18", "lut", "ff", "lutram")},
            "latency_cycles": totals.get("latency"), "interval_cycles": totals.get("interval"),
            "utilisation": rep.get("utilisation"), "budget_board": rep.get("budget_board"),
            "over_budget": rep.get("over_budget"), "reload_us": (rep.get("reload") or {}).get("us")}


def _fusesoc() -> str:
    beside = Path(sys.executable).parent / "fusesoc"
    found = str(beside) if beside.is_file() else shutil.which("fusesoc")
    if not found:
        raise PointFailed("fusesoc not found beside this Python or on PATH; install nn_accel with its dependencies")
    return found


def _why(text: str) -> str:
    """The line that says why: a generator's or nnaccel's one-line error (FuseSoC's own last line only
    says which generator failed), else the last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    ours = [ln for ln in lines if re.match(r"^[\w .-]+: error: ", ln)]
    return (ours or lines or [""])[-1]


def run_fusesoc(bundle: Path, entry: dict, pdir: Path, mode: str, log) -> None:
    """One `fusesoc run --setup|--build` of the point's core; its output goes to fusesoc.log."""
    build = pdir / "build"
    build.mkdir(exist_ok=True)
    (build / "FUSESOC_IGNORE").touch()  # generated cores inside must not be found as libraries
    cmd = [_fusesoc(), "--config", str(bundle / "fusesoc.conf"), "--cores-root", str(pdir / "core"), "run",
           "--build-root", str(build), f"--{mode}", f"--target={entry['target']}", entry["core"]]
    # the generators run with `python3`: this interpreter's, which has nnaccel's dependencies
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    log(f"{entry['id']}: {' '.join(cmd[1:])}")
    with open(pdir / "fusesoc.log", "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=pdir, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
        out.write(proc.stderr)
    if proc.returncode != 0:
        raise PointFailed(f"fusesoc run --{mode} exited {proc.returncode}: {_why(proc.stderr) or 'no message'}"
                          f" (points/{entry['id']}/fusesoc.log)")


def _find_ip(root: Path) -> Path | None:
    # the work root's copy (src/) before FuseSoC's generator cache: the same files, the shorter path
    found = sorted((p.parent for p in root.rglob("nnaccel.json") if (p.parent / "report.json").is_file()),
                   key=lambda d: ("generator_cache" in d.parts, len(d.parts), str(d)))
    return found[0] if found else None


def _csynth(root: Path, top: str) -> dict | None:
    from ..hls_report import read_csynth

    found = sorted(root.rglob(f"{top}_prj/solution1/syn/report/csynth.xml")) if root.is_dir() else []
    return read_csynth(found[0]) if found else None


def _vivado(root: Path) -> dict | None:
    from ..vivado_report import read_utilization

    found = sorted(root.rglob("impl_1/*_utilization_placed.rpt")) if root.is_dir() else []
    return read_utilization(found[0]) if found else None


def _run_csim(cfg, pdir: Path, timings: dict, facts: dict, log) -> None:
    from ..accel import generate_ip
    from ..check import check_ip

    t = time.monotonic()
    generate_ip(cfg, pdir / "ip", log=log)
    timings["generate"] = round(time.monotonic() - t, 3)
    facts["ip"] = "ip"
    t = time.monotonic()
    lines: list = []
    same = check_ip(pdir / "ip", log=lines.append)
    timings["csim"] = round(time.monotonic() - t, 3)
    facts["check"] = {"bit_exact": same, "lines": lines}
    for line in lines:
        log(line)
    if not same:
        raise PointFailed(lines[0] if lines else "C-simulation differs from hls4ml predict()")


def _run_board(bundle: Path, entry: dict, pdir: Path, stage: str, timings: dict, log) -> None:
    t = time.monotonic()
    run_fusesoc(bundle, entry, pdir, "setup", log)
    timings["setup"] = round(time.monotonic() - t, 3)
    if stage == "build":
        with seats.seat(bundle, seats.seats_from_env(), log=lambda m: log(f"{entry['id']}: {m}")):
            t = time.monotonic()
            run_fusesoc(bundle, entry, pdir, "build", log)
            timings["build"] = round(time.monotonic() - t, 3)


def run_point(bundle: Path, index: int, stage: str | None = None, log=print) -> int:
    bundle = Path(bundle).resolve()
    manifest = load_manifest(bundle)
    entry = point_entry(manifest, index)
    stage = stage or manifest["stage"]
    pdir = bundle / entry["dir"]
    previous = read_result(bundle, entry)
    if is_done(previous, stage):
        log(f"{entry['id']}: already done (result.json: ok, stage {stage}); nothing to run")
        return 0
    if previous is None and (pdir / RESULT).exists():
        log(f"{entry['id']}: result.json is not a whole result (a killed run?); running the point again")
    _remove_stale(pdir)

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    timings: dict = {}
    facts: dict = {}
    status, reason = "ok", None
    try:
        core = pdir / "core"
        cfg = build_config(read_yaml(core / "config.yml"), core)
        if stage != "csim" and cfg.board is None:
            raise PointFailed(f"stage {stage} runs a board target, and this point has no board")
        target = "csim" if stage == "csim" else cfg.board
        entry = dict(entry, target=target)
        if stage == "csim":
            _run_csim(cfg, pdir, timings, facts, log)
        else:
            _run_board(bundle, entry, pdir, stage, timings, log)
    except (PointFailed, NnaccelError, OSError) as e:
        status, reason = "failed", str(e) or type(e).__name__
    except Exception as e:  # noqa: BLE001 - a crash in hls4ml or a tool is this point's failure, not the sweep's
        status, reason = "failed", f"{type(e).__name__}: {e}".splitlines()[0]

    # only an IP this run generated describes this run (a csim point that failed before has none)
    ip_dir = (pdir / "ip" if "ip" in facts else None) if stage == "csim" else _find_ip(pdir / "build")
    result = {
        "format": RESULT_FORMAT, "nnaccel_version": __version__, "index": entry["index"], "id": entry["id"],
        "values": entry["values"], "stage": stage, "core": entry["core"], "target": entry.get("target"),
        "status": status, "reason": reason, "host": socket.gethostname(),
        "started": started.isoformat(timespec="seconds"), "seconds": round(time.monotonic() - t0, 3),
        "timings": timings,
        "ip": str(ip_dir.relative_to(pdir)) if ip_dir is not None and ip_dir.is_dir() else None,
        "estimate": estimates_of(ip_dir) if ip_dir is not None else None,
        "csynth": None, "vivado": None, "weight_image_bytes": None, "check": facts.get("check"),
    }
    if ip_dir is not None and (ip_dir / "weights.bin").is_file():
        result["weight_image_bytes"] = (ip_dir / "weights.bin").stat().st_size
    if stage == "build" and ip_dir is not None:
        try:
            result["csynth"] = _csynth(pdir / "build", json.loads((ip_dir / "nnaccel.json").read_text())["top"])
        except (NnaccelError, OSError, ValueError, KeyError) as e:
            result["csynth_error"] = str(e)
        try:
            result["vivado"] = _vivado(pdir / "build")
        except NnaccelError as e:
            result["vivado_error"] = str(e)
    write_result(pdir, result)
    if status == "ok":
        log(f"{entry['id']}: ok ({stage}, {result['seconds']:.1f} s)")
        return 0
    raise NnaccelError(f"{entry['id']} failed: {reason} (points/{entry['id']}/{RESULT})")


def write_result(pdir: Path, result: dict) -> None:
    from .. import render

    with staged_file(pdir / RESULT) as tmp:
        tmp.write_text(render.render("ip/json.j2", data=result))
