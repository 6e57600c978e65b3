"""Port a QKeras MLP (Keras 2 JSON + h5) to a plain Keras 3 model plus the hls4ml types.

QKeras needs Keras 2 and cannot live beside Keras 3, so this reads the architecture with
`json` and the weights with `h5py`, applies each layer's `quantized_bits` quantiser to the
stored float kernels and biases exactly as QKeras does at inference, and builds a Keras 3
model (Dense and Activation relu / softmax, same layer names) holding the quantised values. What plain
Keras cannot express (6-bit fixed-point arithmetic) goes into an hls4ml configuration
written next to the model: weights and biases `ap_fixed<bits, integer+1>`, ReLU results
`ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>`.

    python -m nnaccel.port_qkeras ARCH.json WEIGHTS.h5 -o OUT.keras   (also writes OUT.hls.yml)
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError, NnaccelError
from .render import render
from .staging import check_file_target, current_umask

SUPPORTED_LAYERS = ("InputLayer, QDense (linear activation, quantized_bits kernel and bias), "
                    "QActivation (quantized_relu), Activation (relu, softmax, linear)")
SUPPORTED_BITS = "quantized_bits(bits, integer, alpha=1) with keep_negative, no stochastic rounding"
SUPPORTED_RELU = "quantized_relu(bits, integer) without negative_slope, sigmoid, upper bound or stochastic rounding"
# hls4ml's default model precision; the ported layers override what the quantisers fix
MODEL_PRECISION = "ap_fixed<16,6>"
# Quantiser options that only matter for alpha='auto'/'auto_po2' or for training
_HARMLESS_KEYS = {"scale_axis", "var_name", "use_ste", "use_variables", "elements_per_scale",
                  "min_po2_exponent", "max_po2_exponent", "post_training_scale"}
_BITS_DEFAULTS = dict(bits=8, integer=0, symmetric=0, keep_negative=True, alpha=None,
                      use_stochastic_rounding=False, qnoise_factor=1.0)
_RELU_DEFAULTS = dict(bits=8, integer=0, use_sigmoid=0, negative_slope=0.0,
                      use_stochastic_rounding=False, relu_upper_bound=None, qnoise_factor=1.0,
                      is_quantized_clip=True)


@dataclass(frozen=True)
class BitsQuantizer:
    """QKeras quantized_bits(bits, integer, symmetric, keep_negative=True, alpha=1)."""
    bits: int
    integer: int
    symmetric: bool = False

    @property
    def scale(self) -> float:
        # m / m_i in QKeras: 2^(bits-1) / 2^integer
        return 2.0 ** (self.bits - 1 - self.integer)

    @property
    def steps(self) -> tuple[int, int]:
        m = 2 ** (self.bits - 1)
        return -m + int(self.symmetric), m - 1

    def quantise(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """(quantised values, how many were clipped). np.round rounds half to even like tf.round;
        the scale is a power of two, so float32 gives the same result as QKeras' float32."""
        q = np.round(x.astype(np.float32) * np.float32(self.scale))
        lo, hi = self.steps
        clipped = int(np.count_nonzero((q < lo) | (q > hi)))
        return (np.clip(q, lo, hi) / np.float32(self.scale)).astype(np.float32), clipped

    @property
    def hls_type(self) -> str:
        return f"ap_fixed<{self.bits},{self.integer + 1}>"

    def __str__(self) -> str:
        sym = ",symmetric=1" if self.symmetric else ""
        return f"quantized_bits({self.bits},{self.integer}{sym},alpha=1)"


@dataclass(frozen=True)
class ReluQuantizer:
    """QKeras quantized_relu(bits, integer): round half to even, saturate at 2^integer - lsb."""
    bits: int
    integer: int

    @property
    def hls_type(self) -> str:
        return f"ap_ufixed<{self.bits},{self.integer},AP_RND_CONV,AP_SAT>"

    def __str__(self) -> str:
        return f"quantized_relu({self.bits},{self.integer})"


