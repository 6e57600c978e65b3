#!/usr/bin/env python3
"""Stand-in for an AMD tool (vitis_hls, vitis-run, vivado, vitis, xsct) in build tests.

It appends its name, arguments and working directory as one JSON line to the file named by
NNACCEL_FAKE_LOG, then writes the files the real tool would write for that call, found the
way the real tool finds them (the project name in the script, the .xpr argument), so make's
targets exist afterwards. It synthesises nothing; see docs/verification.md."""
import json
import os
import re
import sys
from pathlib import Path


def fail(msg):
    print(f"fake {TOOL}: {msg}", file=sys.stderr)
    sys.exit(1)


def write(path, text=""):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def hls(script):
    """Vitis HLS: the project goes where open_project names it (relative to the working
    directory); export_design writes the IP catalog entry under solution1/impl/ip."""
    text = Path(script).read_text()
    here = str(Path(script).resolve().parent)
    prj = re.search(r"^open_project\s+(?:-reset\s+)?(\S+)", text, re.M)
    exp = re.search(r"^export_design .*-vendor (\S+) -library (\S+) -version (\S+) -ipname (\S+)", text, re.M)
    if not prj or not exp:
        fail(f"{script}: no open_project or export_design line")
    for m in re.finditer(r'^add_files\s+"?([^"\s]+)"?', text, re.M):
        src = Path(m.group(1).replace("$here", here))
        if not src.is_file():
            fail(f"{script}: add_files {m.group(1)}: {src} does not exist (working directory {os.getcwd()})")
    vendor, library, version, name = exp.groups()
    solution = Path(prj.group(1)) / "solution1"
    write(solution / "impl" / "ip" / "component.xml",
          f'<spirit:component><spirit:vendor>{vendor}</spirit:vendor><spirit:library>{library}</spirit:library>'
          f'<spirit:name>{name}</spirit:name><spirit:version>{version}</spirit:version></spirit:component>\n')
    write(solution / "syn" / "report" / f"{name}_csynth.rpt", "fake\n")


def vivado(args):
    """Vivado batch: the project script creates <name>.xpr; the run script leaves <name>.bit;
    nn_accel's handoff script writes <name>.xsa and <name>.hwh (name: the project's)."""
    sources = [a for i, a in enumerate(args) if i and args[i - 1] == "-source"]
    sources += [a for a in args if a.endswith(".tcl") and a not in sources]
    xpr = next((a for a in args if a.endswith(".xpr")), None)
    for script in sources:
        text = Path(script).read_text()
        created = re.search(r"^create_project\s+(\S+)", text, re.M)
        if created:
            write(f"{created.group(1)}.xpr", "fake project\n")
        elif xpr and "launch_runs impl_1" in text:
            write(Path(xpr).with_suffix(".bit"), "fake bitstream\n")
        elif xpr and "write_hw_platform" in text:
            if not Path(xpr).with_suffix(".bit").is_file():
                fail("handoff before the bitstream")
            write(Path(xpr).with_suffix(".xsa"), "fake xsa\n")
            write(Path(xpr).with_suffix(".hwh"), "fake hwh\n")


def vitis(script, layout):
    """Vitis (`vitis -s` / xsct): the application's .elf in the workspace beside the script."""
    # The application name: the quoted APP of the Python script, `app create -name` in XSCT.
    app = re.search(r'"(\w+_selftest)"|app create -name (\w+)', Path(script).read_text())
    if not app:
        fail(f"{script}: no *_selftest application")
    write(Path(script).parent / layout.format(app=app.group(1) or app.group(2)), "fake elf\n")


TOOL = os.path.basename(sys.argv[1])
ARGS = sys.argv[2:]
log = os.environ.get("NNACCEL_FAKE_LOG")
if not log:
    fail("NNACCEL_FAKE_LOG is not set")
with open(log, "a") as f:
    f.write(json.dumps({"tool": TOOL, "argv": ARGS, "cwd": os.getcwd()}) + "\n")
if TOOL == "vitis_hls" and ARGS[:1] == ["-f"]:
    hls(ARGS[1])
elif TOOL == "vitis-run" and "--tcl" in ARGS:
    hls(ARGS[ARGS.index("--tcl") + 1])
elif TOOL == "vivado":
    vivado(ARGS)
elif TOOL == "vitis" and ARGS[:1] == ["-s"]:
    vitis(ARGS[1], "vitis_ws/{app}/build/{app}.elf")
elif TOOL == "xsct":
    vitis(ARGS[0], "xsct_ws/{app}/Debug/{app}.elf")
else:
    fail(f"unexpected call: {TOOL} {' '.join(ARGS)}")
