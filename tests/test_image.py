"""Weight image format version 1: dense packing, round trips, and every corruption
rejected with a message naming what is wrong."""
from __future__ import annotations

import hashlib
import json
import struct
import time
import zlib

import numpy as np
import pytest

from nnaccel.errors import ImageError, NnaccelError
from nnaccel.weights.image import (HEADER_BYTES, build_image, fingerprint, layout_sizes, pack_bits, read_image,
                                   unpack_bits)
from nnaccel.weights.quantise import parse_hls_type, quantise

BUSES = (32, 64, 128, 256)


def make_layout(entries, bus_width=128) -> dict:
    """A weights_layout.json dict from [(name, hls_type, shape)]."""
    variables, offset = [], 0
    for name, hls_type, shape in entries:
        t = parse_hls_type(hls_type)
        count = int(np.prod(shape))
        variables.append({"name": name, "type_name": name + "_t", "hls_type": t.cpp(), "width": t.width,
                          "signed": t.signed, "integer": t.integer, "rounding": t.rounding,
                          "saturation": t.saturation, "shape": list(shape), "count": count, "bit_offset": offset})
        offset += count * t.width
    layout = {"format_version": 1, "bus_width": bus_width, "variables": variables,
              "fingerprint": fingerprint([(v["name"], v["shape"], v["hls_type"]) for v in variables])}
    layout["encodings"] = layout_sizes(layout)
    return layout


MLP = [("w2", "ap_fixed<6,1>", (16, 64)), ("b2", "ap_fixed<6,1>", (64,)),
       ("w5", "ap_fixed<16,6,AP_RND_CONV,AP_SAT,0>", (64, 5)), ("b5", "ap_ufixed<3,1,AP_RND,AP_SAT,0>", (5,)),
       ("s7", "ap_int<11>", (7,))]


def mlp_values(rng, layout):
    return [rng.normal(0, 1.5, v["count"]) * (8 if v["hls_type"] == "ap_int<11>" else 1)
            for v in layout["variables"]]