def _quantizer_call(spec, layer: str, what: str) -> tuple[str, dict]:
    """(class name, keyword config) of a serialised quantiser: a dict or a 'name(args)' string."""
    if isinstance(spec, dict) and "class_name" in spec:
        return spec["class_name"], dict(spec.get("config") or {})
    if isinstance(spec, str):
        try:
            call = ast.parse(spec.strip(), mode="eval").body
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                raise ValueError
            name = call.func.id
            args = [ast.literal_eval(a) for a in call.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except (SyntaxError, ValueError):
            raise ModelError(f"layer {layer}: cannot read {what} {spec!r}; supported: "
                             f"{SUPPORTED_BITS}; {SUPPORTED_RELU}") from None
        defaults = {"quantized_bits": _BITS_DEFAULTS, "quantized_relu": _RELU_DEFAULTS}.get(name)
        if defaults is None:
            return name, {}
        kwargs.update(zip(defaults, args))  # positional arguments in QKeras' order
        return name, kwargs
    raise ModelError(f"layer {layer}: {what} {spec!r} is not supported; supported: {SUPPORTED_BITS}")


def _options(cfg: dict, defaults: dict, layer: str, what: str, supported: str) -> dict:
    unknown = sorted(set(cfg) - set(defaults) - _HARMLESS_KEYS)
    if unknown:
        raise ModelError(f"layer {layer}: {what} has unsupported option(s) {', '.join(unknown)}; "
                         f"supported: {supported}")
    out = dict(defaults)
    out.update({k: v for k, v in cfg.items() if k in defaults})
    return out


def _check_width(o: dict, layer: str, what: str, supported: str) -> None:
    ok = (isinstance(o["bits"], int) and isinstance(o["integer"], int)
          and o["bits"] >= 2 and 0 <= o["integer"] <= o["bits"])
    if not ok:
        raise ModelError(f"layer {layer}: {what} bits={o['bits']!r} integer={o['integer']!r} is not "
                         f"supported; supported: {supported} with bits >= 2 and 0 <= integer <= bits")


def parse_bits(spec, layer: str, what: str) -> BitsQuantizer:
    if spec is None:
        raise ModelError(f"layer {layer}: QDense without a {what} is not supported; "
                         f"supported: {SUPPORTED_BITS}")
    name, cfg = _quantizer_call(spec, layer, what)
    if name != "quantized_bits":
        raise ModelError(f"layer {layer}: {what} {name} is not supported; supported: {SUPPORTED_BITS}")
    o = _options(cfg, _BITS_DEFAULTS, layer, what, SUPPORTED_BITS)
    bad = []
    if not o["keep_negative"]:
        bad.append("keep_negative=False")
    if o["alpha"] not in (None, 1, 1.0):
        bad.append(f"alpha={o['alpha']!r}")
    if o["use_stochastic_rounding"]:
        bad.append("use_stochastic_rounding")
    if o["qnoise_factor"] != 1.0:
        bad.append(f"qnoise_factor={o['qnoise_factor']!r}")
    if bad:
        raise ModelError(f"layer {layer}: {what} with {', '.join(bad)} is not supported; "
                         f"supported: {SUPPORTED_BITS}")
    _check_width(o, layer, what, SUPPORTED_BITS)
    if o["integer"] >= o["bits"]:
        raise ModelError(f"layer {layer}: {what} needs integer < bits; supported: {SUPPORTED_BITS}")
    return BitsQuantizer(o["bits"], o["integer"], bool(o["symmetric"]))


def parse_relu(spec, layer: str) -> ReluQuantizer:
    name, cfg = _quantizer_call(spec, layer, "activation")
    if name != "quantized_relu":
        raise ModelError(f"layer {layer}: QActivation {name} is not supported; supported: {SUPPORTED_RELU}")
    o = _options(cfg, _RELU_DEFAULTS, layer, "quantized_relu", SUPPORTED_RELU)
    bad = [f"{k}={o[k]!r}" for k in ("use_sigmoid", "negative_slope", "use_stochastic_rounding")
           if o[k]]
    if o["relu_upper_bound"] is not None:
        bad.append(f"relu_upper_bound={o['relu_upper_bound']!r}")
    if o["qnoise_factor"] != 1.0:
        bad.append(f"qnoise_factor={o['qnoise_factor']!r}")
    if not o["is_quantized_clip"]:
        bad.append("is_quantized_clip=False")
    if bad:
        raise ModelError(f"layer {layer}: quantized_relu with {', '.join(bad)} is not supported; "
                         f"supported: {SUPPORTED_RELU}")
    _check_width(o, layer, "quantized_relu", SUPPORTED_RELU)
    return ReluQuantizer(o["bits"], o["integer"])


# ---------------------------------------------------------------- reading the files

def _read_json(path: Path) -> dict:
    try:
        arch = json.loads(Path(path).read_text())
    except OSError as e:
        raise ModelError(f"cannot read {path} ({e.strerror})") from None
    except ValueError:
        raise ModelError(f"{path} is not a Keras model JSON file") from None
    if not isinstance(arch, dict) or "class_name" not in arch:
        raise ModelError(f"{path} is not a Keras model JSON file (no class_name)")
    if arch["class_name"] != "Sequential":
        raise ModelError(f"{path}: model class {arch['class_name']} is not supported; "
                         f"supported: Sequential models of {SUPPORTED_LAYERS}")
    cfg = arch.get("config")
    layers = cfg.get("layers") if isinstance(cfg, dict) else cfg  # Keras < 2.2.3: a bare list
    if not isinstance(layers, list) or not layers:
        raise ModelError(f"{path}: the Sequential model has no layers")
    return {"name": cfg.get("name", "sequential") if isinstance(cfg, dict) else "sequential",
            "layers": layers}


class _H5Weights:
    """Kernel and bias of a layer in a Keras 2 weights file (save_weights or a full model save)."""

    def __init__(self, path: Path):
        import h5py

        self.path = path
        try:
            self._file = h5py.File(path, "r")
        except OSError:
            raise ModelError(f"cannot read {path} as an HDF5 Keras weights file") from None
        self._root = self._file["model_weights"] if "model_weights" in self._file else self._file

    def close(self):
        self._file.close()

    def get(self, layer: str) -> dict[str, np.ndarray]:
        if layer not in self._root:
            raise ModelError(f"layer {layer}: no weights in {self.path}")
        group = self._root[layer]
        out = {}
        for raw in group.attrs.get("weight_names", []):
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            kind = name.split("/")[-1].split(":")[0]  # 'fc1/kernel:0' -> 'kernel'
            out[kind] = np.asarray(group[name], dtype=np.float32)
        return out


def _input_shape(layer_cfg: dict):
    return layer_cfg.get("batch_input_shape") or layer_cfg.get("batch_shape")


# ---------------------------------------------------------------- porting

@dataclass
class _Ported:
    name: str
    source_class: str
    keras_class: str
    quantizer: str | None = None
    precision: dict | None = None  # hls4ml Precision entries of this layer
    units: int | None = None
    kernel: np.ndarray | None = None
    bias: np.ndarray | None = None
    activation: str | None = None
    values: int = 0
    clipped: int = 0
    changed: int = 0


def _port_dense(cfg: dict, weights: dict, n_in: int) -> _Ported:
    name = cfg["name"]
    act = cfg.get("activation") or "linear"
    if act != "linear":
        raise ModelError(f"layer {name}: QDense with activation {act!r} is not supported; "
                         f"supported: {SUPPORTED_LAYERS}")
    units, use_bias = int(cfg["units"]), cfg.get("use_bias", True)
    kq = parse_bits(cfg.get("kernel_quantizer"), name, "kernel_quantizer")
    bq = parse_bits(cfg.get("bias_quantizer"), name, "bias_quantizer") if use_bias else None
    kernel = weights.get("kernel")
    if kernel is None or kernel.shape != (n_in, units):
        got = None if kernel is None else kernel.shape
        raise ModelError(f"layer {name}: kernel shape {got} in the weights file, expected {(n_in, units)}")
    p = _Ported(name, "QDense", "Dense", units=units)
    p.kernel, clipped = kq.quantise(kernel)
    p.clipped, p.values = clipped, kernel.size
    p.changed = int(np.count_nonzero(p.kernel != kernel))
    p.precision = {"weight": kq.hls_type}
    p.quantizer = f"kernel {kq}"
    if use_bias:
        bias = weights.get("bias")
        if bias is None or bias.shape != (units,):
            got = None if bias is None else bias.shape
            raise ModelError(f"layer {name}: bias shape {got} in the weights file, expected {(units,)}")
        p.bias, clipped = bq.quantise(bias)
        p.clipped += clipped
        p.values += bias.size
        p.changed += int(np.count_nonzero(p.bias != bias))
        p.precision["bias"] = bq.hls_type
        p.quantizer += f", bias {bq}"
    return p


def _port_layers(arch: dict, h5: _H5Weights) -> tuple[list[int], str, list[_Ported]]:
    layers = arch["layers"]
    shape = _input_shape(layers[0]["config"])
    input_name = None
    if layers[0]["class_name"] == "InputLayer":
        input_name = layers[0]["config"].get("name")
        layers = layers[1:]
    if not shape or len(shape) != 2 or not isinstance(shape[1], int):
        raise ModelError(f"input shape {shape} is not supported; supported: flat inputs (batch, n) "
                         f"of an MLP made of {SUPPORTED_LAYERS}")
    n = shape[1]
    ported = []
    for layer in layers:
        cls, cfg = layer["class_name"], layer["config"]
        name = cfg.get("name", "?")
        if cls == "QDense":
            p = _port_dense(cfg, h5.get(name), n)
            n = p.units
        elif cls == "QActivation":
            q = parse_relu(cfg.get("activation"), name)
            p = _Ported(name, cls, "Activation", quantizer=str(q), precision={"result": q.hls_type},
                        activation="relu")
        elif cls == "Activation" and cfg.get("activation") in ("relu", "softmax", "linear"):
            act = cfg["activation"]
            p = _Ported(name, cls, "Activation", activation=act)
        else:
            what = f"{cls}({cfg.get('activation')!r})" if cls == "Activation" else cls
            raise ModelError(f"layer {name}: {what} is not supported; supported: {SUPPORTED_LAYERS}")
        ported.append(p)
    if not any(p.keras_class == "Dense" for p in ported):
        raise ModelError(f"the model has no QDense layer; supported: {SUPPORTED_LAYERS}")
    return [shape[1]], input_name or f"{ported[0].name}_input", ported


def _build_keras(model_name: str, input_shape, input_name: str, ported: list[_Ported]):
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name=input_name)
    x = inputs
    for p in ported:
        if p.keras_class == "Dense":
            layer = keras.layers.Dense(p.units, use_bias=p.bias is not None, name=p.name)
            x = layer(x)
            layer.set_weights([p.kernel] + ([p.bias] if p.bias is not None else []))
        else:
            # Activation, not keras.layers.ReLU: hls4ml turns a ReLU layer into a
            # ParametrizedActivation (leaky ReLU with slope 0), Activation('relu') into a plain ReLU
            x = keras.layers.Activation(p.activation, name=p.name)(x)
    return keras.Model(inputs, x, name=model_name)


