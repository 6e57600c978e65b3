"""Tcl model of the Vivado / Vitis HLS commands (a test fixture): run generated
scripts in tclsh and get back the design they built, or the reason they fail."""
from .runner import Design, ModelError, accel_def, run, run_flow  # noqa: F401
