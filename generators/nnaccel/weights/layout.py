"""The weight layout of an IP: hls4ml's weight variables in order, their HLS
types and shapes, bit offsets in the dense image, and the fingerprint."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import LayoutError, ModelError
from .image import fingerprint, layout_sizes
from .quantise import parse_hls_type

FORMAT_VERSION = 1


def layout_from_graph(hm, bus_width: int) -> dict:
    variables, offset = [], 0
    for v in hm.get_weight_variables():
        cpp = v.type.precision.definition_cpp()
        try:
            t = parse_hls_type(cpp)
        except Exception:
            raise ModelError(f"weights: variable {v.name} has type {cpp}; run-time weights support "
                             "ap_fixed/ap_ufixed/ap_int/ap_uint types up to 64 bits") from None
        shape = [int(s) for s in v.shape]
        count = int(v.data_length)
        variables.append({
            "name": v.name, "type_name": v.type.name, "hls_type": t.cpp(), "width": t.width,
            "signed": t.signed, "integer": t.integer, "rounding": t.rounding, "saturation": t.saturation,
            "shape": shape, "count": count, "bit_offset": offset,
        })
        offset += count * t.width
    layout = {
        "format_version": FORMAT_VERSION,
        "fingerprint": fingerprint([(v["name"], v["shape"], v["hls_type"]) for v in variables]),
        "bus_width": bus_width,
        "n_values": sum(v["count"] for v in variables),
        "variables": variables,
    }
    layout["encodings"] = layout_sizes(layout)
    return layout


def describe_difference(expected: dict, found: dict) -> str:
    """One line naming the first difference between two layouts."""
    ev, fv = expected["variables"], found["variables"]
    if len(ev) != len(fv):
        return f"the IP has {len(ev)} weight variables, the model has {len(fv)}"
    for a, b in zip(ev, fv):
        for key in ("name", "shape", "hls_type"):
            if a[key] != b[key]:
                return f"variable {a['name']}: {key} is {b[key]} in the model, {a[key]} in the IP"
    return "fingerprints differ"


def check_same_layout(expected: dict, found: dict) -> None:
    if expected["fingerprint"] != found["fingerprint"]:
        raise LayoutError(f"the model does not fit this IP's weight layout: {describe_difference(expected, found)}")


def read_layout(ip_dir: Path) -> dict:
    p = Path(ip_dir) / "weights_layout.json"
    if not p.is_file():
        raise LayoutError(f"{ip_dir}: no weights_layout.json here; give the directory written by `nnaccel ip`")
    return json.loads(p.read_text())
