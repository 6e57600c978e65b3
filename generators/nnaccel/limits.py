"""What hls4ml converts but its C++ kernels reject or mishandle, kept as data
(data/hls4ml_limits.yml): refused at `nnaccel ip`, before anything is compiled or run."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from .errors import ConfigError

TABLE = Path(__file__).with_name("data") / "hls4ml_limits.yml"


@lru_cache(maxsize=1)
def entries() -> list[dict]:
    return yaml.safe_load(TABLE.read_text())


def _attrs(layer, names) -> list:
    return [layer.get_attr(n) for n in names]


CONDITIONS = {
    "any_nonzero": lambda layer, names: any(v for v in _attrs(layer, names) if v is not None),
    "any_differ": lambda layer, pairs: any(a is not None and b is not None and a != b
                                          for a, b in (_attrs(layer, p) for p in pairs)),
}


def applies(entry: dict, layer, io_type: str) -> bool:
    if layer.class_name not in entry["classes"] or entry.get("io_type", io_type) != io_type:
        return False
    when = entry["when"]
    if when == "always":
        return True
    return any(CONDITIONS[kind](layer, arg) for kind, arg in when.items())


def findings(hm, io_type: str) -> list[tuple[dict, str]]:
    """(entry, layer name) for every converted layer an entry applies to, in layer order."""
    return [(e, layer.name) for layer in hm.get_layers() for e in entries() if applies(e, layer, io_type)]


def refuse_unsupported(hm, io_type: str) -> list[tuple[dict, str]]:
    """ConfigError for the first layer hls4ml's kernels reject; the `verify` findings otherwise."""
    found = findings(hm, io_type)
    for e, name in found:
        if e["action"] == "refuse":
            raise ConfigError(f"layer {name}: {e['message']} in {io_type}; use {e['instead']}")
    return [(e, name) for e, name in found if e["action"] == "verify"]
