"""`nnaccel ip`'s reference step: hls4ml's predict() outputs for the test vectors, computed the
way hls4ml computes them (its g++ build of the project, its `myproject_float` called once per
sample) but in a worker process (nnaccel.isolate), twice, and held against Keras's float predict."""
from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np

from . import hls, isolate
from .check import refuse_nondeterministic
from .csim import default_timeout
from .errors import CsimCrash, ModelError
from .weights.quantise import parse_hls_type

def build_reference_library(hm) -> Path:
    """hls4ml's own g++ build (build_lib.sh, a subprocess), without loading it here."""
    with hls.quiet():
        hm.write()
        try:
            return Path(hm.config.backend.compile(hm))
        except Exception as e:
            raise ModelError(f"model: hls4ml could not compile its C++ of this model ({' '.join(str(e).split())[:200]})") \
                from None


def hls4ml_predict(worker: isolate.Worker, hm, x: np.ndarray, timeout: float) -> np.ndarray:
    """hls4ml's ModelGraph._predict: `<project>_float(in..., out...)` per sample, one argument per
    input and output variable. Several tensors are laid end to end per sample in `x` and in the
    result (hls4ml's variable order)."""
    n = len(x)
    n_ins = [v.size() for v in hm.get_input_variables()]
    n_outs = [v.size() for v in hm.get_output_variables()]
    x = np.ascontiguousarray(x.reshape(n, -1), dtype=np.float32)
    cuts = np.cumsum(n_ins)[:-1]
    args = [("in", np.ascontiguousarray(part).tobytes(), k * 4) for part, k in zip(np.split(x, cuts, axis=1), n_ins)]
    args += [("out", k * 4) for k in n_outs]
    name = hm.config.get_project_name() + "_float"
    reply = worker.request(("loop", name, n, args), timeout * max(1.0, n / 1000), f"hls4ml's predict() of {n} samples")
    return np.concatenate([np.frombuffer(b, dtype=np.float32).reshape(n, k) for b, k in zip(reply[2], n_outs)],
                          axis=1)


def reference_outputs(hm, x: np.ndarray, model_name: str, firmware: Path, verify=(), keras_model=None,
                      timeout: float | None = None, warn=None) -> np.ndarray:
    """hls4ml's outputs for `x`, refused (CsimCrash) when its C++ crashes or two runs differ.
    With `keras_model`, outputs far from Keras's float predict() are reported through `warn` or,
    when a `verify` finding (nnaccel.limits) names a layer known to go wrong, refused."""
    timeout = timeout or default_timeout()
    lib = build_reference_library(hm)
    worker = isolate.Worker(lib, f"hls4ml's reference model of {model_name}", firmware)
    try:
        worker.ensure(timeout)
        y = hls4ml_predict(worker, hm, x, timeout)
        again = hls4ml_predict(worker, hm, x[::-1], timeout)[::-1]
    finally:
        worker.close()
    try:
        refuse_nondeterministic(f"hls4ml's reference model of {model_name}", y, again)
    except CsimCrash as e:
        raise CsimCrash(f"{e}{_verify_hint(verify)}") from None
    if keras_model is not None:
        problem = implausible(y, keras_model, x, hm)
        if problem:
            layer = first_departure(hm, keras_model, x, model_name, firmware, timeout)
            problem += f"; hls4ml's trace first departs from Keras at layer {layer}" if layer else ""
        if problem and verify:
            raise CsimCrash(f"{model_name}: {problem}{_verify_hint(verify)}")
        if problem:
            (warn or _stderr)(f"warning: {model_name}: {problem}")
    elif verify:
        raise CsimCrash(f"{model_name}: {_verify_hint(verify).lstrip('; ')}, and this model cannot be held "
                        f"against Keras here (tb_samples > 0 and a Keras 3 model are needed)")
    return y


