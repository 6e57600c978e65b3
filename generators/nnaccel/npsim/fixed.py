"""ap_fixed arithmetic on int64 numpy lanes.

A value of type T is held as its integer mantissa: real = v * 2**-T.fractional. Products and sums
of such integers are exact (as in ap_fixed, whose operators return full-precision results), so the
only place where ap_fixed semantics matter is an assignment to a narrower type: `cast` below does
the quantisation (rounding modes) and the overflow handling (saturation modes) that
ap_fixed_base's converting constructor does. Every intermediate must fit in 62 bits:
`fits` is the check the engine runs before it accepts a layer."""
from __future__ import annotations

import numpy as np

from ..weights.quantise import HlsType, parse_hls_type, quantise, to_real

MAX_BITS = 62  # headroom below int64 for a carry and a sign


def limits(t: HlsType) -> tuple[int, int]:
    if t.signed:
        return -(1 << (t.width - 1)), (1 << (t.width - 1)) - 1
    return 0, (1 << t.width) - 1


def fits(bits: int) -> bool:
    return bits <= MAX_BITS


def _round_up(q, qb, r, neg, mode: str):
    """Whether rounding adds 1 to the floor q, given the first dropped bit qb, whether any dropped
    bit below it is set (r) and the sign of the value (neg): ap_fixed's quantisation modes."""
    if mode == "AP_TRN_ZERO":
        return neg & (qb | r)
    if mode == "AP_RND":
        return qb
    if mode == "AP_RND_ZERO":
        return qb & (r | neg)
    if mode == "AP_RND_MIN_INF":
        return qb & r
    if mode == "AP_RND_INF":
        return qb & (r | ~neg)
    if mode == "AP_RND_CONV":
        return qb & (r | ((q & 1) != 0))
    raise ValueError(mode)


def shift_round(v: np.ndarray, s: int, mode: str) -> np.ndarray:
    """v * 2**-s rounded to an integer the way `mode` rounds (s > 0), or v * 2**-s exactly (s <= 0).
    Each mode is one biased floor: floor((v + bias) / 2**s), the bias choosing where ties and
    negative values go (equal to _round_up's carry on the floor, in fewer passes over the data)."""
    v = np.asarray(v)
    T = v.dtype.type
    if s <= 0:
        return v << T(-s) if s else v
    sh, half = T(s), T(1 << (s - 1))
    if mode == "AP_TRN":
        return v >> sh
    if mode == "AP_RND":
        return (v + half) >> sh
    if mode == "AP_RND_MIN_INF":
        return (v + (half - T(1))) >> sh
    if mode == "AP_RND_CONV":
        return (v + (half - T(1)) + ((v >> sh) & T(1))) >> sh
    neg = (v < 0).astype(v.dtype)
    if mode == "AP_RND_ZERO":
        return (v + (half - T(1)) + neg) >> sh
    if mode == "AP_RND_INF":
        return (v + half - neg) >> sh
    if mode == "AP_TRN_ZERO":
        return (v + neg * T((1 << s) - 1)) >> sh
    raise ValueError(mode)


def saturate(q: np.ndarray, t: HlsType) -> np.ndarray:
    """The overflow handling of an assignment to t, for exact integers q on t's grid."""
    lo, hi = limits(t)
    if t.saturation == "AP_WRAP":
        return wrap(q, t)
    if t.saturation == "AP_SAT":
        return np.clip(q, lo, hi)
    if t.saturation == "AP_SAT_ZERO":
        return np.where((q > hi) | (q < lo), 0, q)
    # AP_SAT_SYM: symmetric range, so the most negative value itself becomes -max (as g++ does)
    return np.clip(q, lo + 1 if t.signed else lo, hi)


def cast(v: np.ndarray, frac: int, t: HlsType, keep_dtype: bool = False) -> np.ndarray:
    """`T y = x;` for x of any fixed type with `frac` fractional bits holding mantissas `v`.
    keep_dtype: compute in v's (narrower) integer type; the caller has checked that the value, its
    shifted and rounded forms and t all fit there."""
    v = np.asarray(v) if keep_dtype else np.asarray(v, dtype=np.int64)
    return saturate(shift_round(v, frac - t.fractional, t.rounding), t)


def wrap(q: np.ndarray, t: HlsType) -> np.ndarray:
    """Keep the low `width` bits (two's complement when signed)."""
    q = np.asarray(q)
    T = q.dtype.type if q.dtype.kind == "i" and t.width < 8 * q.dtype.itemsize else np.int64
    m = T((1 << t.width) - 1)
    q = q.astype(T, copy=False) & m
    if t.signed:
        sign = T(1 << (t.width - 1))
        q = (q ^ sign) - sign
    return q


def pattern(v: np.ndarray, t: HlsType) -> np.ndarray:
    """The raw W-bit pattern of mantissas of type t (what x(W-1, 0) reads)."""
    return np.asarray(v, dtype=np.int64) & np.int64((1 << t.width) - 1)


def from_pattern(bits, t: HlsType) -> np.ndarray:
    """Mantissas from raw W-bit patterns (sign-extended when signed)."""
    return wrap(np.asarray(bits, dtype=np.uint64).astype(np.int64), t)


def from_real(x: np.ndarray, t: HlsType) -> np.ndarray:
    """`T y = (double)x;`. Finite values whose scaled magnitude stays below 2**62 are rounded here in
    float64 (scaling by 2**F and the floor are exact there); the rest (inf, NaN, huge values, with
    the header's quirks) go through the quantiser that follows the header's double constructor."""
    x = np.asarray(x, dtype=np.float64)
    sc = np.ldexp(x, t.fractional)
    with np.errstate(invalid="ignore"):
        easy = np.abs(sc) < 2.0 ** MAX_BITS
    fl = np.floor(np.where(easy, sc, 0.0))
    q = fl.astype(np.int64)
    if t.rounding != "AP_TRN":
        rem = np.where(easy, sc, 0.0) - fl           # exact: the dropped fraction, in [0, 1)
        qb = rem >= 0.5
        q = q + _round_up(q, qb, rem != np.where(qb, 0.5, 0.0), x < 0, t.rounding)
    q = saturate(q, t)
    if not easy.all():
        hard = ~easy
        q[hard] = from_pattern(quantise(x[hard], t).bits, t)
    return q


def real(v: np.ndarray, t: HlsType) -> np.ndarray:
    return to_real(pattern(v, t).astype(np.uint64), t).reshape(np.shape(v))


def typ(text) -> HlsType:
    return parse_hls_type(text)
