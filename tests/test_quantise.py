"""The quantiser against the real thing: `T x = (double)v;` compiled with g++
from the ap_types headers in the hls4ml wheel, compared bit for bit."""
from __future__ import annotations

import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

import cpp_cast
from nnaccel.errors import NnaccelError
from nnaccel.weights.quantise import (ROUNDING_MODES, SATURATION_MODES, HlsType, parse_hls_type, quantise,
                                      to_real)

# every rounding x overflow mode, signed and unsigned, on one small shape
MODE_TYPES = [f"ap_{u}fixed<7,3,{q},{o},0>" for u in ("", "u") for q in ROUNDING_MODES for o in SATURATION_MODES]
SHAPE_TYPES = [
    "ap_fixed<1,1,AP_RND,AP_SAT,0>", "ap_ufixed<1,0,AP_RND_CONV,AP_SAT,0>", "ap_fixed<2,1,AP_RND_CONV,AP_SAT_SYM,0>",
    "ap_fixed<6,1>", "ap_ufixed<6,0,AP_RND_CONV,AP_SAT,0>", "ap_fixed<16,6>", "ap_fixed<16,6,AP_RND_CONV,AP_SAT,0>",
    "ap_fixed<8,-2,AP_RND,AP_SAT,0>", "ap_fixed<8,-2>", "ap_ufixed<8,-3,AP_RND_INF,AP_SAT_SYM,0>",
    "ap_fixed<8,12,AP_RND,AP_SAT,0>", "ap_fixed<8,12>", "ap_ufixed<8,12,AP_RND_ZERO,AP_SAT_ZERO,0>",
    "ap_fixed<18,8,AP_TRN_ZERO,AP_SAT_SYM,0>", "ap_fixed<32,16,AP_RND_CONV,AP_SAT,0>", "ap_fixed<32,16>",
    "ap_fixed<53,20,AP_RND,AP_SAT,0>", "ap_fixed<54,20,AP_RND_CONV,AP_WRAP,0>", "ap_fixed<54,54,AP_RND,AP_SAT,0>",
    "ap_fixed<63,3,AP_RND_MIN_INF,AP_SAT,0>", "ap_ufixed<63,40,AP_RND,AP_WRAP,0>",
    "ap_fixed<64,32,AP_RND_CONV,AP_SAT_SYM,0>", "ap_fixed<64,1>", "ap_ufixed<64,64,AP_RND,AP_SAT,0>",
    "ap_fixed<64,70,AP_RND,AP_SAT,0>", "ap_fixed<12,-40,AP_RND,AP_SAT,0>", "ap_fixed<10,1030,AP_RND,AP_SAT,0>",
    "ap_fixed<10,-1060,AP_RND_CONV,AP_SAT,0>",
    # AP_WRAP with saturation bits
    "ap_fixed<8,3,AP_RND,AP_WRAP,1>", "ap_fixed<8,3,AP_RND,AP_WRAP,2>", "ap_fixed<16,6,AP_RND_CONV,AP_WRAP,15>",
    "ap_ufixed<16,6,AP_RND,AP_WRAP,1>", "ap_fixed<8,3,AP_TRN,AP_WRAP,3>", "ap_fixed<8,3,AP_RND_CONV,AP_WRAP,8>",
    "ap_ufixed<8,3,AP_RND,AP_WRAP,2>", "ap_ufixed<8,3,AP_TRN,AP_WRAP,8>", "ap_fixed<64,10,AP_RND,AP_WRAP,4>",
    # integers
    "ap_int<1>", "ap_uint<1>", "ap_int<8>", "ap_uint<8>", "ap_int<33>", "ap_int<53>", "ap_uint<54>",
    "ap_int<63>", "ap_int<64>", "ap_uint<64>",
]
TYPES = [parse_hls_type(s) for s in MODE_TYPES + SHAPE_TYPES]


def _edges(t: HlsType) -> list[float]:
    """Values around everything the conversion treats specially for type t."""
    lsb = math.ldexp(1.0, -t.fractional)
    kmax = 2 ** (t.width - t.signed) - 1
    kmin = -(2 ** (t.width - 1)) if t.signed else 0
    ks = {0, 1, 2, 3, -1, -2, -3, kmax, kmax - 1, kmax + 1, kmax + 2, kmin, kmin + 1, kmin - 1, kmin - 2,
          2 * kmax + 1, -2 * kmax, kmax // 2, kmin // 2, 2 ** t.width, -(2 ** t.width), 3 * 2 ** t.width + 5}
    out = []
    for k in ks:
        for frac in (0.0, 0.5, 0.25, 0.75, -0.5, -0.25):
            x = (k + frac) * lsb
            out += [x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)]
    return out


