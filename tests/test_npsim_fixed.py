"""The numpy engine's ap_fixed assignment (nnaccel.npsim.fixed.cast) against g++ with the ap_types
headers: every rounding mode x every saturation mode, signed and unsigned, narrowing and widening,
on the full range of source patterns (bit-exact)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cpp_cast import have_gxx
from cpp_fixed_cast import convert
from nnaccel.npsim import fixed
from nnaccel.weights.quantise import ROUNDING_MODES, SATURATION_MODES, HlsType

pytestmark = pytest.mark.skipif(not have_gxx(), reason="needs g++ and hls4ml's ap_types")


def _pairs(seed=10):
    rng = np.random.default_rng(seed)
    pairs = []
    for q in ROUNDING_MODES:
        for o in SATURATION_MODES:
            for k in range(3):
                ws = int(rng.integers(2, 41))
                src = HlsType("fixed", bool(rng.integers(0, 2)) or k == 0, ws, int(rng.integers(0, ws + 1)))
                # k == 0 narrows the fraction (rounding), k == 1 keeps or widens it, k == 2 at random
                if k == 0:
                    fd = max(0, src.fractional - int(rng.integers(1, 9)))
                elif k == 1:
                    fd = src.fractional + int(rng.integers(0, 3))
                else:
                    fd = int(rng.integers(0, 25))
                idst = int(rng.integers(0, 9))
                wd = max(2, fd + idst)
                dst = HlsType("fixed", bool(rng.integers(0, 2)), wd, idst, q, o)
                pairs.append((src, dst))
    return pairs


PAIRS = _pairs()


def _mantissas(t: HlsType, n: int, rng) -> np.ndarray:
    lo, hi = fixed.limits(t)
    edges = np.array([lo, lo + 1, hi, hi - 1, 0, 1, -1 if t.signed else 2], dtype=np.int64)
    return np.concatenate([edges, rng.integers(lo, hi + 1, size=n - len(edges), dtype=np.int64)])


def _oracle(values_by_pair):
    cpp = [(s.cpp(), d.cpp(), d.width) for s, d in PAIRS]
    reals = [np.ldexp(v.astype(np.float64), -s.fractional) for (s, _), v in zip(PAIRS, values_by_pair)]
    return convert(cpp, reals)


def test_every_mode_is_bit_exact_with_gxx():
    rng = np.random.default_rng(0)
    vs = [_mantissas(s, 4000, rng) for s, _ in PAIRS]
    want = _oracle(vs)
    for (s, d), v, w in zip(PAIRS, vs, want):
        got = fixed.pattern(fixed.cast(v, s.fractional, d), d).astype(np.uint64)
        bad = np.flatnonzero(got != w)
        assert bad.size == 0, f"{s.cpp()} -> {d.cpp()}: value {v[bad[0]]} gives {got[bad[0]]:#x}, g++ {w[bad[0]]:#x}"


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_property_random_mantissas(data):
    """Hypothesis draws the source mantissas (shrinking to the smallest failing value)."""
    vs = []
    for s, _ in PAIRS:
        lo, hi = fixed.limits(s)
        vs.append(np.array(data.draw(st.lists(st.integers(lo, hi), min_size=8, max_size=8)), dtype=np.int64))
    want = _oracle(vs)
    for (s, d), v, w in zip(PAIRS, vs, want):
        got = fixed.pattern(fixed.cast(v, s.fractional, d), d).astype(np.uint64)
        assert np.array_equal(got, w), f"{s.cpp()} -> {d.cpp()}: {v} gives {got}, g++ {w}"


def test_modes_are_covered():
    assert {d.rounding for _, d in PAIRS} == set(ROUNDING_MODES)
    assert {d.saturation for _, d in PAIRS} == set(SATURATION_MODES)
    assert any(s.fractional > d.fractional for s, d in PAIRS) and any(s.fractional < d.fractional for s, d in PAIRS)
    assert any(s.signed and not d.signed for s, d in PAIRS)
