"""HGQ2 models (hls4ml's Keras 3 quantisation-aware training).

Loading: HGQ2's layers register themselves with Keras when `hgq` is imported, so it is
imported (when installed) before any `.keras` file is loaded.

Run-time weights: hls4ml's bit-exact flow (hls4ml/model/optimizer/passes/bit_exact.py) sizes
every weight type from the trained values (minimal_kif) and every accumulator, result and
quantiser type from interval arithmetic over those values, so a retrained weight set need not
fit. Here the same flow sees, for each HGQ2 QDense, the interval its quantisers allow (the
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
        raise ModelError(f"model: {where} has trainable bit widths with no upper bound on {what}; run-time weights need "
                         f"a MinMax constraint on it (or trainable=False) in that QuantizerConfig, {REFUSE_HINT}")
    return c.max_value


def _constraint_min(c) -> float:
    return c.min_value


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
    i_max = _constraint_max(inner.i_constraint, "i", where)
    b_max = _constraint_max(inner.b_constraint, "b", where)
    return Kif(k, int(i_max), int(b_max - _constraint_min(inner.i_constraint)))


def weight_bounds(model) -> dict[str, dict[str, Kif]]:
    """Per QDense layer name: the Kif of its kernel (and bias). Refuses (one line) what a run-time
    weight set could not be guaranteed to fit."""
    from hgq.layers import QDense
    from hgq.quantizer import Quantizer
    from hgq.quantizer.internal import TrainableQuantizerBase

    bounds: dict[str, dict[str, Kif]] = {}
    weight_quantisers = set()
    for layer in _all_layers(model):
        if isinstance(layer, (Quantizer, TrainableQuantizerBase)):
            continue
        if type(layer) is not QDense:
            # its own variables only: the quantisers' bit widths live in their own sub-layers
            if layer._trainable_variables or layer._non_trainable_variables:
                raise ModelError(f"model: layer {layer.name} ({type(layer).__name__}) has trained weights; run-time "
                                 f"weights of an HGQ2 model support QDense layers only, {REFUSE_HINT}")
            continue
        bounds[layer.name] = {"weight": quantiser_kif(layer.kq, f"layer {layer.name}'s kernel quantiser")}
        weight_quantisers.add(id(layer.kq))
        if layer.use_bias:
            bounds[layer.name]["bias"] = quantiser_kif(layer.bq, f"layer {layer.name}'s bias quantiser")
            weight_quantisers.add(id(layer.bq))
    for q in (layer for layer in _all_layers(model) if isinstance(layer, Quantizer)):
        # activations are quantised with these trained widths: a second training run with trainable data
        # quantisers would compute differently on the same IP
        if id(q) not in weight_quantisers and q.config["trainable"]:
            raise ModelError(f"model: HGQ2 quantiser {q.name} quantises activations with trained bit widths; run-time "
                             f"weights need trainable=False in its QuantizerConfig (place='datalane'), {REFUSE_HINT}")
    return bounds


@contextlib.contextmanager
def bounded_bit_exact(bounds: dict[str, dict[str, Kif]]):
    """While converting: hls4ml's bit-exact flow computes each bounded Dense layer's output
    interval from its quantisers' intervals, not from the trained kernel and bias, and gives
    the kernel and bias the quantisers' widths (before hls4ml turns types into C++ types)."""
    from hls4ml.model.layers import Dense
    from hls4ml.model.optimizer.passes import bit_exact
    from hls4ml.utils.qinterval import QIntervalArray

    original_produce = bit_exact._produce_kif.dispatch(Dense)
    original_register = bit_exact.default_register_precision

    def interval(kif: Kif, shape) -> QIntervalArray:
        return QIntervalArray.from_kif(*(np.full(shape, v, dtype=np.int16) for v in (kif.k, kif.i, kif.f)))

    def produce(layer):
        b = bounds.get(layer.name)
        if b is None:
            return original_produce(layer)
        qint_out = (QIntervalArray.from_kif(*bit_exact.get_input_kifs(layer)[0])
                    @ interval(b["weight"], layer.attributes["weight"].data.shape))
        if "bias" in b:
            qint_out = qint_out + interval(b["bias"], qint_out.shape)
        k, i, f = qint_out.to_kif()
        return k.astype(np.int16), i, f

    def register(layer):
        # module-global lookup: register_precision and its per-class variants all call this name
        result = original_register(layer)
        for attr, kif in bounds.get(layer.name, {}).items() if isinstance(layer, Dense) else ():
            var = layer.attributes.get(attr)
            if var is None:
                continue
            t = bit_exact.to_hls4ml_fixed(kif.k, kif.i, kif.f, f"{layer.name}_{attr}_t")
            layer.attributes[f"{attr}_t"] = t
            var.type = t
            var.update_precision(t.precision)
            layer.model.config.layer_name_precision[f"{layer.name}_{attr}"] = str(t.precision)
        return result

    bit_exact._produce_kif.register(Dense, produce)
    bit_exact.default_register_precision = register
    try:
        yield
    finally:
        bit_exact._produce_kif.register(Dense, original_produce)
        bit_exact.default_register_precision = original_register


def check_weight_types(hm, bounds: dict[str, dict[str, Kif]]) -> None:
    """Every weight variable must have been sized by a quantiser (none left value-derived)."""
    expected = {f"{layer}_{attr}_t": kif for layer, b in bounds.items() for attr, kif in b.items()}
    for v in hm.get_weight_variables():
        kif, p = expected.get(v.type.name), v.type.precision
        if kif is None or (p.width, p.integer, p.signed) != (kif.k + kif.i + kif.f, kif.k + kif.i, bool(kif.k)):
            raise ModelError(f"model: hls4ml weight variable {v.name} of this HGQ2 model has no HGQ2 QDense quantiser "
                             f"to size it; run-time weights of an HGQ2 model support QDense layers only, {REFUSE_HINT}")
