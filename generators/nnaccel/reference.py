"""`nnaccel ip`'s reference step: hls4ml's predict() outputs for the test vectors, computed the
way hls4ml computes them (its g++ build of the project, its `myproject_float` called once per
sample) but in a worker process (nnaccel.isolate), twice, and held against Keras's float predict."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import hls, isolate
from .check import refuse_nondeterministic
from .errors import CsimCrash, ModelError
from .weights.quantise import parse_hls_type

TIMEOUT = 60.0  # seconds per 1000 samples, as for the C-simulation


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
    """hls4ml's ModelGraph._predict for one float32 input: `<project>_float(in, out)` per sample."""
    n = len(x)
    n_out = hm.get_output_variables()[0].size()
    x = np.ascontiguousarray(x.reshape(n, -1), dtype=np.float32)
    name = hm.config.get_project_name() + "_float"
    reply = worker.request(("loop", name, n, [("in", x.tobytes(), x.shape[1] * 4), ("out", n_out * 4)]),
                           timeout * max(1.0, n / 1000), f"hls4ml's predict() of {n} samples")
    return np.frombuffer(reply[2][0], dtype=np.float32).reshape(n, n_out).copy()


def reference_outputs(hm, x: np.ndarray, model_name: str, firmware: Path, verify=(), keras_model=None,
                      timeout: float = TIMEOUT, warn=None) -> np.ndarray:
    """hls4ml's outputs for `x`, refused (CsimCrash) when its C++ crashes or two runs differ.
    With `keras_model`, outputs far from Keras's float predict() are reported through `warn` or,
    when a `verify` finding (nnaccel.limits) names a layer known to go wrong, refused."""
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
        if problem and verify:
            raise CsimCrash(f"{model_name}: {problem}{_verify_hint(verify)}")
        if problem:
            (warn or _stderr)(f"warning: {model_name}: {problem}")
    elif verify:
        raise CsimCrash(f"{model_name}: {_verify_hint(verify).lstrip('; ')}, and this model cannot be held "
                        f"against Keras here (tb_samples > 0 and a Keras 3 model are needed)")
    return y


def _stderr(text: str) -> None:
    print(f"nnaccel: {text}", file=sys.stderr)


def _verify_hint(verify) -> str:
    if not verify:
        return ""
    e, layer = verify[0]
    return f"; layer {layer}: {e['message']}; use {e['instead']}"


def implausible(y: np.ndarray, keras_model, x: np.ndarray, hm) -> str | None:
    """A sentence when hls4ml's outputs are far outside what its precision allows: the deviation
    from Keras's float outputs, beyond what saturation to the output type explains, exceeds the
    Keras outputs' own magnitude plus one. None when plausible."""
    yk = np.asarray(keras_model(x.reshape((len(x), *keras_model.input_shape[1:])), training=False),
                    dtype=np.float64).reshape(len(x), -1)
    lo, hi = output_range(hm)
    clipped = np.clip(yk, lo, hi)
    n_sat = int(np.sum(clipped != yk))
    dev = np.abs(y.astype(np.float64) - clipped)
    worst = int(np.argmax(dev))
    limit = 1.0 + float(np.max(np.abs(clipped)))
    if not np.all(np.isfinite(dev)) or dev.flat[worst] > limit:
        s, k = divmod(worst, y.shape[1])
        return (f"hls4ml's C++ departs from Keras's float predict() by up to {dev.flat[worst]:.4g} (sample {s}, "
                f"output {k}: {float(y[s, k]):.4g} vs {float(yk[s, k]):.4g}), far beyond what the precision allows "
                f"({n_sat} of {yk.size} Keras outputs saturate the output type)")
    return None


def output_range(hm) -> tuple[float, float]:
    try:
        t = parse_hls_type(hm.get_output_variables()[0].type.precision.definition_cpp())
    except Exception:  # a float output, or a type we do not model: no saturation allowance
        return -np.inf, np.inf
    step = 2.0 ** -t.fractional
    if t.signed:
        return -(2.0 ** (t.integer - 1)), 2.0 ** (t.integer - 1) - step
    return 0.0, 2.0 ** t.integer - step
