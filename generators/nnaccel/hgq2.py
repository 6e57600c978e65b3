"""HGQ2 models (hls4ml's Keras 3 quantisation-aware training).

Loading: HGQ2's layers register themselves with Keras when `hgq` is imported, so it is
imported (when installed) before any `.keras` file is loaded.

Run-time weights: hls4ml's bit-exact flow (hls4ml/model/optimizer/passes/bit_exact.py) sizes
every weight type from the trained values (minimal_kif) and every accumulator, result and
quantiser type from interval arithmetic over those values, so a retrained weight set need not
fit. Here the same flow sees, for each HGQ2 QDense/QConv, the interval its quantisers allow (the
configured bit widths; for a trainable quantiser the upper bounds of its MinMax constraints)
instead of the values, and the weight types are set to those widths: any weight set trained
with the same quantiser configuration then fits the IP, and the arithmetic stays bit-exact.
"""
from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass

import numpy as np

from .errors import ModelError

REFUSE_HINT = "or build with weights: embedded"


def import_hgq() -> bool:
    """Import hgq if it is installed (its layers deserialise only after that)."""
    if importlib.util.find_spec("hgq") is None:
        return False
    import hgq  # noqa: F401  (registers HGQ2's Keras objects)

    return True


def is_hgq_model(model) -> bool:
    return any(type(layer).__module__.startswith("hgq.") for layer in _all_layers(model))


def _all_layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


@dataclass(frozen=True)
class Kif:
    """keep_negative, integer bits (excluding sign), fractional bits: hls4ml's bit-exact notation."""
    k: int
    i: int
    f: int


def _constraint_max(c, what: str, where: str) -> float:
    from hgq.constraints import MinMax

    if not isinstance(c, MinMax) or not np.isfinite(c.max_value):
        raise ModelError(f"model: {where} has trainable bit widths with no upper bound on {what}; run-time weights "
                         f"need a MinMax constraint on it (or trainable=False) in that QuantizerConfig, {REFUSE_HINT}")
    return c.max_value


def quantiser_kif(q, where: str) -> Kif:
    """The widest values quantiser q can produce under its configuration."""
    from hgq.quantizer.internal import FixedPointQuantizerKBI, FixedPointQuantizerKIF

    inner = q.quantizer
    if not isinstance(inner, (FixedPointQuantizerKBI, FixedPointQuantizerKIF)):
        raise ModelError(f"model: {where} is a {type(inner).__name__}; run-time weights support HGQ2 fixed-point "
                         f"quantisers only, {REFUSE_HINT}")
    k = int(np.max(np.asarray(inner.k)))
    if not q.config["trainable"]:
        i, f = (int(np.max(np.asarray(v))) for v in (inner.i, inner.f))
        return Kif(k, i, f)
    if isinstance(inner, FixedPointQuantizerKIF):
        return Kif(k, int(_constraint_max(inner.i_constraint, "i", where)),
                   int(_constraint_max(inner.f_constraint, "f", where)))
    # kbi: f = b - i, widest with b at its maximum and i at its minimum
    i_max = _constraint_max(inner.i_constraint, "i", where)
    b_max = _constraint_max(inner.b_constraint, "b", where)
    return Kif(k, int(i_max), int(b_max - inner.i_constraint.min_value))


# HGQ2 layer classes whose kernel and bias hls4ml's bit-exact flow can size from intervals (its
# produce_kif for Dense and Conv1D/2D takes interval kernels): the hls4ml layer classes they become
SUPPORTED = {"QDense": "Dense", "QConv1D": "Conv1D", "QConv2D": "Conv2D"}
SUPPORTED_TEXT = "QDense, QConv1D and QConv2D"


