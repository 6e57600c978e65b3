"""What the estimates need from each layer of an hls4ml ModelGraph, as plain JSON-able numbers
(stored in report.json so `nnaccel report` needs no hls4ml conversion)."""
from __future__ import annotations

import math

# The weight variable whose every element is one multiplication per kernel call.
MULT_WEIGHTS = ("weight", "depthwise", "pointwise", "scale")


def _precision(t) -> tuple[int, bool]:
    p = getattr(t, "precision", t)
    return int(getattr(p, "width", 16)), bool(getattr(p, "signed", True))


def _pixels(layer, prefix: str) -> int:
    return int(layer.get_attr(f"{prefix}_height", 1) or 1) * int(layer.get_attr(f"{prefix}_width", 1) or 1)


def layer_facts(layer, io_type: str, default_strategy: str) -> dict:
    out_var = layer.get_output_variable()
    shape = [int(s) for s in getattr(out_var, "shape", [])] if out_var is not None else []
    pixels = int(math.prod(shape[:-1])) if len(shape) > 1 else 1
    f = {"name": layer.name, "class": layer.class_name,
         "stream_pixels": pixels if io_type == "io_stream" else 1, "n_mult_call": 0}
    weights = dict(getattr(layer, "weights", {}) or {})
    key = next((k for k in MULT_WEIGHTS if k in weights), None)
    if key is None:
        f["storage_bits"] = sum(int(v.data_length) * _precision(v.type)[0] for v in weights.values())
        return f
    w = weights[key]
    w_bits, w_signed = _precision(w.type)
    in_var = layer.get_input_variable()
    in_bits, in_signed = _precision(in_var.type) if in_var is not None else (16, True)
    accum = layer.get_attr("accum_t")
    accum_bits = _precision(accum)[0] if accum is not None else _precision(out_var.type)[0]
    n_call = int(w.data_length)
    is_conv = "Conv" in layer.class_name
    calls = _pixels(layer, "out") if is_conv else 1
    partitions = int(layer.get_attr("n_partitions", 1) or 1)
    if is_conv and io_type == "io_parallel":
        sequential, parallel = partitions, max(1, calls // partitions)  # pixels of a partition unrolled
    else:
        sequential, parallel = calls, 1
    others = [v for k, v in weights.items() if k != key]
    f.update({
        "strategy": str(layer.get_attr("strategy", default_strategy)).lower(),
        "reuse_factor": int(layer.get_attr("reuse_factor", 1) or 1),
        "n_in": n_call // max(1, int(layer.get_attr("n_filt", 1) or 1)) if is_conv
        else int(layer.get_attr("n_in", 0) or n_call),
        "n_mult_call": n_call, "n_zeros": int(getattr(w, "nzeros", 0) or 0),
        "mults_per_sample": (n_call - int(getattr(w, "nzeros", 0) or 0)) * calls,
        "sequential_calls": sequential, "parallel": parallel,
        "weight_type": w.type.precision.definition_cpp(), "weight_bits": w_bits, "weight_signed": w_signed,
        "input_type": in_var.type.precision.definition_cpp() if in_var is not None else "?",
        "input_bits": in_bits, "input_signed": in_signed, "accum_bits": accum_bits,
        "other_bits": sum(int(v.data_length) * _precision(v.type)[0] for v in others),
    })
    f["storage_bits"] = n_call * w_bits + f["other_bits"]
    return f


def model_facts(hm, io_type: str) -> list[dict]:
    default = str(hm.config.get_config_value("HLSConfig", {}).get("Model", {}).get("Strategy", "latency"))
    return [layer_facts(layer, io_type, default) for layer in hm.get_layers() if layer.class_name != "InputLayer"]