def _values() -> np.ndarray:
    vals = [0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310, 2.2250738585072014e-308, -2.2250738585072014e-308,
            1e-30, -1e-30, 0.3, -0.3, 0.7, -0.7, 1.3, -1.3, 1e30, -1e30, 1e300, -1e300, 1.7976931348623157e308,
            -1.7976931348623157e308, np.inf, -np.inf, np.nan, -np.nan,
            np.uint64(0x7FF0000000000001).view(np.float64), np.uint64(0xFFF8000000000123).view(np.float64)]
    for t in TYPES:
        vals += _edges(t)
    rng = np.random.default_rng(1234)
    vals += list(rng.normal(0, 1, 1500)) + list(rng.normal(0, 1000, 500)) + list(rng.normal(0, 1e12, 200))
    vals += list(rng.integers(-4096, 4096, 800) / 64.0)  # many exact ties for the small types
    v = np.array(vals, dtype=np.float64)
    return v[np.isfinite(v) | np.isnan(v) | np.isinf(v)]


@pytest.fixture(scope="module")
def reference():
    if not cpp_cast.have_gxx():
        pytest.skip("g++ or the hls4ml ap_types headers are not available")
    values = _values()
    return values, cpp_cast.cast([(t.cpp(), t.width) for t in TYPES], values)


@pytest.mark.parametrize("t", TYPES, ids=[t.cpp() for t in TYPES])
def test_bits_match_cpp(reference, t):
    values, ref = reference
    bits, real = ref[t.cpp()]
    got = quantise(values, t).bits
    assert got.dtype == np.uint64
    bad = np.flatnonzero(got != bits)
    assert np.array_equal(got, bits), (
        f"{t.cpp()}: {bad.size} mismatches, first v={values[bad[0]]!r} got={got[bad[0]]:#x} c++={bits[bad[0]]:#x}")
    if abs(t.integer) < 1000 and abs(t.fractional) < 1000:  # no float64 overflow / subnormals
        assert np.array_equal(to_real(got, t), real)


def test_ap_int_negative_fraction_quirk():
    # ap_int_base(double) sets V=-1 before negating when |v| < 0.5: the header gives 1 for -0.3
    assert quantise(np.array([-0.3, -0.7, -1.3]), "ap_int<8>").bits.tolist() == [1, 0, 0xFF]


def _ideal(v: float, t: HlsType) -> int:
    """Exact rounded integer multiple of the LSB, with unlimited integer bits."""
    x = Fraction(v) * Fraction(2) ** t.fractional
    fl = math.floor(x)
    rem = x - fl
    q = t.rounding
    if q == "AP_TRN":
        return fl
    if q == "AP_TRN_ZERO":
        return fl if x >= 0 or rem == 0 else fl + 1
    if rem != Fraction(1, 2):
        return fl + (rem > Fraction(1, 2))
    return fl + {"AP_RND": 1, "AP_RND_ZERO": x < 0, "AP_RND_MIN_INF": 0, "AP_RND_INF": x > 0,
                 "AP_RND_CONV": fl % 2}[q]


@pytest.mark.parametrize("t", [parse_hls_type(s) for s in MODE_TYPES[:28:3] + MODE_TYPES[28::5]],
                         ids=lambda t: t.cpp())
def test_overflow_counts(t):
    """n_saturated / n_wrapped count exactly the values whose rounded value is out of range."""
    rng = np.random.default_rng(7)
    v = np.concatenate([rng.normal(0, 6, 3000), rng.integers(-400, 400, 1000) / 32.0, _edges(t)])
    v = v[np.isfinite(v)]
    kmax = 2 ** (t.width - t.signed) - 1
    kmin = -(2 ** (t.width - 1)) if t.signed else 0
    ideal = [_ideal(x, t) for x in v]
    out = sum(1 for k in ideal if not kmin <= k <= kmax)
    if t.saturation == "AP_SAT_SYM" and t.signed:
        out += sum(1 for k in ideal if k == kmin)  # clipped to -max as well
    q = quantise(v, t)
    assert (q.n_saturated, q.n_wrapped) == ((0, out) if t.saturation == "AP_WRAP" else (out, 0))
    # in range: the pattern is the ideal value itself
    real = to_real(q.bits, t)
    for x, k, r in zip(v, ideal, real):
        if kmin < k <= kmax:
            assert r == math.ldexp(k, -t.fractional), (x, k, r)


def test_ap_int_wrap_count():
    q = quantise(np.array([1.0, 127.9, 128.0, -128.5, -129.0, np.inf, 300.0]), "ap_int<8>")
    assert (q.n_saturated, q.n_wrapped) == (0, 4)
    q = quantise(np.array([2.0 ** 63, 2.0 ** 63 - 1024, -(2.0 ** 63), -(2.0 ** 63) - 2048]), "ap_int<64>")
    assert q.n_wrapped == 2
    q = quantise(np.array([2.0 ** 64, 2.0 ** 64 - 2048, -1.0, -0.3]), "ap_uint<64>")
    assert q.n_wrapped == 2


def test_negative_zero_is_zero():
    for t in ("ap_fixed<8,3,AP_RND,AP_SAT_SYM,0>", "ap_ufixed<8,3,AP_RND,AP_SAT,0>", "ap_int<8>"):
        q = quantise(np.array([-0.0]), t)
        assert q.bits.tolist() == [0] and q.n_saturated == q.n_wrapped == 0