def hls_config_path(out_path: Path) -> Path:
    """OUT.keras -> OUT.hls.yml"""
    return Path(out_path).with_suffix(".hls.yml")


def port_qkeras(json_path, h5_path, out_path) -> dict:
    """Port the QKeras model; write OUT.keras and OUT.hls.yml; return the report."""
    json_path, h5_path, out_path = Path(json_path), Path(h5_path), Path(out_path)
    if out_path.suffix != ".keras":
        raise NnaccelError(f"output {out_path} must end in .keras (the Keras 3 model format)")
    arch = _read_json(json_path)
    if not h5_path.is_file():
        raise ModelError(f"cannot read {h5_path} (no such file)")
    h5 = _H5Weights(h5_path)
    try:
        input_shape, input_name, ported = _port_layers(arch, h5)
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise ModelError(f"{json_path}: malformed Keras model JSON or weights file ({type(e).__name__}: {e}); "
                         f"expected a Sequential model of {SUPPORTED_LAYERS}") from None
    finally:
        h5.close()

    hls = {"Model": {"Precision": MODEL_PRECISION, "ReuseFactor": 1, "Strategy": "Latency"},
           "LayerName": {p.name: {"Precision": dict(p.precision)} for p in ported if p.precision}}
    yml_path = hls_config_path(out_path)
    yml_text = render("port_qkeras/hls.yml.j2", model_name=out_path.stem, source=json_path.name,
                      model_precision=MODEL_PRECISION,
                      layers=[p for p in ported if p.precision])
    model = _build_keras(out_path.stem, input_shape, input_name, ported)

    # Write both files under temporary names, then move them into place together.
    for target in (out_path, yml_path):
        check_file_target(target, inputs=(json_path, h5_path))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmps = []
    try:
        for suffix in (".keras", ".yml"):
            fd, tmp = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=suffix, dir=out_path.parent)
            os.close(fd)
            tmps.append(Path(tmp))
        model.save(tmps[0])
        tmps[1].write_text(yml_text)
        for t in tmps:  # mkstemp makes 0600 files; give them the usual umask permissions
            os.chmod(t, 0o666 & ~current_umask())
        os.replace(tmps[0], out_path)
        os.replace(tmps[1], yml_path)
    finally:
        for t in tmps:
            t.unlink(missing_ok=True)

    return {
        "model": out_path.stem,
        "source": {"json": str(json_path), "h5": str(h5_path)},
        "output": str(out_path),
        "hls_config": str(yml_path),
        "input_shape": input_shape,
        "input_name": input_name,
        "layers": [{"name": p.name, "source_class": p.source_class, "keras_class": p.keras_class,
                    "activation": p.activation,
                    "quantizer": p.quantizer, "hls_precision": p.precision, "values": p.values,
                    "clipped": p.clipped, "changed": p.changed} for p in ported],
        "n_values": sum(p.values for p in ported),
        "n_clipped": sum(p.clipped for p in ported),
        "hls": hls,
    }


