"""Edalize tool `vitis_app`: after the hardware handoff, build the nn_accel bare-metal
self-test for every accelerator of the block design with Vitis: a platform from the
`.xsa`, then the standalone application (an `.elf`).

At setup it writes, per accelerator, `vitis/<accel>/` with the application sources and
generated headers, `build_selftest.py` (Vitis Unified Python API, `vitis -s`, 2023.2+)
and `build_selftest.tcl` (XSCT, older releases), using nnaccel.swgen.write_vitis_app.
It finds the block-design summary (`<design>.json`: addresses, interrupt, processor) and
the IP directories (`nnaccel.json`) among the EDAM files the earlier tools pass on.
"""
from __future__ import annotations

import filecmp
import json
import os
import shutil
import tempfile

from edalize.tools.edatool import Edatool
from edalize.utils import EdaCommands

# The command, and where the generated script leaves the .elf (relative to the script's directory).
VITIS_COMMANDS = {
    # Vitis Unified IDE 2023.2 and newer (the only choice from 2026.1, which drops XSCT).
    "vitis": {"argv": ["vitis", "-s", "build_selftest.py"], "elf": "vitis_ws/{app}/build/{app}.elf"},
    # XSCT, Vitis 2019.2 up to 2025.x.
    "xsct": {"argv": ["xsct", "build_selftest.tcl"], "elf": "xsct_ws/{app}/Debug/{app}.elf"},
}
APP_ROOT = "vitis"


def _is_design_summary(path: str) -> bool:
    """A block-design summary written by the zynq_bd generator (docs/contracts.md)."""
    if not path.endswith(".json") or os.path.basename(path) in ("nnaccel.json", "regmap.json",
                                                                "weights_layout.json"):
        return False
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and {"design", "accelerators", "control", "processor"} <= set(d)


