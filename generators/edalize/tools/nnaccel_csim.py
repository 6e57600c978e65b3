"""Edalize tool `nnaccel_csim`: C-simulate every nn_accel IP core in the design
and compare its stored test vectors bit for bit with hls4ml's predict()."""
import os
import sys

from edalize.tools.edatool import Edatool
from edalize.utils import EdaCommands


class Nnaccel_csim(Edatool):
    description = "C-simulation of nn_accel accelerators (g++ against the ap_types headers), bit-exact check"

    TOOL_OPTIONS = {
        "python": {"type": "str", "desc": "Python interpreter that has nnaccel installed (default: the one running FuseSoC)"},
    }

    def setup(self, edam):
        super().setup(edam)
        ips = sorted({os.path.dirname(f["name"]) or "." for f in self.files
                      if os.path.basename(f["name"]) == "nnaccel.json"})
        if not ips:
            raise RuntimeError("nnaccel_csim: no nn_accel IP in this target (no nnaccel.json among its files)")
        python = self.tool_options.get("python") or sys.executable
        commands = EdaCommands()
        commands.add([[python, "-m", "nnaccel", "check", ip] for ip in ips], ["csim"], [])
        commands.set_default_target("csim")
        self.commands = commands
