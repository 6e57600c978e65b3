"""layers.json: what the numpy engine needs to know of hls4ml's converted graph, written at
generation time (`nnaccel ip`) beside the other IP facts. Each layer records its kind, the C++
types hls4ml chose for it (input, weights, accumulator, result, tables) and the weight variables
it reads; a layer the engine cannot reproduce is recorded with kind "unsupported" and the reason,
so the engine can name it."""
from __future__ import annotations

import re

SCHEMA = 1


def _cpp(t) -> str:
    """C++ spelling of an hls4ml type or precision; packed stream types give their element type."""
    p = getattr(t, "precision", t)
    return p.definition_cpp()


def _var_type(var) -> str:
    return _cpp(var.type)


def _attr_type(layer, name):
    t = layer.get_attr(name)
    return None if t is None else _cpp(t)


def _common(layer, kind: str) -> dict:
    d = {"name": layer.name, "class": layer.class_name, "kind": kind,
         "result": _var_type(layer.get_output_variable())}
    if layer.inputs:
        d["input"] = _var_type(layer.get_input_variable())
        d["inputs"] = list(layer.inputs)
    return d


def _unsupported(layer, reason: str) -> dict:
    d = {"name": layer.name, "class": layer.class_name, "kind": "unsupported", "reason": reason}
    if layer.inputs:
        d["inputs"] = list(layer.inputs)
    return d


def _dense(layer) -> dict:
    cfg = layer.get_attr("config_cpp") or ""
    if "product::mult<" not in cfg:
        return _unsupported(layer, "its multiplications are not plain products (binary or exponent weights)")
    d = _common(layer, "dense")
    d.update({
        "n_in": int(layer.get_attr("n_in")), "n_out": int(layer.get_attr("n_out")),
        "strategy": str(layer.get_attr("strategy", "latency")).lower(),
        "accum": _attr_type(layer, "accum_t"),
        "weight": layer.weights["weight"].name, "bias": layer.weights["bias"].name,
        # Resource strategy stores the kernel transposed: [n_out][n_in] instead of [n_in][n_out]
        "weight_order": "out_in" if layer.get_attr("_weights_transposed", False) else "in_out",
    })
    return d


def _activation(layer) -> dict:
    act = str(layer.get_attr("activation", "")).lower()
    if act in ("relu", "linear"):
        return _common(layer, act)
    return _unsupported(layer, f"activation {act!r}")


def _cfg_value(cfg: str, name: str) -> str:
    """A member of the layer's rendered C++ config struct (the text the IP compiles with)."""
    m = re.search(rf"\b{name}\s*=\s*([^;]+);", cfg) or re.search(rf"typedef\s+(.+?)\s+{name}\s*;", cfg)
    if not m:
        raise KeyError(f"{name} not in its C++ config")
    return m.group(1).strip()


def _softmax(layer) -> dict:
    cfg = layer.get_attr("config_cpp") or ""
    impl = _cfg_value(cfg, "implementation").rsplit("::", 1)[-1]
    if impl not in ("stable", "latency"):
        return _unsupported(layer, f"softmax implementation {impl!r}")
    if layer.get_attr("skip", False):
        return _unsupported(layer, "a skipped softmax")
    if int(layer.get_attr("n_outer") or 1) != 1 or int(layer.get_attr("n_inner") or 1) != 1:
        return _unsupported(layer, "softmax over an axis other than the last of a vector")
    d = _common(layer, "softmax")
    d.update({
        "implementation": impl,
        "exp_table_size": int(_cfg_value(cfg, "exp_table_size")),
        "inv_table_size": int(_cfg_value(cfg, "inv_table_size")),
        "exp_scale": _cfg_value(cfg, "exp_scale"),  # C++ float literal, as compiled
        "exp_table_t": _attr_type(layer, "exp_table_t"), "inv_table_t": _attr_type(layer, "inv_table_t"),
        "accum": _attr_type(layer, "accum_t"), "inv_inp_t": _attr_type(layer, "inv_inp_t"),
        "inp_norm_t": "".join(_cfg_value(cfg, "inp_norm_t").split()) if impl == "stable" else None,
    })
    return d


def _input(layer) -> dict:
    return {"name": layer.name, "class": layer.class_name, "kind": "input",
            "result": _var_type(layer.get_output_variable())}


DESCRIBERS = {"Input": _input, "Dense": _dense,
              "Activation": _activation, "ReLU": _activation, "Softmax": _softmax}


def describe_layers(hm) -> dict:
    layers = []
    for layer in hm.get_layers():
        describe = DESCRIBERS.get(layer.class_name)
        try:
            layers.append(describe(layer) if describe else _unsupported(layer, "not implemented in numpy"))
        except Exception as e:  # an attribute this hls4ml version lays out differently
            layers.append(_unsupported(layer, f"its attributes could not be read ({type(e).__name__}: {e})"))
    return {"schema": SCHEMA, "io_type": hm.config.get_config_value("IOType"), "layers": layers}
