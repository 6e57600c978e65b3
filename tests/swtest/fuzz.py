"""Seeded weight-image fuzzing (issue 9): mutations of one good image, and an independent
oracle of what is wrong with each mutant.

The oracle reads the header fields itself (docs/contracts.md, "Weight image") and lists every
field that differs from what a valid image for the layout must hold. A parser's refusal is
*specific* when the field it names is one of those defects; an acceptance is right only for an
image byte-identical to the good one (the generator never recomputes a CRC, so any other image
has at least one defect)."""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

HEADER = struct.Struct("<IHHIHHIIII")
FIELDS = ("magic", "version", "encoding", "fingerprint", "bus", "header_bytes", "payload_bytes", "n_values",
          "crc", "reserved")
# byte offset and size of each header field (the struct above, in order)
FIELD_AT = {"magic": (0, 4), "version": (4, 2), "encoding": (6, 2), "fingerprint": (8, 4), "bus": (12, 2),
            "header_bytes": (14, 2), "payload_bytes": (16, 4), "n_values": (20, 4), "crc": (24, 4),
            "reserved": (28, 4)}
MAGIC, VERSION, HEADER_BYTES = 0x57414E4E, 1, 32

# category -> number of images; 10,000 in all
PLAN = {
    "random bytes": 1000,
    "random bytes behind a valid magic and version": 500,
    "truncated": 2000,
    "extended": 1000,
    "bit flips anywhere": 2000,
    "bit flips in the header": 1000,
    "header field forged": 2500,
}


@dataclass(frozen=True)
class Expect:
    """What a valid image for one layout holds."""
    fingerprint: int
    bus: int
    n_values: int
    payload: dict  # encoding code -> payload bytes

    @classmethod
    def from_layout(cls, layout: dict) -> "Expect":
        enc = layout["encodings"]
        return cls(int(layout["fingerprint"]), int(layout["bus_width"]),
                   sum(int(v["count"]) for v in layout["variables"]),
                   {0: int(enc["native"]["payload_bytes"]), 1: int(enc["float32"]["payload_bytes"])})


def defects(img: bytes, exp: Expect, device_view: bool = False) -> set[str]:
    """Every way `img` differs from a valid image. With device_view, `img` is what lies in memory
    from WEIGHTS_ADDR on: the core cannot know a file length, it reads the header and then the
    payload length it was built for (for the encoding the header names)."""
    if len(img) < HEADER_BYTES:
        return {"short"}
    magic, version, enc, fp, bus, hbytes, plen, nvals, crc, reserved = HEADER.unpack_from(img)
    bad = set()
    if magic != MAGIC:
        bad.add("magic")
    if version != VERSION:
        bad.add("version")
    if enc not in exp.payload:
        bad.add("encoding")
    if fp != exp.fingerprint:
        bad.add("fingerprint")
    if bus != exp.bus:
        bad.add("bus")
    if hbytes != HEADER_BYTES:
        bad.add("header_bytes")
    if (plen != exp.payload[enc]) if enc in exp.payload else (plen not in exp.payload.values()):
        bad.add("payload_bytes")
    if nvals != exp.n_values:
        bad.add("n_values")
    if reserved != 0:
        bad.add("reserved")
    if device_view:
        body = img[HEADER_BYTES:HEADER_BYTES + exp.payload.get(enc, 0)]
    else:
        if len(img) != HEADER_BYTES + plen:
            bad.add("length")
        body = img[HEADER_BYTES:HEADER_BYTES + plen]
    if zlib.crc32(body) & 0xFFFFFFFF != crc:
        bad.add("crc")
    return bad


def _forged_value(rng: np.random.Generator, field: str, good: int, exp: Expect) -> int:
    size = FIELD_AT[field][1]
    top = (1 << (8 * size)) - 1
    plausible = {
        "magic": [0, top, MAGIC ^ 0x20, 0x4E4E4157],  # last: the magic byte-swapped
        "version": [0, 2, top],
        "encoding": [1, 2, top],  # 1 is a legal encoding whose payload length does not match this one
        "fingerprint": [0, top, good ^ 1, good ^ 0x80000000],
        "bus": [32, 64, 128, 256, 0, good * 2],
        "header_bytes": [0, 16, 64, top],
        "payload_bytes": [0, *exp.payload.values(), good - exp.bus // 8, good + exp.bus // 8, top],
        "n_values": [0, good - 1, good + 1, top],
        "crc": [0, top, good ^ 1],
        "reserved": [1, top, 0x80000000],
    }[field]
    choice = rng.integers(3)
    if choice == 0:
        v = int(rng.integers(0, top + 1, dtype=np.uint64))
    elif choice == 1:
        v = int(plausible[rng.integers(len(plausible))])
    else:
        v = good + int(rng.choice([-1, 1]))
    v &= top
    return v if v != good else (good + 1) & top


def _flip(rng: np.random.Generator, b: bytearray, lo: int, hi: int, n: int) -> None:
    for _ in range(n):
        pos = int(rng.integers(lo, hi))
        b[pos] ^= 1 << int(rng.integers(8))


def mutants(good: bytes, exp: Expect, seed: int, plan: dict = PLAN):
    """Yield (category, image) for every planned mutant of `good`, reproducibly from `seed`."""
    rng = np.random.default_rng(seed)
    n = len(good)
    for category, count in plan.items():
        for _ in range(count):
            if category == "random bytes":
                img = rng.bytes(int(rng.integers(0, n + 64)))
            elif category == "random bytes behind a valid magic and version":
                img = struct.pack("<IH", MAGIC, VERSION) + rng.bytes(int(rng.integers(0, n + 64)))
            elif category == "truncated":
                img = good[:int(rng.integers(0, n))]
            elif category == "extended":
                img = good + rng.bytes(int(rng.integers(1, 3 * exp.bus // 8 + 1)))
            elif category == "bit flips anywhere":
                b = bytearray(good)
                _flip(rng, b, 0, n, int(rng.integers(1, 9)))
                img = bytes(b)
            elif category == "bit flips in the header":
                b = bytearray(good)
                _flip(rng, b, 0, HEADER_BYTES, int(rng.integers(1, 4)))
                img = bytes(b)
            else:  # header field forged: one or two fields, sometimes the file resized to match
                b = bytearray(good)
                for field in rng.choice(FIELDS, size=int(rng.integers(1, 3)), replace=False):
                    off, size = FIELD_AT[str(field)]
                    fmt = "<I" if size == 4 else "<H"
                    old = struct.unpack_from(fmt, b, off)[0]
                    struct.pack_into(fmt, b, off, _forged_value(rng, str(field), old, exp))
                plen = struct.unpack_from("<I", b, 16)[0]
                if rng.integers(2) and plen != n - HEADER_BYTES and plen < 4 * n:
                    # a file whose length agrees with the forged header: only the field checks stop it
                    b = b[:HEADER_BYTES + plen] + bytes(max(0, HEADER_BYTES + plen - len(b)))
                img = bytes(b)
            yield category, img
