"""Edalize tool `vivado_handoff`: after the bitstream, write the hardware handoff
(`<name>.xsa` for Vitis, `<name>.hwh` beside `<name>.bit` for PYNQ) from the project."""
from __future__ import annotations

from edalize.tools.edatool import Edatool
from edalize.utils import EdaCommands


class Vivado_handoff(Edatool):
    """Vivado hardware handoff: write_hw_platform and the block design's .hwh."""

    TOOL_OPTIONS = {}

    def setup(self, edam):
        super().setup(edam)
        self.script = f"{self.name}_handoff.tcl"
        commands = EdaCommands()
        commands.add(["vivado", "-notrace", "-mode", "batch", "-source", self.script, f"{self.name}.xpr"],
                     [f"{self.name}.xsa", f"{self.name}.hwh"], [f"{self.name}.bit", self.script])
        commands.set_default_target(f"{self.name}.xsa")
        self.commands = commands
        self.edam = edam

    def write_config_files(self):
        from nnaccel.bd.generate import render

        self.update_config_file(self.script, render("bd/handoff.tcl.j2", name=self.name))
