"""Weight image checks (format version 1): everything the driver verifies before it
touches the device."""
from __future__ import annotations

import struct
import zlib

from .description import Description
from .errors import ImageError

MAGIC = 0x57414E4E
VERSION = 1
HEADER_BYTES = 32
ENCODINGS = {0: "native", 1: "float32"}
_HEADER = struct.Struct("<IHHIHHIIII")


def check_image(desc: Description, image: bytes) -> int:
    """Raises ImageError naming the first problem; returns the image's total length in bytes."""
    if not desc.external:
        raise ImageError(f"{desc.top} has embedded weights; it takes no weight image")
    if len(image) < HEADER_BYTES:
        raise ImageError(f"weight image: {len(image)} bytes, shorter than its {HEADER_BYTES}-byte header")
    magic, version, encoding, fp, bus, hdr, payload, n_values, crc, reserved = _HEADER.unpack_from(image)
    if magic != MAGIC:
        raise ImageError(f"weight image: magic 0x{magic:08X} is not 0x{MAGIC:08X} ('NNAW'); not a weight image")
    if version != VERSION:
        raise ImageError(f"weight image: format version {version}; this driver reads version {VERSION}")
    if fp != desc.fingerprint:
        raise ImageError(f"weight image: layout fingerprint 0x{fp:08X} is for another layout; this IP "
                         f"({desc.vlnv}) has 0x{desc.fingerprint:08X}. Build the image with "
                         "`nnaccel weights MODEL --layout IPDIR`")
    if encoding not in ENCODINGS:
        raise ImageError(f"weight image: encoding {encoding} is neither 0 (native) nor 1 (float32)")
    if bus != desc.bus_width:
        raise ImageError(f"weight image: bus width {bus} bits, the IP's weights port has {desc.bus_width}")
    want = desc.payload_bytes[ENCODINGS[encoding]]
    if hdr != HEADER_BYTES or payload != want or n_values != desc.n_values:
        raise ImageError(f"weight image: header says {payload} payload bytes / {n_values} values, the layout "
                         f"needs {want} / {desc.n_values} ({ENCODINGS[encoding]} encoding)")
    if len(image) != HEADER_BYTES + payload:  # bytes after the payload: a wrong or concatenated file
        raise ImageError(f"weight image: {len(image)} bytes, the header announces {HEADER_BYTES + payload}")
    if reserved != 0:
        raise ImageError(f"weight image: reserved word 0x{reserved:08X} is not 0; a format revision this "
                         f"driver does not read")
    got = zlib.crc32(image[HEADER_BYTES:HEADER_BYTES + payload]) & 0xFFFFFFFF
    if got != crc:
        raise ImageError(f"weight image: payload CRC-32 0x{got:08X} does not match the header's 0x{crc:08X} "
                         "(corrupted file?)")
    return HEADER_BYTES + payload
