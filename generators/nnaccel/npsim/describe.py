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
        "n_in": int(layer.get_attr("n_in") or 0), "n_out": int(layer.get_attr("n_out") or 0),
        "strategy": str(layer.get_attr("strategy", "latency")).lower(),
        "accum": _attr_type(layer, "accum_t"),
        "weight": layer.weights["weight"].name, "bias": layer.weights["bias"].name,
        # Resource strategy stores the kernel transposed: [n_out][n_in] instead of [n_in][n_out]
        "weight_order": "out_in" if layer.get_attr("_weights_transposed", False) else "in_out",
    })
    return d


def _geometry(layer, pool: bool) -> dict:
    """Spatial sizes of a 1-D or 2-D convolution/pooling (1-D as height 1), channels last."""
    two_d = layer.get_attr("in_height") is not None
    g = {k: int(layer.get_attr(k) or 0) for k in ("in_width", "out_width", "stride_width", "pad_left", "pad_right")}
    if two_d:
        g.update({k: int(layer.get_attr(k) or 0)
                  for k in ("in_height", "out_height", "stride_height", "pad_top", "pad_bottom")})
    else:
        g.update({"in_height": 1, "out_height": 1, "stride_height": 1, "pad_top": 0, "pad_bottom": 0})
    fh, fw = ("pool_height", "pool_width") if pool else ("filt_height", "filt_width")
    g["filt_width"] = int(layer.get_attr(fw))
    g["filt_height"] = int(layer.get_attr(fh)) if two_d else 1
    g["n_chan"] = int(layer.get_attr("n_chan") or layer.get_attr("n_filt"))
    return g


def _conv(layer) -> dict:
    if str(layer.get_attr("data_format", "channels_last")) != "channels_last":
        return _unsupported(layer, "channels_first data")
    d = _dense(layer)  # the per-pixel product is hls4ml's dense kernel over the window (mult_config)
    if d["kind"] == "unsupported":
        return d
    g = _geometry(layer, pool=False)
    d.update(g, kind="conv", n_filt=int(layer.get_attr("n_filt")),
             n_in=g["filt_height"] * g["filt_width"] * g["n_chan"], n_out=int(layer.get_attr("n_filt")))
    return d


def _maxpool(layer) -> dict:
    if str(layer.get_attr("pool_op", "")).lower() != "max":
        return _unsupported(layer, f"{layer.get_attr('pool_op')} pooling")
    if str(layer.get_attr("data_format", "channels_last")) != "channels_last":
        return _unsupported(layer, "channels_first data")
    g = _geometry(layer, pool=True)
    if any(g[k] for k in ("pad_top", "pad_bottom", "pad_left", "pad_right")):
        return _unsupported(layer, "padded pooling")
    d = _common(layer, "maxpool")
    d.update(g, accum=_attr_type(layer, "accum_t"))
    return d


def _zeropad(layer) -> dict:
    d = _common(layer, "zeropad")
    two_d = layer.get_attr("in_height") is not None
    d.update({k: int(layer.get_attr(k) or 0) for k in ("in_width", "out_width", "pad_left", "pad_right", "n_chan")})
    if two_d:
        d.update({k: int(layer.get_attr(k) or 0) for k in ("in_height", "out_height", "pad_top", "pad_bottom")})
    else:
        d.update({"in_height": 1, "out_height": 1, "pad_top": 0, "pad_bottom": 0})
    return d


def _batchnorm(layer) -> dict:
    cfg = layer.get_attr("config_cpp") or ""
    if "product::mult<" not in cfg:
        return _unsupported(layer, "its multiplications are not plain products")
    d = _common(layer, "batchnorm")
    n_filt = layer.get_attr("n_filt")
    d.update({"n_in": int(layer.get_attr("n_in")), "n_filt": -1 if n_filt is None else int(n_filt),
              "scale": layer.weights["scale"].name, "bias": layer.weights["bias"].name})
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
              "Activation": _activation, "ReLU": _activation, "Softmax": _softmax,
              "Conv1D": _conv, "Conv2D": _conv, "Pooling1D": _maxpool, "Pooling2D": _maxpool,
              "Reshape": lambda layer: _common(layer, "reshape"), "ZeroPadding1D": _zeropad,
              "ZeroPadding2D": _zeropad, "BatchNormalization": _batchnorm}


def describe_layers(hm) -> dict:
    layers = []
    for layer in hm.get_layers():
        describe = DESCRIBERS.get(layer.class_name)
        try:
            layers.append(describe(layer) if describe else _unsupported(layer, "not implemented in numpy"))
        except Exception as e:  # an attribute this hls4ml version lays out differently
            layers.append(_unsupported(layer, f"its attributes could not be read ({type(e).__name__}: {e})"))
    return {"schema": SCHEMA, "io_type": hm.config.get_config_value("IOType"), "layers": layers}