def format_report(rep: dict) -> str:
    lines = [f"ported {rep['source']['json']} -> {rep['output']} (hls4ml types: {rep['hls_config']})",
             f"  input {rep['input_name']} {rep['input_shape']}"]
    for layer in rep["layers"]:
        target = layer["keras_class"] + (f"({layer['activation']})" if layer["activation"] else "")
        line = f"  {layer['name']:<10} {layer['source_class']:<11} -> {target:<19}"
        if layer["quantizer"]:
            line += f" {layer['quantizer']}"
        if layer["values"]:
            line += (f"; {layer['values']} values, {layer['changed']} changed by quantisation, "
                     f"{layer['clipped']} clipped")
        if layer["hls_precision"]:
            line += "  [" + ", ".join(f"{k} {v}" for k, v in layer["hls_precision"].items()) + "]"
        lines.append(line)
    lines.append(f"  {rep['n_values']} weight values, {rep['n_clipped']} clipped")
    return "\n".join(lines)


DESCRIPTION = ("Port a QKeras MLP (Keras 2 JSON + h5) to Keras 3 with quantised weights, "
               "and write the matching hls4ml configuration as OUT.hls.yml.")


def add_port_arguments(ap) -> None:
    ap.add_argument("json", metavar="ARCH.json", help="model architecture, Keras 2 JSON (model.to_json())")
    ap.add_argument("h5", metavar="WEIGHTS.h5", help="weights, Keras 2 HDF5 (model.save_weights())")
    ap.add_argument("-o", "--output", required=True, metavar="OUT.keras",
                    help="the Keras 3 model to write (.keras); OUT.hls.yml is written beside it")


def run_port(args) -> int:
    print(format_report(port_qkeras(args.json, args.h5, args.output)))
    return 0


def main(argv=None) -> int:
    """`python -m nnaccel.port_qkeras` (the `nnaccel port-qkeras` command registers the same arguments)."""
    ap = argparse.ArgumentParser(prog="nnaccel port-qkeras", description=DESCRIPTION)
    add_port_arguments(ap)
    args = ap.parse_args(argv)
    try:
        return run_port(args)
    except NnaccelError as e:
        print(f"nnaccel port-qkeras: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
