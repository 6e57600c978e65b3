"""Edalize flow `nnaccel_zynq`: Vitis HLS -> Vivado (project, block design,
synthesis, implementation, bitstream) -> hardware handoff (.xsa, .hwh).

Before `make` runs, the flow checks that the vendor tools are on PATH and stops
with a message naming the missing one (unless EDALIZE_LAUNCHER is set: a dry run
such as EDALIZE_LAUNCHER=echo needs no tools). At the end it prints where the
outputs are.
"""
from __future__ import annotations

import glob
import os
import json
import shutil
import sys

from edalize.flows.edaflow import FlowGraph
from edalize.flows.vivado import Vivado
from edalize.tools.vitis_app import _is_design_summary

BUNDLE_DIR = "bundle"

INSTALL_HINT = {
    "vitis_hls": "AMD Vitis HLS 2022.2 or newer (source <install>/settings64.sh), or set flow option "
                 "hls_command: vitis-run for Vitis 2023.2 and newer",
    "vitis-run": "AMD Vitis 2023.2 or newer (source <install>/settings64.sh)",
    "vivado": "AMD Vivado 2022.2 or newer (source <install>/settings64.sh)",
    "vitis": "AMD Vitis 2023.2 or newer for `vitis -s` (source <install>/settings64.sh), or set tool option "
             "vitis_command: xsct for older releases",
    "xsct": "AMD Vitis 2019.2 - 2025.x with XSCT (source <install>/settings64.sh)",
}


class Nnaccel_zynq(Vivado):
    """nn_accel on Zynq: Vitis HLS accelerators into a Vivado block design, bitstream, handoff, self-test .elf."""

    @classmethod
    def get_tool_options(cls, flow_options):
        tools = ["vitis_hls"] + flow_options.get("frontends", []) + ["vivado", "vivado_handoff", "vitis_app"]
        return cls.get_filtered_tool_options(tools, cls.FLOW_DEFINED_TOOL_OPTIONS)

    def configure_flow(self, flow_options):
        if flow_options.get("synth") == "yosys":
            raise RuntimeError("nnaccel_zynq: synth yosys is not supported (the block design needs Vivado)")
        flow, deps = {"vitis_hls": {"deps": []}}, ["vitis_hls"]
        for frontend in flow_options.get("frontends", []):
            flow[frontend] = {"deps": deps}
            deps = [frontend]
        flow["vivado"] = {"deps": deps}
        flow["vivado_handoff"] = {"deps": ["vivado"]}
        flow["vitis_app"] = {"deps": ["vivado_handoff"]}
        return FlowGraph.fromdict(flow)

    def configure_tools(self, graph):
        super().configure_tools(graph)
        # Edalize's vivado tool makes the bitstream depend only on its Tcl scripts (the project
        # is order-only), so a new HLS export or block design would recreate the project and
        # keep the old bitstream. Here the project is rebuilt exactly when one of those changes.
        vivado = graph.get_node("vivado").inst
        bit, xpr = f"{vivado.name}.bit", f"{vivado.name}.xpr"
        for c in vivado.commands.commands:
            if bit in c.targets and xpr not in c.depends:
                c.depends = list(c.depends) + [xpr]
        # The self-test .elf(s) need the .xsa, which needs the bitstream; the build ends with the
        # bundle of all of them (a make target like the others: EDALIZE_LAUNCHER applies to it).
        app = graph.get_node("vitis_app").inst
        self.bundle = self._bundle_target()
        meta = [f["name"] for f in self.edam["files"] if f.get("file_type") == "user"]
        # not the .hwh: the handoff rule makes it with the .xsa, and naming both would make
        # (a non-grouped two-target rule) run the handoff twice
        handoff = [f"{vivado.name}{ext}" for ext in (".bit", ".xsa")]
        self.commands.add([sys.executable, "-m", "nnaccel", "bundle", ".", "-o", BUNDLE_DIR, "-q"], [self.bundle],
                          handoff + app.elfs + meta)
        self.commands.set_default_target(self.bundle)

    def _bundle_target(self) -> str:
        """bundle/<design>.tar.gz, the design named by the block-design summary among the files."""
        for f in self.edam["files"]:
            path = os.path.join(self.work_root, f["name"])
            if _is_design_summary(path):
                with open(path) as fh:
                    return f"{BUNDLE_DIR}/{json.load(fh)['design']}.tar.gz"
        raise RuntimeError("nnaccel_zynq: no block-design summary (<design>.json) among the files")

    def _needed_tools(self) -> list[str]:
        hls = self.flow.get_node("vitis_hls").inst
        app = self.flow.get_node("vitis_app").inst
        return [hls.hls_command, "vivado"] + ([app.vitis_command] if app.elfs else [])

    def build(self):
        if not os.environ.get("EDALIZE_LAUNCHER"):
            for tool in self._needed_tools():
                if shutil.which(tool) is None:
                    raise RuntimeError(f"{tool} not found on PATH: this step needs {INSTALL_HINT[tool]}. "
                                       "For a dry run showing every tool call: EDALIZE_LAUNCHER=echo")
        # Configure ran only if the file list changed; new content in the same files (test
        # vectors, weights) must still reach the self-test application before make runs.
        self.flow.get_node("vitis_app").inst.write_config_files()
        super().build()
        self._report()

    def _report(self):
        name, root = self.edam["name"], os.path.abspath(self.work_root)
        print(f"nn_accel: outputs in {root}:")
        for ext, what in ((".bit", "bitstream"), (".hwh", "hardware handoff for PYNQ"),
                          (".xsa", "hardware platform for Vitis")):
            print(f"  {name}{ext:5} {what}")
        app = self.flow.get_node("vitis_app").inst
        for elf in app.elfs:
            print(f"  self-test application: {os.path.join(root, elf)}")
        for accel, reason in app.skipped:
            print(f"  no self-test application for {accel}: {reason}")
        print(f"  board bundle (copy to the board, see its README.md): {os.path.join(root, self.bundle)}")
        hls = self.flow.get_node("vitis_hls").inst
        for repo in hls.repos:
            reports = os.path.normpath(os.path.join(root, repo, "..", "..", "syn", "report"))
            print(f"  HLS reports: {reports}")
        found = sorted(glob.glob(os.path.join(root, f"{name}.*")))
        if not any(f.endswith(".bit") for f in found):
            print("  (no .bit or .elf yet: a dry run, or the build stopped early)")
