#!/usr/bin/env python3
"""nn_hls: FuseSoC generator, Keras model -> Vitis HLS accelerator IP core.

Writes the IP project (HLS sources, Vitis HLS script, register map, weight layout and
image, C-simulation bridge and test vectors) and a .core that lists every file.
Parameters: the nnaccel configuration keys (docs/configuration.md), paths relative to
the calling core, plus `config`: a YAML file of defaults.
"""
import sys

from nnaccel import gapi
from nnaccel.nn_hls import generate

if __name__ == "__main__":
    sys.exit(gapi.run("nn_hls", generate))
