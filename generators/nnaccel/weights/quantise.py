"""Exact fixed-point quantisation: numpy reproduction of `T x = (double)v;`.

The result must match, bit for bit, what the Xilinx ap_types headers in the
hls4ml wheel compute in C-simulation (`ap_fixed_base(double)` in
ap_fixed_base.h, `ap_int_base(double)` in ap_int_base.h), so a weight image
built here loads the same numbers hls4ml's own C++ initialisers would hold.
The code below follows those constructors step by step, including their
quirks (denormals read as 1.f * 2^-1023, inf/NaN as +-1.f * 2^1024, ap_int
of a negative value with |v| < 0.5 giving 1: see `_int_bits`), one numpy
lane per value.  Every name (man, F2, qb, r, carry, pos1, lD, Range1/2, ...)
is the header's, so the two can be read side by side.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import NnaccelError

ROUNDING_MODES = ("AP_TRN", "AP_TRN_ZERO", "AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV")
SATURATION_MODES = ("AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM")
MAX_WIDTH = 64

ACCEPTED = ("ap_fixed<W,I>, ap_fixed<W,I,Q>, ap_fixed<W,I,Q,O>, ap_fixed<W,I,Q,O,N>, the same for ap_ufixed, "
            "ap_int<W>, ap_uint<W> (W 1..64; Q one of " + ", ".join(ROUNDING_MODES)
            + "; O one of " + ", ".join(SATURATION_MODES) + ")")


@dataclass(frozen=True)
class HlsType:
    kind: str            # 'fixed' | 'int'
    signed: bool
    width: int
    integer: int         # integer bits including the sign bit; == width for ints
    rounding: str = "AP_TRN"
    saturation: str = "AP_WRAP"
    sat_bits: int = 0

    @property
    def fractional(self) -> int:
        return self.width - self.integer

    def cpp(self) -> str:
        """The spelling hls4ml's APTypeConverter writes (defaults left out)."""
        u = "" if self.signed else "u"
        if self.kind == "int":
            return f"ap_{u}int<{self.width}>"
        if (self.rounding, self.saturation, self.sat_bits) == ("AP_TRN", "AP_WRAP", 0):
            return f"ap_{u}fixed<{self.width},{self.integer}>"
        return f"ap_{u}fixed<{self.width},{self.integer},{self.rounding},{self.saturation},{self.sat_bits}>"

    def __str__(self) -> str:
        return self.cpp()


@dataclass
class Quantised:
    bits: np.ndarray      # uint64 raw patterns, `width` bits (two's complement when signed)
    n_saturated: int      # values that hit AP_SAT / AP_SAT_ZERO / AP_SAT_SYM
    n_wrapped: int        # values that overflowed and wrapped (AP_WRAP, ap_int)


_INT_RE = re.compile(r"^ap_(u?)int<(\d+)>$")
_FIXED_RE = re.compile(r"^ap_(u?)fixed<([^<>]*)>$")


def _bad(text) -> NnaccelError:
    return NnaccelError(f"unsupported HLS type {text!r}: accepted forms are {ACCEPTED}")


def _make(text, kind, signed, width, integer, rounding="AP_TRN", saturation="AP_WRAP", sat_bits=0,
          max_width=MAX_WIDTH) -> HlsType:
    if not 1 <= width <= max_width:
        what = "weight types" if max_width == MAX_WIDTH else "types"
        raise NnaccelError(f"HLS type {text!r} is {width} bits wide; {what} must be 1..{max_width} bits")
    if rounding not in ROUNDING_MODES or saturation not in SATURATION_MODES:
        raise _bad(text)
    if not 0 <= sat_bits <= width:
        raise NnaccelError(f"HLS type {text!r}: saturation bits N={sat_bits} must be 0..{width}")
    return HlsType(kind, signed, width, integer, rounding, saturation, sat_bits)


def _mode_name(mode) -> str:
    # hls4ml's RoundingMode/SaturationMode print as 'RND_CONV', 'SAT', ...
    name = str(mode).strip().upper()
    return name if name.startswith("AP_") else "AP_" + name


def _from_precision(p) -> HlsType:
    """hls4ml precision objects, told apart by class name so hls4ml need not be imported."""
    names = {c.__name__ for c in type(p).__mro__}
    if "FixedPrecisionType" in names:
        return _make(str(p), "fixed", bool(p.signed), int(p.width), int(p.integer),
                     _mode_name(p.rounding_mode), _mode_name(p.saturation_mode), int(p.saturation_bits or 0))
    if names & {"IntegerPrecisionType", "XnorPrecisionType", "ExponentPrecisionType"}:
        # hls4ml's AP backend spells all three ap_(u)int<width>
        return _make(str(p), "int", bool(p.signed), int(p.width), int(p.width))
    raise _bad(str(p))


