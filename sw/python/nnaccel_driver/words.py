"""Float <-> raw data words, as the accelerator's top converts them: float32 words are IEEE
floats; fixed-point words follow ap_fixed's conversion from double (rounding and overflow
modes of the word type), little-endian, `bytes` per value."""
from __future__ import annotations

import numpy as np

from .description import Word


def _round(s: np.ndarray, mode: str) -> np.ndarray:
    f = np.floor(s)
    d = s - f
    up = {
        "AP_TRN": np.zeros_like(d, dtype=bool),
        "AP_TRN_ZERO": (s < 0) & (d > 0),
        "AP_RND": d >= 0.5,
        "AP_RND_ZERO": (d > 0.5) | ((d == 0.5) & (s < 0)),
        "AP_RND_MIN_INF": d > 0.5,
        "AP_RND_INF": (d > 0.5) | ((d == 0.5) & (s > 0)),
        "AP_RND_CONV": (d > 0.5) | ((d == 0.5) & (np.mod(f, 2.0) != 0)),
    }[mode]
    return f + up


def encode(x, w: Word) -> np.ndarray:
    """Raw words (numpy array of dtype w.dtype, same shape as x)."""
    x = np.asarray(x, dtype=np.float64)
    if w.is_float:
        return x.astype("<f4")
    span = 2.0 ** w.bits
    hi = 2.0 ** (w.bits - 1) - 1 if w.signed else span - 1
    lo = -(2.0 ** (w.bits - 1)) if w.signed else 0.0
    # ap_fixed's conversion from double reads inf and NaN as +-1.f * 2^1024 (sign from the sign
    # bit), as nnaccel's quantiser does: saturating modes clamp, AP_WRAP keeps no bit of it
    x = np.where(np.isnan(x), np.copysign(np.inf, x), x)
    with np.errstate(invalid="ignore"):  # inf - floor(inf) in _round: NaN, never rounds up
        q = _round(np.ldexp(x, w.bits - w.integer), w.rounding)
    over = (q > hi) | (q < lo)
    if w.saturation == "AP_WRAP":
        with np.errstate(invalid="ignore"):
            q = np.where(np.isinf(q), 0.0, np.where(over, np.mod(q, span), q))
    elif w.saturation == "AP_SAT_ZERO":
        q = np.where(over, 0.0, q)
    else:
        low = -hi if (w.saturation == "AP_SAT_SYM" and w.signed) else lo
        q = np.clip(q, low, hi)
    q = np.where(q < 0, q + span, q)
    return q.astype(np.uint64).astype(w.dtype)


def decode(raw, w: Word) -> np.ndarray:
    """Float32 values of raw words."""
    raw = np.asarray(raw)
    if w.is_float:
        return raw.view("<f4").astype(np.float32) if raw.dtype != np.float32 else raw.astype(np.float32)
    u = raw.astype(np.uint64) & np.uint64((1 << w.bits) - 1)
    v = u.astype(np.float64)
    if w.signed:
        v = np.where(u >> np.uint64(w.bits - 1) & np.uint64(1), v - 2.0 ** w.bits, v)
    return np.ldexp(v, w.integer - w.bits).astype(np.float32)
