"""Zynq block designs: a board description plus accelerator IP descriptions in,
Vivado Tcl and a FuseSoC core out (the `zynq_bd` generator)."""
from .generate import generate, GENERATOR_KEYS  # noqa: F401
