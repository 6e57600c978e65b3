"""`nnaccel bundle BUILD_DIR -o DIR`: everything a board needs from a finished board build, in
one directory named after the block design (DIR/<design>/) and a DIR/<design>.tar.gz of it.

A board build's work root (`fusesoc run --target=<board>`, flow nnaccel_zynq) holds the
bitstream and handoff named after the FuseSoC core (<core>.bit/.hwh/.xsa), the zynq_bd
generator's output under src/ (<design>.json, <accel>.dtso, ip/<accel>/ with the IP files)
and the self-test applications under vitis/<accel>/. The bundle renames the first three
after the design (PYNQ wants the .hwh beside the .bit under the same name), puts each
accelerator's files in a directory named after its block-design cell (where the PYNQ driver
looks for them), and adds the Python driver as a wheel and a README."""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from . import __version__, render
from .errors import NnaccelError, OutputError
from .staging import check_file_target, staged_dir, staged_file

MANIFEST = "bundle.json"
IP_FILES = ("nnaccel.json", "regmap.json", "weights_layout.json")
HANDOFF = ((".bit", "bitstream"), (".hwh", "hardware handoff"), (".xsa", "hardware platform"))
SUMMARY_KEYS = {"design", "accelerators", "control", "processor"}


def _zeros_input(desc: dict) -> str:
    """The README's example input: one sample of zeros; a list of them for several input tensors."""
    shapes = [t["shape"] for t in desc["inputs"]] if "inputs" in desc else [desc["input_shape"]]
    arrays = [f"np.zeros((1, {', '.join(map(str, shape))}))" for shape in shapes]
    return arrays[0] if len(arrays) == 1 else f"[{', '.join(arrays)}]"