def parse_hls_type(text, max_width: int = MAX_WIDTH) -> HlsType:
    """A type string as hls4ml's APTypeConverter writes it; max_width above 64 only to validate a
    configuration (quantise() handles at most MAX_WIDTH bits)."""
    if isinstance(text, HlsType):
        return text
    if not isinstance(text, str):
        return _from_precision(text)
    s = re.sub(r"\s+", "", text)
    m = _INT_RE.match(s)
    if m:
        w = int(m.group(2))
        return _make(text, "int", m.group(1) == "", w, w, max_width=max_width)
    m = _FIXED_RE.match(s)
    if not m:
        raise _bad(text)
    args = m.group(2).split(",")
    if not 2 <= len(args) <= 5:
        raise _bad(text)
    try:
        w, i = int(args[0]), int(args[1])
        n = int(args[4]) if len(args) == 5 else 0
    except ValueError:
        raise _bad(text) from None
    q = args[2] if len(args) >= 3 else "AP_TRN"
    o = args[3] if len(args) >= 4 else "AP_WRAP"
    return _make(text, "fixed", m.group(1) == "", w, i, q, o, n, max_width=max_width)


# ---------------------------------------------------------------------------
# bit helpers on uint64 / int64 lanes

_U1 = np.uint64(1)


def _mask(n: int) -> np.uint64:
    return np.uint64((1 << n) - 1)


def _bit(x: np.ndarray, pos) -> np.ndarray:
    """Bit `pos` (0..63, scalar or per lane) of uint64 lanes, as bool."""
    return ((x >> np.asarray(pos, dtype=np.uint64)) & _U1).astype(bool)