class Vitis_app(Edatool):
    """Vitis: platform from the .xsa and the nn_accel self-test as a standalone application."""

    TOOL_OPTIONS = {
        "vitis_command": {
            "type": "str",
            "desc": "vitis (default: `vitis -s`, Vitis 2023.2 and newer) or xsct (older releases)",
        },
        "selftest_samples": {
            "type": "int",
            "desc": "test vectors in the self-test (default: all the IP stores)",
        },
    }

    def setup(self, edam):
        super().setup(edam)
        choice = self.tool_options.get("vitis_command") or "vitis"
        if choice not in VITIS_COMMANDS:
            raise RuntimeError(f"vitis_app: vitis_command {choice!r} is not one of {', '.join(VITIS_COMMANDS)}")
        self.vitis_command = choice
        self.xsa = f"{self.name}.xsa"
        self.apps, self.skipped = [], []
        for app in self._find_apps():
            reason = self._missing_inputs(app["ip_dir"])
            if reason:
                # The bitstream and handoff do not depend on the self-test: build them anyway.
                self.skipped.append((app["accel"], reason))
                print(f"vitis_app: no self-test application for {app['accel']}: {reason}")
            else:
                self.apps.append(app)
        spec = VITIS_COMMANDS[choice]
        commands = EdaCommands()
        self.elfs = []
        for app in self.apps:
            script = os.path.join(app["out_dir"], spec["argv"][-1])
            elf = os.path.join(app["out_dir"], spec["elf"].format(app=f"{app['accel']}_selftest"))
            # Both scripts resolve the .xsa argument against the working directory (make's:
            # the work root) and keep their Vitis workspace beside themselves.
            # The src directory stands for the sources in it: write_config_files replaces only
            # files whose content changed, which is exactly when the directory's mtime moves.
            commands.add(spec["argv"][:-1] + [script, self.xsa], [elf],
                         [self.xsa, script, os.path.join(app["out_dir"], "src")])
            self.elfs.append(elf)
        if len(self.elfs) == 1:
            commands.set_default_target(self.elfs[0])
        elif self.elfs:
            commands.add([], ["selftest_elf"], self.elfs)
            commands.set_default_target("selftest_elf")
        else:
            commands.set_default_target(self.xsa)
        self.commands = commands
        self.edam = edam

    def _find_apps(self) -> list[dict]:
        """One application per accelerator of every block-design summary among the files."""
        summaries = [f["name"] for f in self.files
                     if _is_design_summary(os.path.join(self.work_root, f["name"]))]
        if not summaries:
            raise RuntimeError("vitis_app: no block-design summary (<design>.json from the zynq_bd generator) "
                               "among the files; the self-test needs its addresses and processor")
        ips = {os.path.dirname(f["name"]) for f in self.files if os.path.basename(f["name"]) == "nnaccel.json"}
        apps = []
        for summary in summaries:
            with open(os.path.join(self.work_root, summary)) as f:
                d = json.load(f)
            for a in d["accelerators"]:
                ip_dir = os.path.normpath(os.path.join(os.path.dirname(summary), a["ip_dir"]))
                if ip_dir not in ips:
                    raise RuntimeError(f"vitis_app: {summary} places accelerator {a['name']} in {a['ip_dir']}, "
                                       "which has no nnaccel.json among the files")
                apps.append({"accel": a["name"], "ip_dir": ip_dir, "summary": summary,
                             "out_dir": os.path.join(APP_ROOT, a["name"])})
        names = [a["accel"] for a in apps]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise RuntimeError(f"vitis_app: two block designs have an accelerator named {dup}")
        return apps

    def _missing_inputs(self, ip_dir: str) -> str | None:
        """Why nnaccel.swgen cannot write the self-test data header for this IP, if it cannot:
        it needs the IP's stored test vectors and its C-simulation sources."""
        with open(os.path.join(self.work_root, ip_dir, "nnaccel.json")) as f:
            files = json.load(f).get("files") or {}
        for key, what in (("tb_input", "stores no test vectors (tb_samples: 0)"),
                          ("csim_bridge", "has no C-simulation sources")):
            rel = files.get(key)
            if not rel or not os.path.isfile(os.path.join(self.work_root, ip_dir, rel)):
                return f"its IP in {ip_dir} {what} among the files"
        return None

    def write_config_files(self):
        """Write each application (sources, generated headers, scripts) and keep the files whose
        content did not change, with their mtimes, and the Vitis workspace beside them: the
        nnaccel_zynq flow calls this before every build, so new test vectors or weights in an
        IP reach the self-test, and nothing else makes Vitis run again."""
        from nnaccel.errors import NnaccelError
        from nnaccel.swgen import write_vitis_app

        for app in self.apps:
            root = self.work_root
            final = os.path.join(root, app["out_dir"])
            os.makedirs(final, exist_ok=True)
            stage = tempfile.mkdtemp(prefix=".new.", dir=final)
            try:
                write_vitis_app(os.path.join(root, app["ip_dir"]), os.path.join(root, app["summary"]),
                                os.path.join(stage, "app"),
                                xsa=os.path.relpath(self.xsa, app["out_dir"]), accel=app["accel"],
                                n=self.tool_options.get("selftest_samples"))
                _sync(os.path.join(stage, "app"), final)
            except NnaccelError as e:
                raise RuntimeError(f"vitis_app: self-test application of {app['accel']}: {e}") from None
            finally:
                shutil.rmtree(stage, ignore_errors=True)


MANIFEST = ".nnaccel_app_files"  # what the last _sync wrote: the only files it may delete


def _sync(new: str, final: str) -> None:
    """Move into `final` the files of `new` that are missing or differ there, and delete the files
    an earlier sync wrote that `new` no longer holds (listed in `final`/MANIFEST). Every other entry
    of `final` (the Vitis workspace, a user's own files) stays."""
    manifest = os.path.join(final, MANIFEST)
    try:
        with open(manifest) as f:
            before = set(f.read().splitlines())
    except OSError:
        before = set()
    written = set()
    for dirpath, _, files in os.walk(new):
        rel = os.path.relpath(dirpath, new)
        dst_dir = os.path.normpath(os.path.join(final, rel))
        os.makedirs(dst_dir, exist_ok=True)
        for f in files:
            src, dst = os.path.join(dirpath, f), os.path.join(dst_dir, f)
            written.add(os.path.normpath(os.path.join(rel, f)))
            if not os.path.isfile(dst) or not filecmp.cmp(src, dst, shallow=False):
                os.replace(src, dst)
    for rel in sorted(before - written):
        path = os.path.join(final, rel)
        if os.path.isfile(path):
            os.unlink(path)
    with open(manifest + ".tmp", "w") as f:
        f.write("".join(f"{rel}\n" for rel in sorted(written)))
    os.replace(manifest + ".tmp", manifest)
