"""Shared by the example training scripts: make TensorFlow training repeatable."""
import os


def deterministic_cpu() -> None:
    """CPU only, deterministic kernels, no oneDNN reordering of float reductions.
    Call before TensorFlow is imported: the settings are read at import."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    os.environ["TF_DETERMINISTIC_OPS"] = "1"
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