@contextlib.contextmanager
def _keras_quiet():
    """Keras warns when a named Input is fed a bare array; the call is right, the warning noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        yield


def _stderr(text: str) -> None:
    print(f"nnaccel: {text}", file=sys.stderr)


def _verify_hint(verify) -> str:
    if not verify:
        return ""
    e, layer = verify[0]
    return f"; layer {layer}: {e['message']}; use {e['instead']}"


def implausible(y: np.ndarray, keras_model, x: np.ndarray, hm) -> str | None:
    """A sentence when hls4ml's outputs are far (see `far`) from Keras's float outputs; None when
    plausible."""
    with _keras_quiet():
        yk = np.asarray(keras_model(x.reshape((len(x), *keras_model.input_shape[1:])), training=False),
                        dtype=np.float64).reshape(len(x), -1)
    is_far, worst, n_sat = far(y, yk, hm.get_output_variables()[0])
    if not is_far:
        return None
    lo, hi = output_range(hm)
    s, k = divmod(int(np.nanargmax(np.abs(y - np.clip(yk, lo, hi)))), y.shape[1])
    return (f"hls4ml's C++ departs from Keras's float predict() by up to {worst:.4g} (sample {s}, output {k}: "
            f"{float(y[s, k]):.4g} vs {float(yk[s, k]):.4g}), far beyond what the precision allows ({n_sat} of "
            f"{yk.size} Keras outputs saturate the output type)")


def far(h: np.ndarray, k: np.ndarray, var) -> tuple[bool, float, int]:
    """(far?, largest deviation, saturated count) of hls4ml values `h` against Keras's `k` for the
    hls4ml variable `var`: Keras values beyond the type's range count as saturated and are clipped
    first; far means the rest deviates by more than 1 + the largest clipped Keras value."""
    lo, hi = type_range(var)
    clipped = np.clip(k.astype(np.float64), lo, hi)
    dev = np.abs(h.astype(np.float64) - clipped)
    worst = float(np.max(dev)) if dev.size else 0.0
    limit = 1.0 + float(np.max(np.abs(clipped))) if dev.size else 1.0
    return (not np.all(np.isfinite(dev))) or worst > limit, worst, int(np.sum(clipped != k))


def keras_layer_outputs(keras_model, x: np.ndarray, hls_names=()) -> dict:
    """Each Keras layer's float output, under the name hls4ml gives the same value: a layer with
    a fused activation that hls4ml split into NAME (linear) and NAME_<activation> (in `hls_names`)
    gives its output as NAME_<activation>."""
    import keras

    layers = [layer for layer in keras_model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(keras_model.inputs[0], [layer.output for layer in layers])
    with _keras_quiet():
        outs = probe(x.reshape((len(x), *keras_model.input_shape[1:])), training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    named = {}
    for layer, out in zip(layers, outs):
        act = getattr(layer, "activation", None)
        name = layer.name
        if act is not None and f"{layer.name}_{getattr(act, '__name__', '')}" in hls_names:
            name = f"{layer.name}_{act.__name__}"
        named[name] = np.asarray(out, dtype=np.float64).reshape(len(x), -1)
    return named


def first_departure(hm, keras_model, x: np.ndarray, model_name: str, firmware: Path, timeout: float) -> str | None:
    """The first layer (in hls4ml's order) whose traced output is far from Keras's, and the layers
    before it that could not be compared: hls4ml's
    ModelGraph.trace() protocol, run in a worker on a tracing build of the project, which is
    rewritten without tracing afterwards (the IP copies this project's firmware)."""
    layers = [layer for layer in hm.get_layers() if layer.get_attr("function_cpp", None)]
    hm.config.trace_output = True
    for layer in layers:
        layer.set_attr("trace", True)
    worker = None
    try:
        lib = build_reference_library(hm)
        sizes = {layer.name: int(np.prod(layer.get_output_variable().shape)) for layer in layers}
        n_slots = sum(len(layer.get_variables()) for layer in layers)
        xf = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
        n_out = hm.get_output_variables()[0].size()
        worker = isolate.Worker(lib, f"hls4ml's traced reference model of {model_name}", firmware)
        worker.ensure(timeout)
        reply = worker.request(("trace", hm.config.get_project_name() + "_float", len(x), xf.tobytes(),
                                xf.shape[1] * 4, n_out * 4, sizes, n_slots),
                               timeout * max(1.0, len(x) / 1000), f"hls4ml's trace of {len(x)} samples")
    except CsimCrash:
        return None  # the plain run worked; the report goes out without the layer
    finally:
        if worker is not None:
            worker.close()
        hm.config.trace_output = False
        for layer in layers:
            layer.set_attr("trace", False)
        with hls.quiet():
            hm.write()
    traced = {name: np.frombuffer(b, dtype=np.float32).reshape(len(x), -1) for name, b in reply[2].items()}
    keras_out = keras_layer_outputs(keras_model, x, {layer.name for layer in layers})
    unseen = []  # layers hls4ml does not trace (e.g. its io_parallel SimpleRNN): the departure may be there
    inputs = {v.name for v in hm.get_input_variables()}
    for layer in hm.get_layers():
        if layer.get_output_variable().name in inputs:
            continue
        h, k = traced.get(layer.name), keras_out.get(layer.name)
        if h is None or k is None or h.shape != k.shape:
            unseen.append(layer.name)
        elif far(h, k, layer.get_output_variable())[0]:
            return layer.name + (f" (not traced before it: {', '.join(unseen)})" if unseen else "")
    return None


def output_range(hm) -> tuple[float, float]:
    return type_range(hm.get_output_variables()[0])


def type_range(var) -> tuple[float, float]:
    try:
        t = parse_hls_type(var.type.precision.definition_cpp())
    except Exception:  # a float output, or a type we do not model: no saturation allowance
        return -np.inf, np.inf
    step = 2.0 ** -t.fractional
    if t.signed:
        return -(2.0 ** (t.integer - 1)), 2.0 ** (t.integer - 1) - step
    return 0.0, 2.0 ** t.integer - step
