"""Edalize tool `vitis_hls`: run each nn_accel HLS script (file_type hlsTclSource)
through Vitis HLS and hand the exported IP repositories on to Vivado.

It consumes the HLS sources and scripts and passes on every other file, with a
generated `<name>_ip_repo.tcl` (tclSource) first, so Vivado adds the exported
IPs to its catalog before any block-design script runs. Usable as a frontend of
`flow: vivado` and as the first step of the `nnaccel_zynq` flow.
"""
from __future__ import annotations

import json
import os
import shutil

from edalize.tools.edatool import Edatool
from edalize.utils import EdaCommands

HLS_COMMANDS = {
    # Vitis HLS 2022.2 - 2024.2: the classic batch command.
    "vitis_hls": ["vitis_hls", "-f"],
    # Vitis 2023.2 and newer (the only one from 2025.1): the unified command line.
    "vitis-run": ["vitis-run", "--mode", "hls", "--tcl"],
}
CONSUMED = ("hlsTclSource", "cppSource", "cSource")


def choose_command(option: str | None) -> str:
    """`auto` (default): vitis_hls if installed, else vitis-run if installed, else vitis_hls."""
    if option and option != "auto":
        if option not in HLS_COMMANDS:
            raise RuntimeError(f"vitis_hls: hls_command {option!r} is not one of auto, {', '.join(HLS_COMMANDS)}")
        return option
    for cmd in HLS_COMMANDS:
        if shutil.which(cmd):
            return cmd
    return "vitis_hls"


class Vitis_hls(Edatool):
    """Vitis HLS: C synthesis and IP export of nn_accel accelerators."""

    TOOL_OPTIONS = {
        "hls_command": {
            "type": "str",
            "desc": "auto (default), vitis_hls (Vitis HLS 2022.2-2024.2) or vitis-run (Vitis 2023.2 and newer)",
        },
    }

    def setup(self, edam):
        super().setup(edam)
        self.hls_command = choose_command(self.tool_options.get("hls_command"))
        scripts = [f["name"] for f in self.files if f.get("file_type") == "hlsTclSource"]
        if not scripts:
            raise RuntimeError("vitis_hls: no file of type hlsTclSource (the accelerator's hls/build_hls.tcl) "
                               "in the design")
        commands = EdaCommands()
        self.repos, targets = [], []
        for script in scripts:
            export_dir, vlnv = self._export_dir(script)
            component = os.path.join(export_dir, "component.xml")
            ip_root = os.path.dirname(os.path.dirname(script))
            sources = [f["name"] for f in self.files if f.get("file_type") in ("cppSource", "cSource")
                       and f["name"].startswith(ip_root + "/")]
            if component in targets:
                raise RuntimeError(f"vitis_hls: two HLS scripts export to {export_dir}: give the accelerators "
                                   "different `top` names")
            commands.add(HLS_COMMANDS[self.hls_command] + [script], [component], [script] + sources)
            self.repos.append(export_dir)
            targets.append(component)
        # The repository script is written at setup; remaking it after HLS makes Vivado's
        # project (which depends on every tclSource) wait for the exports.
        self.repo_script = f"{self.name}_ip_repo.tcl"
        commands.add(["touch", self.repo_script], [self.repo_script], targets)
        commands.set_default_target(self.repo_script)
        self.commands = commands

        rest = [f for f in self.files if f.get("file_type") not in CONSUMED]
        self.edam = edam.copy()
        self.edam["files"] = [{"name": self.repo_script, "file_type": "tclSource"}] + rest

    def _export_dir(self, script: str) -> tuple[str, str]:
        """Where Vitis HLS exports the IP of this script, from the IP description beside it.
        make runs the script in the work root, so the project lands there (build_hls.tcl keeps
        it in its working directory), not in the exported sources that FuseSoC prunes."""
        ip_root = os.path.dirname(os.path.dirname(script))
        desc_file = os.path.join(ip_root, "nnaccel.json")
        try:
            with open(os.path.join(self.work_root, desc_file)) as f:
                desc = json.load(f)
        except (OSError, ValueError) as e:
            raise RuntimeError(f"vitis_hls: {script} has no readable nnaccel.json in {ip_root} ({e})") from None
        rel = desc.get("files", {}).get("hls_ip_repo") or f"{desc['top']}_prj/solution1/impl/ip"
        if os.path.isabs(rel) or rel.split("/")[0] in ("..", "hls", "src"):
            raise RuntimeError(f"vitis_hls: {desc_file}: hls_ip_repo {rel!r} is not a project directory in the "
                               "work root (IP written by an older nnaccel: generate it again)")
        return rel, desc["vlnv"]

    def write_config_files(self):
        from nnaccel.bd.generate import render

        self.update_config_file(self.repo_script, render("bd/ip_repo.tcl.j2", repos=self.repos))
