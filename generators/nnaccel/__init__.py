"""nn_accel host tooling: Keras model -> Vitis HLS accelerator IP with run-time
programmable weights, weight images, C-simulation, FuseSoC generators."""

__version__ = "0.1.0"

import os as _os

# TensorFlow (imported by hls4ml and Keras) logs a page at import; our output is the CLI's.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
