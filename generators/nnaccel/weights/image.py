"""Weight image, format version 1 (docs/contracts.md, "Weight image"):
a 32-byte little-endian header, then every weight value as one dense LSB-first
bit stream padded with zeros to a whole bus word."""
from __future__ import annotations

import hashlib
import json
import struct
import zlib

import numpy as np

from ..errors import ImageError
from .quantise import HlsType, parse_hls_type, quantise, to_real

MAGIC = 0x57414E4E            # bytes "NNAW"
VERSION = 1
HEADER_BYTES = 32
ENCODINGS = {"native": 0, "float32": 1}
BUS_WIDTHS = (32, 64, 128, 256)   # the 32-byte header is a whole number of words for these
_HEADER = struct.Struct("<IHHIHHIIII")
assert _HEADER.size == HEADER_BYTES


def fingerprint(entries) -> int:
    """u32 fingerprint of a layout: first 4 bytes (little-endian) of SHA-256 over the canonical
    JSON of [[name, shape, hls_type], ...].  Entries are (name, shape, hls_type); (name, hls_type,
    shape) is accepted too, the type being the only string of the two."""
    canon = []
    for name, a, b in entries:
        hls_type, shape = (a, b) if isinstance(a, (str, HlsType)) else (b, a)
        canon.append([str(name), [int(s) for s in shape], str(hls_type)])
    blob = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little")


# ---------------------------------------------------------------------------
# dense bit stream