def is_bundle(d: Path) -> bool:
    """A directory `nnaccel bundle` wrote: its manifest says so."""
    try:
        data = json.loads((Path(d) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "nnaccel_bundle" in data


def _not_a_build(build_dir: Path, what: str) -> NnaccelError:
    return NnaccelError(f"{build_dir}: {what}; give the work root of a finished board build "
                        "(build/<core>/<board>/ after `fusesoc run --target=<board>`)")


def _summaries(build_dir: Path) -> list[Path]:
    """The zynq_bd generator's <design>.json files among the exported sources."""
    found = []
    for p in sorted((build_dir / "src").rglob("*.json")):
        if p.name in IP_FILES:
            continue
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(d, dict) and SUMMARY_KEYS <= set(d):
            found.append(p)
    return found


def _selftest_elf(build_dir: Path, accel: str) -> Path | None:
    """The self-test the vitis_app tool built for `accel` (Vitis or XSCT workspace); the newest if both."""
    elfs = sorted((build_dir / "vitis" / accel).rglob(f"{accel}_selftest.elf"), key=lambda p: p.stat().st_mtime)
    return elfs[-1] if elfs else None


def find_build(build_dir: Path) -> dict:
    """What the bundle takes from a board build, or a one-line error naming what is missing."""
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise NnaccelError(f"{build_dir}: is not a directory; give the work root of a board build")
    summaries = _summaries(build_dir)
    if not summaries:
        raise _not_a_build(build_dir, "no block-design summary (<design>.json from the zynq_bd generator) under src/")
    if len(summaries) > 1:
        raise NnaccelError(f"{build_dir}: {len(summaries)} block-design summaries "
                           f"({', '.join(str(s.relative_to(build_dir)) for s in summaries)}); a board build has one")
    summary_path = summaries[0]
    summary = json.loads(summary_path.read_text())
    bits = sorted(build_dir.glob("*.bit"))
    if len(bits) != 1:
        what = "no bitstream (*.bit): the build has not finished, or was a dry run" if not bits else \
            f"{len(bits)} bitstreams ({', '.join(b.name for b in bits)}); expected one"
        raise _not_a_build(build_dir, what)
    handoff = {}
    for ext, what in HANDOFF:
        p = bits[0].with_suffix(ext)
        if not p.is_file():
            raise _not_a_build(build_dir, f"no {what} {p.name} beside {bits[0].name}")
        handoff[ext] = p
    accels = []
    for a in summary["accelerators"]:
        ip_dir = summary_path.parent / a["ip_dir"]
        desc_path = ip_dir / "nnaccel.json"
        try:
            desc = json.loads(desc_path.read_text())
        except (OSError, ValueError) as e:
            raise _not_a_build(build_dir, f"accelerator {a['name']}: cannot read {desc_path} ({e})") from None
        files = [ip_dir / f for f in IP_FILES]
        image = (desc.get("files") or {}).get("image")
        if desc.get("weights") == "external" and image:
            files.append(ip_dir / image)
        files += sorted(ip_dir.glob("*_regs.h")) + sorted(ip_dir.glob("*_model.h"))
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise _not_a_build(build_dir, f"accelerator {a['name']}: {missing[0]} is missing")
        dtso = summary_path.parent / f"{a['name']}.dtso"
        accels.append({"name": a["name"], "vlnv": a["vlnv"], "interface": a["interface"], "weights": a["weights"],
                       "input_shape": desc["input_shape"], "zeros": _zeros_input(desc),
                       "files": files, "dtso": dtso if dtso.is_file() else None,
                       "elf": _selftest_elf(build_dir, a["name"])})
    return {"design": summary["design"], "board": summary.get("board"), "summary": summary_path,
            "handoff": handoff, "accels": accels}


def _compile_overlay(dtso: Path, dtbo: Path) -> None:
    p = subprocess.run(["dtc", "-@", "-q", "-I", "dts", "-O", "dtb", "-o", str(dtbo), str(dtso)],
                       capture_output=True, text=True)
    if p.returncode:
        first = (p.stderr.strip().splitlines() or ["no message"])[0]
        raise NnaccelError(f"{dtso.name}: dtc failed ({first})")


def driver_wheel(dest: Path, design: dict | None = None) -> Path:
    """Build the board-side driver (the installed nnaccel_driver package, numpy only) as a wheel in
    `dest` with `pip wheel`, offline: no index, no build isolation (setuptools from this Python).
    `design` ({"design", "accelerators": [{"name", "vlnv"}]}) goes in as designs/<design>.json:
    the PYNQ driver binds those VLNVs when PYNQ imports it, so a plain Overlay finds it."""
    import nnaccel_driver

    pkg = Path(nnaccel_driver.__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="nnaccel-wheel.") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(pkg, src / pkg.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "designs"))
        if design is not None:
            render.write_json(src / pkg.name / "designs" / f"{design['design']}.json", design)
        packages = sorted(".".join(p.relative_to(src).parts) for p in (src / pkg.name).rglob("__init__.py")
                          for p in [p.parent])
        (src / "pyproject.toml").write_text(render.render(
            "bundle/driver_pyproject.toml.j2", version=__version__, dist_name="nnaccel-driver",
            driver_version=nnaccel_driver.__version__, packages=packages))
        out = Path(tmp) / "wheel"
        p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "--quiet", "--disable-pip-version-check", "-w", str(out), str(src)],
                           capture_output=True, text=True)
        wheels = sorted(out.glob("*.whl")) if out.is_dir() else []
        if p.returncode or len(wheels) != 1:
            last = (p.stderr.strip().splitlines() or ["no wheel written"])[-1]
            raise NnaccelError(f"building the driver wheel with pip failed ({last}); "
                               "it needs pip and setuptools in the Python that runs nnaccel")
        shutil.copyfile(wheels[0], dest / wheels[0].name)
        return dest / wheels[0].name


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _tar(src: Path, arcname: str, out: Path) -> None:
    def clean(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    with tarfile.open(out, "w:gz") as tar:
        tar.add(src, arcname=arcname, filter=clean)


def _fill(stage: Path, build: dict, build_dir: Path, log) -> dict:
    design = build["design"]
    for ext, p in build["handoff"].items():
        shutil.copyfile(p, stage / f"{design}{ext}")
    shutil.copyfile(build["summary"], stage / f"{design}.json")
    readme_accels = []
    dtc = shutil.which("dtc")
    for a in build["accels"]:
        d = stage / a["name"]
        d.mkdir()
        names = []
        for f in a["files"]:
            shutil.copyfile(f, d / f.name)
            names.append(f.name)
        entry = {k: a[k] for k in ("name", "vlnv", "interface", "weights", "input_shape")}
        entry.update(files=names, dtso=None, dtbo=None, elf=None)
        if a["dtso"]:
            shutil.copyfile(a["dtso"], d / a["dtso"].name)
            entry["dtso"] = a["dtso"].name
            if dtc:
                entry["dtbo"] = f"{a['name']}.dtbo"
                _compile_overlay(d / a["dtso"].name, d / entry["dtbo"])
        if a["elf"]:
            shutil.copyfile(a["elf"], d / a["elf"].name)
            entry["elf"] = a["elf"].name
        readme_accels.append(entry)
    step = getattr(log, "step", None) or (lambda what: contextlib.nullcontext())
    with step("building the Python driver wheel"):
        wheel = driver_wheel(stage, {"design": design, "accelerators": [{"name": a["name"], "vlnv": a["vlnv"]}
                                                                        for a in readme_accels]})
    (stage / "README.md").write_text(render.render(
        "bundle/README.md.j2", version=__version__, design=design, board=build["board"], build_dir=build_dir,
        wheel=wheel.name, accels=readme_accels, example_input=build["accels"][0]["zeros"]))
    files = sorted(p for p in stage.rglob("*") if p.is_file())
    manifest = {"nnaccel_bundle": 1, "nnaccel_version": __version__, "design": design, "board": build["board"],
                "accelerators": readme_accels, "wheel": wheel.name,
                "files": {p.relative_to(stage).as_posix(): _sha256(p) for p in files}}
    render.write_json(stage / MANIFEST, manifest)
    return manifest


def make_bundle(build_dir: Path, out_dir: Path, force: bool = False, log=print) -> tuple[Path, Path, dict]:
    """Write out_dir/<design>/ and out_dir/<design>.tar.gz from the board build in build_dir.
    Both are staged; neither replaces anything `nnaccel bundle` did not write (unless force)."""
    build_dir, out_dir = Path(build_dir), Path(out_dir)
    build = find_build(build_dir)
    design = build["design"]
    final, archive = out_dir / design, out_dir / f"{design}.tar.gz"
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a directory; give the directory to write the bundle into")
    check_file_target(archive)
    if archive.exists() and not force and not is_bundle(final):
        raise OutputError(f"{archive}: exists and was not written by nnaccel bundle; remove it, give another "
                          "directory, or pass --force to replace it")
    with staged_dir(final, inputs=[build_dir], force=force, owned=is_bundle) as stage:
        manifest = _fill(stage, build, build_dir, log)
        with staged_file(archive) as tmp:
            _tar(stage, design, tmp)
    return final, archive, manifest
