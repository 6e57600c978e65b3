#!/usr/bin/env python3
"""nn_hls: FuseSoC generator, Keras model -> Vitis HLS accelerator IP core.

Writes the IP project (HLS sources, Vitis HLS script, register map, weight layout and
image, C-simulation bridge and test vectors) and a .core that lists every file.
Parameters: the nnaccel configuration keys (docs/configuration.md), paths relative to
the calling core, plus `config`: a YAML file of defaults.
"""
import os
import sys

# FuseSoC's input cache keys on this script's bytes (and the parameters and model files):
# the version is written here so that a new nnaccel release invalidates cached IPs
# (tests/test_generators.py keeps it equal to the package version).
GENERATOR_VERSION = "0.1.0"

# The nnaccel package beside this script is the one it belongs with, installed or not.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    from nnaccel import envcheck

    envcheck.require("nn_hls")
    from nnaccel import gapi
    from nnaccel.nn_hls import generate

    sys.exit(gapi.run("nn_hls", generate, GENERATOR_VERSION))