def _words(nbits: int, bus_width: int) -> int:
    return -(-nbits // bus_width)


def pack_bits(patterns, widths, bus_width: int) -> bytes:
    """Concatenate `widths[i]` low bits of every pattern of every variable, LSB first, and pad with
    zeros to a whole bus word."""
    chunks = []
    for pats, w in zip(patterns, widths, strict=True):
        p = np.ascontiguousarray(np.asarray(pats, dtype=np.uint64).reshape(-1))
        if w < 64 and p.size and int(p.max()) >> w:
            raise ImageError(f"a bit pattern does not fit in {w} bits (internal error)")
        # (n, 64) bit matrix, LSB first per value; keep the low w columns
        bits = np.unpackbits(p.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        chunks.append(bits[:, :w].reshape(-1))
    stream = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint8)
    padded = np.zeros(_words(stream.size, bus_width) * bus_width, dtype=np.uint8)
    padded[: stream.size] = stream
    return np.packbits(padded, bitorder="little").tobytes()


def unpack_bits(payload: bytes, widths, counts) -> list[np.ndarray]:
    """Inverse of pack_bits: one uint64 array per variable."""
    stream = np.unpackbits(np.frombuffer(payload, dtype=np.uint8), bitorder="little")
    need = sum(int(w) * int(n) for w, n in zip(widths, counts, strict=True))
    if stream.size < need:
        raise ImageError(f"payload holds {stream.size} bits, the layout needs {need}")
    out, pos = [], 0
    for w, n in zip(widths, counts):
        w, n = int(w), int(n)
        bits = np.zeros((n, 64), dtype=np.uint8)
        bits[:, :w] = stream[pos: pos + w * n].reshape(n, w)
        pos += w * n
        out.append(np.packbits(bits, axis=1, bitorder="little").view("<u8").reshape(-1).astype(np.uint64))
    return out


# ---------------------------------------------------------------------------
# layout helpers

def _bits_per_value(var: dict, encoding: str) -> int:
    return int(var["width"]) if encoding == "native" else 32


def _check_bus(layout: dict) -> int:
    bus = int(layout["bus_width"])
    if bus not in BUS_WIDTHS:
        raise ImageError(f"bus width {bus} is not supported; accepted: {', '.join(map(str, BUS_WIDTHS))}")
    return bus


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ImageError(f"unknown weight encoding {encoding!r}; accepted: {', '.join(ENCODINGS)}")


def layout_sizes(layout: dict) -> dict:
    """{encoding: {payload_bits, payload_bytes, words, image_bytes}} for weights_layout.json."""
    bus = _check_bus(layout)
    sizes = {}
    for enc in ENCODINGS:
        nbits = sum(_bits_per_value(v, enc) * int(v["count"]) for v in layout["variables"])
        words = _words(nbits, bus)
        payload = words * bus // 8
        sizes[enc] = {"payload_bits": nbits, "payload_bytes": payload, "words": words,
                      "image_bytes": HEADER_BYTES + payload}
    return sizes


def _check_layout(layout: dict) -> list:
    """The parsed type of every variable, after checking the layout is self-consistent."""
    types = []
    for v in layout["variables"]:
        t = parse_hls_type(v["hls_type"])
        if t.width != int(v["width"]):
            raise ImageError(f"layout variable {v['name']}: width {v['width']} does not match its type {t.cpp()}")
        if int(np.prod(v["shape"], dtype=np.int64)) != int(v["count"]):
            raise ImageError(f"layout variable {v['name']}: count {v['count']} does not match shape {v['shape']}")
        types.append(t)
    fp = fingerprint([(v["name"], v["shape"], v["hls_type"]) for v in layout["variables"]])
    if fp != int(layout["fingerprint"]):
        raise ImageError(f"layout fingerprint is 0x{int(layout['fingerprint']):08X} but its variables give "
                         f"0x{fp:08X}; the layout file was edited or is corrupt")
    return types


# ---------------------------------------------------------------------------
# build / read

def build_image(layout: dict, values, encoding: str = "native") -> tuple[bytes, dict]:
    """Quantise `values` (one float64 array per layout variable, C order) to the variables' HLS
    types and lay them out as a version-1 image.  Returns (image bytes, report)."""
    _check_encoding(encoding)
    bus = _check_bus(layout)
    types = _check_layout(layout)
    variables = layout["variables"]
    if len(values) != len(variables):
        raise ImageError(f"got {len(values)} weight arrays, the layout has {len(variables)} variables")
    patterns, widths, per_var = [], [], []
    n_sat = n_wrap = 0
    for var, t, arr in zip(variables, types, values):
        a = np.asarray(arr, dtype=np.float64).reshape(-1)
        if a.size != int(var["count"]):
            raise ImageError(f"variable {var['name']}: got {a.size} values, the layout expects {var['count']} "
                             f"(shape {var['shape']})")
        q = quantise(a, t)
        n_sat += q.n_saturated
        n_wrap += q.n_wrapped
        per_var.append({"name": var["name"], "hls_type": t.cpp(), "count": a.size,
                        "n_saturated": q.n_saturated, "n_wrapped": q.n_wrapped})
        if encoding == "native":
            patterns.append(q.bits)
            widths.append(t.width)
        else:
            real = to_real(q.bits, t)
            f32 = real.astype(np.float32)
            inexact = np.flatnonzero(f32.astype(np.float64) != real)
            if inexact.size:
                i = int(inexact[0])
                raise ImageError(f"variable {var['name']}: type {t.cpp()} is too wide for the float32 encoding "
                                 f"(value {real[i]!r} at index {i} has no exact float32); use encoding native")
            patterns.append(f32.view(np.uint32).astype(np.uint64))
            widths.append(32)
    payload = pack_bits(patterns, widths, bus)
    n_values = sum(int(v["count"]) for v in variables)
    crc = zlib.crc32(payload) & 0xFFFFFFFF
    header = _HEADER.pack(MAGIC, VERSION, ENCODINGS[encoding], int(layout["fingerprint"]), bus, HEADER_BYTES,
                          len(payload), n_values, crc, 0)
    image = header + payload
    report = {"encoding": encoding, "n_values": n_values, "n_saturated": n_sat, "n_wrapped": n_wrap,
              "variables": per_var, "payload_bytes": len(payload), "image_bytes": len(image), "crc32": crc}
    return image, report


def _mismatch(what: str, found, expected, fmt=str) -> ImageError:
    return ImageError(f"weight image: bad {what}: found {fmt(found)}, expected {fmt(expected)}")


def _hex(x) -> str:
    return f"0x{int(x):08X}"


def read_image(data: bytes, layout: dict) -> tuple[dict, list[np.ndarray]]:
    """Validate an image against its header and `layout`; return (header, native bit patterns per
    variable).  float32 images are converted to native patterns by quantising each float."""
    data = bytes(data)
    if len(data) < HEADER_BYTES:
        raise _mismatch("length (truncated header)", f"{len(data)} bytes", f"at least {HEADER_BYTES} bytes")
    (magic, version, enc_code, fp, bus, hbytes, plen, nvals, crc, reserved) = _HEADER.unpack_from(data)
    header = {"magic": magic, "version": version, "encoding_code": enc_code, "fingerprint": fp,
              "bus_width": bus, "header_bytes": hbytes, "payload_bytes": plen, "n_values": nvals,
              "crc32": crc, "reserved": reserved}
    if magic != MAGIC:
        raise _mismatch("magic", magic, MAGIC, _hex)
    if version != VERSION:
        raise _mismatch("format version", version, VERSION)
    if hbytes != HEADER_BYTES:
        raise _mismatch("header size", hbytes, HEADER_BYTES)
    codes = {c: name for name, c in ENCODINGS.items()}
    if enc_code not in codes:
        raise _mismatch("encoding", enc_code, " or ".join(f"{c} ({n})" for c, n in codes.items()))
    encoding = header["encoding"] = codes[enc_code]
    types = _check_layout(layout)
    if fp != int(layout["fingerprint"]):
        raise _mismatch("fingerprint (image built for another weight layout)", fp, layout["fingerprint"], _hex)
    if bus != int(layout["bus_width"]):
        raise _mismatch("bus width", bus, layout["bus_width"])
    n_expected = sum(int(v["count"]) for v in layout["variables"])
    if nvals != n_expected:
        raise _mismatch("number of values", nvals, n_expected)
    expected_len = layout_sizes(layout)[encoding]["payload_bytes"]
    if plen != expected_len:
        raise _mismatch(f"payload length in header ({encoding})", plen, expected_len)
    if len(data) != HEADER_BYTES + plen:
        raise _mismatch("file length", len(data), HEADER_BYTES + plen)
    payload = data[HEADER_BYTES:]
    actual_crc = zlib.crc32(payload) & 0xFFFFFFFF
    if actual_crc != crc:
        raise ImageError(f"weight image: bad CRC-32: payload gives {_hex(actual_crc)}, header says {_hex(crc)}")
    if reserved != 0:
        raise _mismatch("reserved word", reserved, 0, _hex)
    counts = [int(v["count"]) for v in layout["variables"]]
    if encoding == "native":
        return header, unpack_bits(payload, [t.width for t in types], counts)
    words = unpack_bits(payload, [32] * len(types), counts)
    patterns = []
    for w, t in zip(words, types):
        f = w.astype(np.uint32).view(np.float32).astype(np.float64)
        patterns.append(quantise(f, t).bits)   # what the hardware's cast computes
    return header, patterns