def reference_stream(patterns, widths, bus) -> bytes:
    """Independent packer: one Python integer holding the whole stream."""
    acc, pos = 0, 0
    for pats, w in zip(patterns, widths):
        for p in pats:
            acc |= int(p) << pos
            pos += w
    nbytes = -(-pos // bus) * bus // 8
    return acc.to_bytes(nbytes, "little")


# ---- fingerprint / sizes

def test_fingerprint_is_sha256_of_canonical_json():
    entries = [("w2", [16, 64], "ap_fixed<6,1>"), ("b2", [64], "ap_fixed<6,1>")]
    blob = b'[["w2",[16,64],"ap_fixed<6,1>"],["b2",[64],"ap_fixed<6,1>"]]'
    expected = int.from_bytes(hashlib.sha256(blob).digest()[:4], "little")
    assert fingerprint(entries) == expected
    assert fingerprint([(n, t, tuple(s)) for n, s, t in entries]) == expected  # (name, type, shape) order too
    assert json.dumps([[n, s, t] for n, s, t in entries], sort_keys=True, separators=(",", ":")).encode() == blob
    assert fingerprint([("w2", [64, 16], "ap_fixed<6,1>"), entries[1]]) != expected
    assert fingerprint([("w2", [16, 64], "ap_fixed<7,1>"), entries[1]]) != expected
    assert fingerprint(entries[::-1]) != expected


def test_layout_sizes_are_dense():
    lay = make_layout([("w", "ap_fixed<6,1>", (10, 10))], bus_width=128)
    assert layout_sizes(lay) == {
        "native": {"payload_bits": 600, "payload_bytes": 80, "words": 5, "image_bytes": 112},
        "float32": {"payload_bits": 3200, "payload_bytes": 400, "words": 25, "image_bytes": 432}}
    lay = make_layout([("w", "ap_fixed<6,1>", (10, 10))], bus_width=256)
    assert layout_sizes(lay)["native"] == {"payload_bits": 600, "payload_bytes": 96, "words": 3, "image_bytes": 128}


def test_unsupported_bus_width():
    with pytest.raises(ImageError, match="bus width 48"):
        make_layout([("w", "ap_fixed<6,1>", (4,))], bus_width=48)


# ---- packing

@pytest.mark.parametrize("bus", BUSES)
def test_pack_matches_reference_and_straddles_words(bus):
    rng = np.random.default_rng(bus)
    widths = [5, 64, 1, 13, 6, 33, 7]
    counts = [bus // 5 + 3, 3, 9, 17, 40, 5, 11]   # first variable ends mid-word: later values straddle
    patterns = [rng.integers(0, 2 ** min(w, 63), n, dtype=np.uint64, endpoint=False)
                | (np.uint64(1) << np.uint64(w - 1)) * (i % 2) for i, (w, n) in enumerate(zip(widths, counts))]
    patterns[1][0] = np.uint64(0xFFFFFFFFFFFFFFFF)
    payload = pack_bits(patterns, widths, bus)
    nbits = sum(w * n for w, n in zip(widths, counts))
    assert len(payload) == -(-nbits // bus) * bus // 8
    assert payload == reference_stream(patterns, widths, bus)
    back = unpack_bits(payload, widths, counts)
    assert all(np.array_equal(a, b) for a, b in zip(back, patterns))


@pytest.mark.parametrize("bus", BUSES)
def test_value_across_word_boundary(bus):
    # 6-bit values: value k occupies bits 6k..6k+5; the one holding bit `bus` straddles words 0 and 1
    n = bus // 6 + 2
    pats = np.full(n, 0, dtype=np.uint64)
    k = bus // 6
    pats[k] = 0b111111
    payload = pack_bits([pats], [6], bus)
    stream = int.from_bytes(payload, "little")
    assert stream == 0b111111 << (6 * k)
    if bus % 6:
        assert 6 * k < bus < 6 * k + 6


def test_pack_rejects_wide_pattern():
    with pytest.raises(ImageError, match="6 bits"):
        pack_bits([np.array([64], dtype=np.uint64)], [6], 32)


def test_pack_is_fast():
    rng = np.random.default_rng(0)
    pats = [rng.integers(0, 64, 100_000, dtype=np.uint64)]
    t0 = time.perf_counter()
    payload = pack_bits(pats, [6], 128)
    back = unpack_bits(payload, [6], [100_000])
    assert time.perf_counter() - t0 < 2.0
    assert np.array_equal(back[0], pats[0])


# ---- build / read round trips

@pytest.mark.parametrize("bus", BUSES)
@pytest.mark.parametrize("encoding", ["native", "float32"])
def test_round_trip(bus, encoding):
    lay = make_layout(MLP, bus)
    vals = mlp_values(np.random.default_rng(3), lay)
    image, report = build_image(lay, vals, encoding)
    header, patterns = read_image(image, lay)
    expected = [quantise(v, t["hls_type"]).bits for v, t in zip(vals, lay["variables"])]
    assert all(np.array_equal(a, b) for a, b in zip(patterns, expected))
    sizes = lay["encodings"][encoding]
    assert len(image) == sizes["image_bytes"] == report["image_bytes"]
    assert header["payload_bytes"] == sizes["payload_bytes"] == report["payload_bytes"]
    assert header["encoding"] == encoding and header["bus_width"] == bus
    assert header["fingerprint"] == lay["fingerprint"]
    assert report["crc32"] == zlib.crc32(image[HEADER_BYTES:]) == header["crc32"]
    assert report["n_values"] == header["n_values"] == sum(v["count"] for v in lay["variables"])
    assert (len(image) - HEADER_BYTES) % (bus // 8) == 0


def test_native_and_float32_give_same_patterns():
    lay = make_layout(MLP, 64)
    vals = mlp_values(np.random.default_rng(4), lay)
    a = read_image(build_image(lay, vals, "native")[0], lay)[1]
    b = read_image(build_image(lay, vals, "float32")[0], lay)[1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_native_is_dense_6_bit():
    lay = make_layout([("w", "ap_fixed<6,1>", (1000,))], 128)
    image, report = build_image(lay, [np.zeros(1000)])
    assert report["payload_bytes"] == -(-6000 // 128) * 16 == 752
    assert len(image) == 32 + 752


def test_header_fields():
    lay = make_layout(MLP, 128)
    image, report = build_image(lay, mlp_values(np.random.default_rng(5), lay), "float32")
    fields = struct.unpack_from("<IHHIHHIIII", image)
    assert image[:4] == b"NNAW"
    assert fields == (0x57414E4E, 1, 1, lay["fingerprint"], 128, 32, report["payload_bytes"], report["n_values"],
                      report["crc32"], 0)


def test_float32_payload_holds_quantised_values():
    lay = make_layout([("w", "ap_fixed<8,3,AP_RND_CONV,AP_SAT,0>", (4,))], 32)
    image, _ = build_image(lay, [np.array([0.3, -0.3, 100.0, -5.0])], "float32")
    floats = np.frombuffer(image[32:48], dtype="<f4")
    assert floats.tolist() == [0.3125, -0.3125, 3.96875, -4.0]


def test_report_counts_saturation_and_wraps():
    lay = make_layout([("a", "ap_fixed<8,3,AP_RND,AP_SAT,0>", (4,)), ("b", "ap_fixed<8,3>", (3,))], 32)
    _, report = build_image(lay, [np.array([0.5, 4.0, -4.5, 100.0]), np.array([4.0, 1.0, -9.0])])
    assert (report["n_saturated"], report["n_wrapped"]) == (3, 2)
    assert [(v["name"], v["n_saturated"], v["n_wrapped"]) for v in report["variables"]] == [("a", 3, 0), ("b", 0, 2)]


def test_float32_refuses_types_it_cannot_hold():
    lay = make_layout([("w2", "ap_fixed<6,1>", (2,)), ("w5", "ap_fixed<40,20,AP_RND,AP_SAT,0>", (2,))], 64)
    vals = [np.zeros(2), np.array([1.0, 2.0 ** 18 + 2.0 ** -19])]
    with pytest.raises(ImageError, match=r"variable w5: type ap_fixed<40,20,AP_RND,AP_SAT,0> is too wide.*native"):
        build_image(lay, vals, "float32")
    build_image(lay, vals, "native")


def test_wrong_value_count():
    lay = make_layout(MLP, 128)
    vals = mlp_values(np.random.default_rng(6), lay)
    vals[2] = vals[2][:-1]
    with pytest.raises(ImageError, match=r"variable w5: got 319 values, the layout expects 320"):
        build_image(lay, vals)
    with pytest.raises(ImageError, match="got 4 weight arrays, the layout has 5"):
        build_image(lay, vals[:4])


def test_unknown_encoding():
    lay = make_layout(MLP, 128)
    with pytest.raises(ImageError, match="unknown weight encoding 'int8'"):
        build_image(lay, mlp_values(np.random.default_rng(6), lay), "int8")


def test_edited_layout_is_refused():
    lay = make_layout(MLP, 128)
    lay["variables"][0]["shape"] = [64, 16]
    with pytest.raises(ImageError, match="layout fingerprint"):
        build_image(lay, mlp_values(np.random.default_rng(6), lay))


# ---- corruption

@pytest.fixture(scope="module")
def good():
    lay = make_layout(MLP, 128)
    image, _ = build_image(lay, mlp_values(np.random.default_rng(8), lay))
    return lay, image


def _patch(image: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(image)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def _recrc(image: bytes) -> bytes:
    return _patch(image, 24, "<I", zlib.crc32(image[32:]))


@pytest.mark.parametrize("name,mutate,message", [
    ("magic", lambda im: _patch(im, 0, "<I", 0x12345678), r"bad magic: found 0x12345678, expected 0x57414E4E"),
    ("version", lambda im: _patch(im, 4, "<H", 2), r"bad format version: found 2, expected 1"),
    ("encoding", lambda im: _patch(im, 6, "<H", 7), r"bad encoding: found 7, expected 0 \(native\) or 1 \(float32\)"),
    ("fingerprint", lambda im: _patch(im, 8, "<I", 0xDEADBEEF), r"bad fingerprint .*: found 0xDEADBEEF, expected 0x"),
    ("bus", lambda im: _patch(im, 12, "<H", 64), r"bad bus width: found 64, expected 128"),
    ("header size", lambda im: _patch(im, 14, "<H", 64), r"bad header size: found 64, expected 32"),
    ("payload length", lambda im: _patch(im, 16, "<I", 16), r"bad payload length in header \(native\): found 16, "
                                                            r"expected \d+"),
    ("n values", lambda im: _patch(im, 20, "<I", 5), r"bad number of values: found 5, expected 1420"),
    ("crc", lambda im: im[:40] + bytes([im[40] ^ 1]) + im[41:], r"bad CRC-32: payload gives 0x[0-9A-F]{8}, header says"),
    ("reserved", lambda im: _patch(im, 28, "<I", 3), r"bad reserved word: found 0x00000003, expected 0x00000000"),
    ("truncated payload", lambda im: im[:-16], r"bad file length: found \d+, expected \d+"),
    ("extra bytes", lambda im: im + bytes(16), r"bad file length: found \d+, expected \d+"),
    ("truncated header", lambda im: im[:20], r"truncated header\): found 20 bytes, expected at least 32 bytes"),
    ("empty", lambda im: b"", r"found 0 bytes"),
])
def test_corruption_is_rejected(good, name, mutate, message):
    lay, image = good
    read_image(image, lay)
    with pytest.raises(ImageError, match="weight image: .*" + message):
        read_image(mutate(image), lay)


def test_image_for_another_layout(good):
    lay, image = good
    other = make_layout(MLP[:-1] + [("s7", "ap_int<12>", (7,))], 128)
    with pytest.raises(ImageError, match="another weight layout"):
        read_image(image, other)


def test_float32_image_with_native_length_is_refused(good):
    lay, image = good
    bad = _recrc(_patch(image, 6, "<H", 1))
    with pytest.raises(ImageError, match=r"payload length in header \(float32\)"):
        read_image(bad, lay)


def test_errors_are_user_facing(good):
    lay, image = good
    with pytest.raises(NnaccelError) as e:
        read_image(image[:-1], lay)
    assert "\n" not in str(e.value)