def weight_bounds(model) -> dict[str, dict[str, Kif]]:
    """Per supported layer name: the Kif of its kernel and bias. Refuses (one line) what a
    run-time weight set could not be guaranteed to fit."""
    from hgq.quantizer import Quantizer
    from hgq.quantizer.internal import TrainableQuantizerBase

    bounds: dict[str, dict[str, Kif]] = {}
    weight_quantisers = set()
    for layer in _all_layers(model):
        if isinstance(layer, (Quantizer, TrainableQuantizerBase)):
            continue
        if type(layer).__name__ not in SUPPORTED or not type(layer).__module__.startswith("hgq."):
            # its own variables only: the quantisers' bit widths live in their own sub-layers
            if layer._trainable_variables or layer._non_trainable_variables:
                raise ModelError(f"model: layer {layer.name} ({type(layer).__name__}) has trained weights; run-time "
                                 f"weights of an HGQ2 model support {SUPPORTED_TEXT} layers only, {REFUSE_HINT}")
            continue
        bounds[layer.name] = {"weight": quantiser_kif(layer.kq, f"layer {layer.name}'s kernel quantiser")}
        weight_quantisers.add(id(layer.kq))
        if layer.use_bias:
            bounds[layer.name]["bias"] = quantiser_kif(layer.bq, f"layer {layer.name}'s bias quantiser")
            weight_quantisers.add(id(layer.bq))
        else:  # hls4ml still gives the layer a bias: zeros in every weight set
            bounds[layer.name]["bias"] = Kif(0, 0, 0)
    for q in (layer for layer in _all_layers(model) if isinstance(layer, Quantizer)):
        # activations are quantised with these trained widths: a second training run with trainable data
        # quantisers would compute differently on the same IP
        if id(q) not in weight_quantisers and q.config["trainable"]:
            raise ModelError(f"model: HGQ2 quantiser {q.name} quantises activations with trained bit widths; run-time "
                             f"weights need trainable=False in its QuantizerConfig (place='datalane'), {REFUSE_HINT}")
    return bounds


@contextlib.contextmanager
def bounded_bit_exact(bounds: dict[str, dict[str, Kif]]):
    """While converting: hls4ml's bit-exact flow computes each bounded layer's output interval
    with its quantisers' intervals in place of the trained kernel and bias, and gives the kernel
    and bias the quantisers' widths (before hls4ml turns types into C++ types)."""
    from hls4ml.model import layers
    from hls4ml.model.optimizer.passes import bit_exact
    from hls4ml.utils.qinterval import QIntervalArray

    classes = tuple(getattr(layers, name) for name in sorted(set(SUPPORTED.values())))
    original_produce = {cls: bit_exact._produce_kif.dispatch(cls) for cls in classes}
    original_register = bit_exact.default_register_precision

    class Interval(QIntervalArray):
        def reshape(self, *shape):  # hls4ml's Conv passes numpy-style varargs
            return super().reshape(shape[0] if len(shape) == 1 else shape)

    def bounded(layer) -> dict[str, Kif]:
        return bounds.get(layer.name, {}) if isinstance(layer, classes) else {}

    def produce(layer):
        original = original_produce[next(c for c in classes if isinstance(layer, c))]
        saved = {}
        for attr, kif in bounded(layer).items():
            var = layer.attributes.get(attr)
            if var is not None:
                saved[attr] = var.data
                var.data = Interval.from_kif(*(np.full(np.shape(var.data), v, dtype=np.int16)
                                                     for v in (kif.k, kif.i, kif.f)))
        try:
            return original(layer)
        finally:
            for attr, data in saved.items():
                layer.attributes[attr].data = data

    def register(layer):
        # module-global lookup: register_precision and its per-class variants all call this name
        result = original_register(layer)
        for attr, kif in bounded(layer).items():
            var = layer.attributes.get(attr)
            if var is None:
                continue
            t = bit_exact.to_hls4ml_fixed(kif.k, kif.i, kif.f, f"{layer.name}_{attr}_t")
            layer.attributes[f"{attr}_t"] = t
            var.type = t
            var.update_precision(t.precision)
            layer.model.config.layer_name_precision[f"{layer.name}_{attr}"] = str(t.precision)
        return result

    for cls in classes:
        bit_exact._produce_kif.register(cls, produce)
    bit_exact.default_register_precision = register
    try:
        yield
    finally:
        for cls, fn in original_produce.items():
            bit_exact._produce_kif.register(cls, fn)
        bit_exact.default_register_precision = original_register


def check_weight_types(hm, bounds: dict[str, dict[str, Kif]]) -> None:
    """Every weight variable must have been sized by a quantiser (none left value-derived)."""
    from hls4ml.model.optimizer.passes import bit_exact

    expected = {f"{layer}_{attr}_t": kif for layer, b in bounds.items() for attr, kif in b.items()}
    for v in hm.get_weight_variables():
        kif, p = expected.get(v.type.name), v.type.precision
        want = None if kif is None else bit_exact.to_hls4ml_fixed(kif.k, kif.i, kif.f, v.type.name).precision
        if want is None or (p.width, p.integer, p.signed) != (want.width, want.integer, want.signed):
            raise ModelError(f"model: hls4ml weight variable {v.name} of this HGQ2 model is not sized by an HGQ2 "
                             f"quantiser; run-time weights of an HGQ2 model support {SUPPORTED_TEXT} layers only, "
                             f"{REFUSE_HINT}")