def test_speed_100k():
    import time
    v = np.random.default_rng(0).normal(0, 1, 100_000)
    t0 = time.perf_counter()
    quantise(v, "ap_fixed<16,6,AP_RND_CONV,AP_SAT,0>")
    assert time.perf_counter() - t0 < 1.0


# ---- parsing

@pytest.mark.parametrize("text,expected", [
    ("ap_fixed<16,6>", HlsType("fixed", True, 16, 6)),
    (" ap_fixed< 16 , 6 > ", HlsType("fixed", True, 16, 6)),
    ("ap_ufixed<6,0,AP_RND_CONV>", HlsType("fixed", False, 6, 0, "AP_RND_CONV")),
    ("ap_ufixed<6,0,AP_RND_CONV,AP_SAT>", HlsType("fixed", False, 6, 0, "AP_RND_CONV", "AP_SAT")),
    ("ap_fixed<8,3,AP_RND,AP_WRAP,2>", HlsType("fixed", True, 8, 3, "AP_RND", "AP_WRAP", 2)),
    ("ap_fixed<8,-2>", HlsType("fixed", True, 8, -2)),
    ("ap_int<8>", HlsType("int", True, 8, 8)),
    ("ap_uint<64>", HlsType("int", False, 64, 64)),
])
def test_parse(text, expected):
    t = parse_hls_type(text)
    assert t == expected
    assert parse_hls_type(t.cpp()) == t


def test_cpp_spelling_matches_hls4ml():
    assert parse_hls_type("ap_fixed<16,6,AP_TRN,AP_WRAP,0>").cpp() == "ap_fixed<16,6>"
    assert parse_hls_type("ap_ufixed<6,0,AP_RND_CONV,AP_SAT>").cpp() == "ap_ufixed<6,0,AP_RND_CONV,AP_SAT,0>"
    assert parse_hls_type("ap_uint<3>").cpp() == "ap_uint<3>"
    assert parse_hls_type("ap_fixed<6,1>").fractional == 5


@pytest.mark.parametrize("text", ["float", "ap_fixed<16>", "ap_fixed<16,6,AP_FOO>", "ap_fixed<16,6,AP_RND,AP_WRAP_SM>",
                                  "ap_fixed<16,6,AP_RND,AP_SAT,0,1>", "ac_fixed<16,6,true>", "ap_int<x>",
                                  "ap_fixed<a,6>", "fixed<16,6>", ""])
def test_parse_rejects(text):
    with pytest.raises(NnaccelError, match="accepted forms"):
        parse_hls_type(text)


@pytest.mark.parametrize("text", ["ap_fixed<65,6>", "ap_uint<128>", "ap_int<0>"])
def test_parse_rejects_width(text):
    with pytest.raises(NnaccelError, match=r"1\.\.64 bits"):
        parse_hls_type(text)


def test_parse_rejects_sat_bits_beyond_width():
    with pytest.raises(NnaccelError, match="saturation bits"):
        parse_hls_type("ap_fixed<8,3,AP_RND,AP_WRAP,9>")


def test_parse_hls4ml_precision_objects():
    from hls4ml.model.types import (FixedPrecisionType, IntegerPrecisionType, RoundingMode, SaturationMode,
                                    XnorPrecisionType)
    p = FixedPrecisionType(6, 0, signed=False, rounding_mode=RoundingMode.RND_CONV,
                           saturation_mode=SaturationMode.SAT)
    assert parse_hls_type(p) == HlsType("fixed", False, 6, 0, "AP_RND_CONV", "AP_SAT", 0)
    assert parse_hls_type(FixedPrecisionType(16, 6)) == HlsType("fixed", True, 16, 6)
    p = FixedPrecisionType(8, 3, rounding_mode="AP_RND", saturation_mode="AP_WRAP", saturation_bits=2)
    assert parse_hls_type(p).cpp() == "ap_fixed<8,3,AP_RND,AP_WRAP,2>"
    assert parse_hls_type(IntegerPrecisionType(12, signed=False)) == HlsType("int", False, 12, 12)
    assert parse_hls_type(XnorPrecisionType()).cpp() == "ap_uint<1>"
    with pytest.raises(NnaccelError, match="accepted forms"):
        parse_hls_type(SimpleNamespace(width=8))


def test_parse_hls4ml_definition_cpp_roundtrip():
    """What hls4ml's AP backend writes for a precision parses back to the same spelling."""
    from hls4ml.backends.fpga.fpga_types import APTypeConverter
    from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode
    for q in RoundingMode:
        for o in SaturationMode:
            p = APTypeConverter().convert(FixedPrecisionType(9, 4, True, q, o, 0))
            assert parse_hls_type(p.definition_cpp()).cpp() == p.definition_cpp()
            assert parse_hls_type(p) == parse_hls_type(p.definition_cpp())