def _split_double(values):
    v = np.ascontiguousarray(np.asarray(values, dtype=np.float64)).reshape(-1)
    raw = v.view(np.uint64)
    isneg = (raw >> np.uint64(63)).astype(bool)
    is_zero = (raw & _mask(63)) == 0
    exp = ((raw >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    # leading 1 set unconditionally, as the headers do (denormals, inf, NaN too)
    mag = ((raw & _mask(52)) | (_U1 << np.uint64(52))).astype(np.int64)
    return isneg, is_zero, exp, mag


def quantise(values, t) -> Quantised:
    t = parse_hls_type(t)
    if t.kind == "int":
        return _int_bits(values, t)
    return _fixed_bits(values, t)


def _int_bits(values, t: HlsType) -> Quantised:
    """ap_int_base(double): |v| truncated (man >> sh), then negated; modulo 2^W.
    Quirk kept: for a negative v with sh_amt >= 54 (|v| < 0.5) the header sets
    V = -1 *before* negating, so e.g. ap_int<8>(-0.3) == 1."""
    W = t.width
    mW = _mask(W)
    isneg, is_zero, exp, man = _split_double(values)
    sh = 52 - exp
    V = np.zeros(man.shape, dtype=np.uint64)
    right = (sh >= 0) & (sh < 54)
    V = np.where(right, (man >> np.clip(sh, 0, 63)).astype(np.uint64), V)
    V = np.where((sh >= 54) & isneg, mW, V)
    lsh = -sh
    left = (lsh > 0) & (lsh < W)
    V = np.where(left, man.astype(np.uint64) << np.clip(lsh, 0, 63).astype(np.uint64), V)
    V = np.where(is_zero, np.uint64(0), V) & mW
    V = np.where(isneg & ~is_zero, (np.uint64(0) - V) & mW, V)
    # wrapped: the C value trunc(v) does not fit (or is not a number)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    with np.errstate(invalid="ignore"):
        tv = np.trunc(v)
        lo, end = (-(2.0 ** (W - 1)), 2.0 ** (W - 1)) if t.signed else (0.0, 2.0 ** W)  # exact in float64
        wrapped = ~np.isfinite(v) | (tv < lo) | (tv >= end)
    return Quantised(V, 0, int(np.count_nonzero(wrapped)))


def _fixed_bits(values, t: HlsType) -> Quantised:
    W, I, S, F = t.width, t.integer, t.signed, t.fractional
    Q, O, N = t.rounding, t.saturation, t.sat_bits
    mW = _mask(W)
    top = W - 1
    isneg, is_zero, exp, mag = _split_double(values)
    man = np.where(isneg, -mag, mag)                    # ap_int_base<54, true>
    man54 = man.astype(np.uint64) & _mask(54)           # its raw 54 bits
    F2 = 52 - exp                                        # _AP_W2 = 54, _AP_I2 = exp + 2
    I2 = exp + 2
    d = F2 - F                                           # F2 - _AP_F

    # --- value before quantisation / overflow handling
    V = man.astype(np.uint64) & mW                       # F2 == _AP_F
    right = d > 0
    sh_r = np.clip(d, 0, 63)
    V = np.where(right & (d < 54), (man >> sh_r).astype(np.uint64) & mW, V)
    V = np.where(right & (d >= 54), np.where(isneg, mW, np.uint64(0)), V)
    left = d < 0
    sh_l = np.clip(-d, 0, 63).astype(np.uint64)
    V = np.where(left & (-d < W), ((man.astype(np.uint64) & mW) << sh_l) & mW, V)
    V = np.where(left & (-d >= W), np.uint64(0), V)

    # --- quantisation (only when bits are dropped and Q is not plain truncation)
    carry = np.zeros(V.shape, dtype=bool)
    quan_inc = right & (Q != "AP_TRN")                   # _AP_S2 is true: TRN_ZERO counts
    if Q != "AP_TRN":
        qb = np.where(d > 54, isneg, _bit(man54, np.clip(d - 1, 0, 53)))
        k = np.clip(d - 1, 0, 54).astype(np.uint64)      # bits 0 .. min(d-2, 53)
        r = (d > 1) & ((man54 & ((_U1 << k) - _U1)) != 0)
        s = isneg
        if Q == "AP_RND_ZERO":
            qb = qb & (s | r)
        elif Q == "AP_RND_MIN_INF":
            qb = qb & r
        elif Q == "AP_RND_INF":
            qb = qb & (~s | r)
        elif Q == "AP_RND_CONV":
            qb = qb & (_bit(V, 0) | r)
        elif Q == "AP_TRN_ZERO":
            qb = s & (qb | r)
        qb = qb & right
        before = _bit(V, top)
        V = np.where(qb, (V + _U1) & mW, V)
        carry = right & before & ~_bit(V, top)

    # --- overflow detection: the header's condition and flags, computed for every
    # mode so that wraps can be counted too (the header skips them for AP_WRAP, N=0)
    enter = np.ones(V.shape, dtype=bool) if not S else (I - 1 < I2 - 1 + (quan_inc | (O == "AP_SAT_SYM")))
    pos1 = d + W
    pos2 = pos1 + 1
    newsignbit = _bit(V, top)
    lD = (pos1 >= 0) & (pos1 < 54) & _bit(man54, np.clip(pos1, 0, 53))
    p2 = np.clip(pos2, 0, 53).astype(np.uint64)
    range2 = man54 >> p2
    r2_ones = np.where((pos2 >= 0) & (pos2 < 54), range2 == (_mask(54) >> p2), pos2 >= 54)
    r2_zero = range2 == 0
    mid = (pos1 >= 0) & (pos2 < 54)
    r1_ones = np.where(mid, r2_ones & lD, np.where(pos2 == 54, lD, np.where(pos1 < 0, False, True)))
    r1_zeros = np.where(mid, r2_zero & ~lD, np.where(pos2 == 54, ~lD, np.where(pos1 < 0, man54 == 0, True)))
    inside = pos1 < 54
    deleted_zeros = np.where(inside, np.where(carry, r1_ones, r1_zeros), True)
    deleted_ones = np.where(inside, np.where(carry, r2_ones & ((pos1 < 0) | ~lD), r1_ones), True)
    neg_src = np.where(inside, isneg & ~(carry & r1_ones), isneg & newsignbit)
    neg_trg = newsignbit if S else np.zeros(V.shape, dtype=bool)
    overflow = (neg_trg | ~deleted_zeros) & ~isneg
    underflow = (~neg_trg | ~deleted_ones) & neg_src
    if O == "AP_SAT_SYM" and S:
        low_zero = (V & _mask(W - 1)) == 0 if W > 1 else np.ones(V.shape, dtype=bool)
        underflow = underflow | (neg_src & low_zero)
    hit = enter & (overflow | underflow) & ~is_zero
    overflow, underflow = overflow & hit, underflow & hit

    # --- overflow_adjust
    if O == "AP_WRAP":
        if N > 0:
            if S:
                V = np.where(hit, (V & ~(_U1 << np.uint64(top))) | (neg_src.astype(np.uint64) << np.uint64(top)), V)
                if N > 1:
                    field = _mask(N - 1) << np.uint64(W - N)          # bits W-N .. W-2
                    V = np.where(hit, np.where(neg_src, V & ~field, V | field), V)
            else:
                field = _mask(N) << np.uint64(W - N)                  # bits W-N .. W-1
                V = np.where(hit, V | field, V)
    elif O == "AP_SAT_ZERO":
        V = np.where(hit, np.uint64(0), V)
    else:  # AP_SAT, AP_SAT_SYM
        if S:
            vmin = (_U1 << np.uint64(top)) | (_U1 if O == "AP_SAT_SYM" else np.uint64(0))
            V = np.where(overflow, _mask(W - 1), np.where(underflow, vmin, V))
        else:
            V = np.where(overflow, mW, np.where(underflow, np.uint64(0), V))
    V = np.where(is_zero, np.uint64(0), V).astype(np.uint64)
    n_hit = int(np.count_nonzero(hit))
    if O == "AP_WRAP":
        return Quantised(V, 0, n_hit)
    return Quantised(V, n_hit, 0)


def to_real(bits, t) -> np.ndarray:
    """The real value of raw patterns: exact up to 53 bits; wider ones round to nearest even, as the
    header's to_double() does."""
    t = parse_hls_type(t)
    b = np.asarray(bits, dtype=np.uint64).reshape(-1) & _mask(t.width)
    if t.signed:
        # sign-extend: move the sign bit to bit 63, then shift back arithmetically
        up = np.uint64(64 - t.width)
        b = (b << up).view(np.int64) >> up.astype(np.int64)
    return np.ldexp(b.astype(np.float64), -t.fractional)
