"""Check the `hls` mapping (hls4ml's HLSConfig) before hls4ml sees it.

hls4ml 1.3 reads the keys it knows and ignores the rest (`ReuseFactr: 4` silently means the
default), turns a Strategy it does not know into Latency, and fails deep inside on a malformed
precision. Here each of those is one line naming the key path. The key lists come from hls4ml
where it has them (the configurable attributes of its layer classes, its flows and passes);
the rest are the keys its code reads (cited beside each list).
"""
from __future__ import annotations

import difflib
import functools
import re
from typing import Any

from .errors import ConfigError, NnaccelError
from .weights.quantise import ROUNDING_MODES, SATURATION_MODES, parse_hls_type

# converters/__init__.py: what convert_from_keras_model copies from hls_config (the rest is dropped)
TOP_KEYS = ("Model", "LayerName", "LayerType", "Flows", "Optimizers", "SkipOptimizers")
# what hls4ml reads from HLSConfig['Model']: model/graph.py HLSConfig._parse_hls_config, converters/__init__.py
# (AllowDAFallback, AllowV2Fallback), optimizer passes (ChannelsLastConversion, TransposeOutputs, BitExact);
# TraceOutput is what hls4ml.utils.config_from_keras_model writes there.
MODEL_KEYS = ("Precision", "ReuseFactor", "Strategy", "BramFactor", "TargetCycles", "ConvImplementation",
              "Compression", "PipelineStyle", "PipelineInterval", "TraceOutput", "ChannelsLastConversion",
              "TransposeOutputs", "BitExact", "AllowDAFallback", "AllowV2Fallback")
# what HLSConfig.parse_name_config reads per layer; the other layer keys are hls4ml's configurable attributes
LAYER_CONFIG_KEYS = ("Precision", "ReuseFactor", "TargetCycles", "Strategy", "ConvImplementation", "Compression")
# hls4ml snake-cases a Strategy (convert_to_snake_case) and then knows these (backends/vivado/vivado_backend.py);
# anything else quietly becomes latency.
STRATEGIES = ("latency", "resource", "resource_unrolled", "distributed_arithmetic", "da")
STRATEGY_SPELLINGS = "Latency, Resource, ResourceUnrolled or DistributedArithmetic (da)"
POSITIVE_INT_KEYS = ("ParallelizationFactor", "TableSize", "TargetCycles", "PipelineInterval")
PRECISION_FORMS = ("ap_fixed<W,I[,Q[,O[,N]]]>, ap_ufixed<...>, ap_int<W>, ap_uint<W>, hls4ml's short forms "
                   "fixed<...>, ufixed<...>, int<W>, uint<W>, or auto (Q: " + ", ".join(ROUNDING_MODES)
                   + "; O: " + ", ".join(SATURATION_MODES) + ")")
# wider than any weight (quantise.MAX_WIDTH), as accumulators may be; ap_int's default limit
MAX_PRECISION_WIDTH = 1024


@functools.lru_cache(maxsize=None)
def hls4ml_facts() -> dict:
    """Layer keys and layer type names as hls4ml 1.3's Vitis backend defines them."""
    from hls4ml.backends import get_backend
    from hls4ml.model.attributes import TypeAttribute
    from hls4ml.model.flow import get_available_flows
    from hls4ml.model.layers import layer_map
    from hls4ml.model.optimizer import get_available_passes

    backend = get_backend("Vitis")
    keys = set(LAYER_CONFIG_KEYS)
    for cls in set(layer_map.values()):
        for base in cls.mro():
            for attr in list(base.__dict__.get("_expected_attributes", [])) + backend.attribute_map.get(base, []):
                # precisions go through Precision: {var: type}; a type attribute is not a key of its own
                if attr.configurable and not isinstance(attr, TypeAttribute):
                    keys.add(attr.config_name)
    types = set(layer_map) | {cls.__name__ for cls in layer_map.values()}
    return {"layer_keys": sorted(keys), "layer_types": sorted(types), "flows": sorted(get_available_flows()),
            "passes": sorted(get_available_passes())}


def _snake(text: str) -> str:
    from hls4ml.utils.string_utils import convert_to_snake_case

    return convert_to_snake_case(text).lower()


def strategy_name(value: Any) -> str:
    """The strategy hls4ml will apply for this spelling ('' when it has none of its own)."""
    if not isinstance(value, str):
        return ""
    name = _snake(value.strip())
    return name if name in STRATEGIES else ""


def _did_you_mean(word: Any, choices) -> str:
    text = str(word)
    lower = {c.lower(): c for c in choices}
    match = lower.get(text.lower()) or next(iter(difflib.get_close_matches(text, list(choices), n=1, cutoff=0.6)),
                                            None)
    return f"; did you mean {match}?" if match else ""


def _unknown(path: str, key: Any, choices, what: str = "key") -> ConfigError:
    hint = _did_you_mean(key, choices)
    if not hint:
        hint = f"; valid: {', '.join(choices)}" if len(choices) <= 20 else f" (hls4ml 1.3 has no such {what})"
    return ConfigError(f"{path}.{key}: unknown {what}{hint}")


def _mapping(path: str, value: Any, what: str, none_ok: bool = True) -> dict:
    if value is None and none_ok:  # hls4ml skips an empty Model, LayerName, LayerType (not an empty layer)
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping of {what}, got {value!r}")
    return value


def _flow_fragments(section: dict, key: Any) -> list[str]:
    """The keys YAML made of the rest of an unquoted `ap_fixed<16,6>` in flow style: {.., '6>': None}."""
    keys = list(section)
    out = []
    for k in keys[keys.index(key) + 1:]:
        if section[k] is not None:
            break
        out.append(str(k))
        if str(k).endswith(">"):
            break
    return out


def _as_ap(text: str) -> str:
    """hls4ml's spellings as ap_ types: `fixed<16,6,RND,SAT>` reads as `ap_fixed<16,6,AP_RND,AP_SAT>`."""
    s = re.sub(r"\s+", "", text)
    if s.startswith(("fixed<", "ufixed<", "int<", "uint<")):
        s = "ap_" + s
    m = re.fullmatch(r"(ap_u?fixed)<([^<>]*)>", s)
    if m:
        args = m.group(2).split(",")
        args[2:4] = [a.upper() if a.upper().startswith("AP_") else "AP_" + a.upper() for a in args[2:4]]
        s = f"{m.group(1)}<{','.join(args)}>"
    return s


def check_precision(path: str, value: Any, section: dict | None = None, key: Any = None) -> None:
    """A precision: a type string, or (Precision: {var: type}) one per variable."""
    if isinstance(value, dict):
        for var, v in value.items():
            if not isinstance(var, str) or not re.fullmatch(r"[A-Za-z_]\w*", var):
                raise ConfigError(f"{path}: {var!r} is not a variable name (weight, bias, result, accum, ...); "
                                  "quote types in YAML flow style: {weight: 'ap_fixed<8,3>'}")
            check_precision(f"{path}.{var}", v, value, var)
        return
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {value!r} is not a precision; accepted: {PRECISION_FORMS}")
    if value.strip().lower() == "auto":
        return
    if value.count("<") > value.count(">"):
        rest = _flow_fragments(section, key) if section is not None else []
        whole = ",".join([value, *rest])
        if not rest or whole.count("<") != whole.count(">"):
            raise ConfigError(f"{path}: {value!r} lacks its closing '>'; accepted: {PRECISION_FORMS}")
        raise ConfigError(f"{path}: {value!r} is cut at a comma: in YAML flow style ({{...}}) an unquoted "
                          f"{whole} splits into keys; quote it: '{whole}'")
    try:
        parse_hls_type(_as_ap(value), max_width=MAX_PRECISION_WIDTH)
    except NnaccelError as e:
        if "accepted forms" not in str(e):  # width or saturation bits: the parser says which
            raise ConfigError(f"{path}: {e}") from None
        raise ConfigError(f"{path}: {value!r} is not a precision; accepted: {PRECISION_FORMS}") from None


def _check_values(path: str, section: dict) -> None:
    for key, value in section.items():
        where = f"{path}.{key}"
        if key == "Precision":
            check_precision(where, value, section, key)
        elif key == "Strategy":
            if not strategy_name(value):
                raise ConfigError(f"{where}: {value!r} is not a strategy hls4ml knows (it would quietly use "
                                  f"Latency); use {STRATEGY_SPELLINGS}")
        elif isinstance(key, str) and (key.endswith("ReuseFactor") or key in POSITIVE_INT_KEYS):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: {value!r} is not a positive integer")
        elif key == "BramFactor":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{where}: {value!r} is not a non-negative integer (weights above it go to BRAM)")


def _check_section(path: str, section: dict, valid) -> None:
    # precisions first: an unquoted flow-style type leaves fragments that look like unknown keys
    if "Precision" in section:
        check_precision(f"{path}.Precision", section["Precision"], section, "Precision")
    for key in section:
        if key not in valid:
            raise _unknown(path, key, valid)
    _check_values(path, section)


def _check_names(path: str, value: Any, known) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: expected a list of names, got {value!r}")
    for i, name in enumerate(value):
        if name not in known:
            raise ConfigError(f"{path}[{i}]: {name!r} is not known to hls4ml{_did_you_mean(name, known)}")


def check_hls(hls: Any) -> None:
    """Raise ConfigError (one line, naming the key path) for anything hls4ml would ignore or choke on."""
    if not isinstance(hls, dict):
        raise ConfigError(f"hls: expected an hls4ml configuration mapping (Model, LayerName, ...), "
                          f"got {type(hls).__name__}")
    for key in hls:
        if key not in TOP_KEYS:
            raise _unknown("hls", key, TOP_KEYS)
    _check_section("hls.Model", _mapping("hls.Model", hls.get("Model"), "settings"), MODEL_KEYS)
    facts = hls4ml_facts()
    for name, cfg in _mapping("hls.LayerName", hls.get("LayerName"), "layer names to settings").items():
        _check_section(f"hls.LayerName.{name}", _mapping(f"hls.LayerName.{name}", cfg, "settings", False),
                       facts["layer_keys"])
    for name, cfg in _mapping("hls.LayerType", hls.get("LayerType"), "layer types to settings").items():
        if name not in facts["layer_types"]:
            raise _unknown("hls.LayerType", name, facts["layer_types"], "layer type")
        _check_section(f"hls.LayerType.{name}", _mapping(f"hls.LayerType.{name}", cfg, "settings", False),
                       facts["layer_keys"])
    if "Flows" in hls:
        _check_names("hls.Flows", hls["Flows"], facts["flows"])
    if "Optimizers" in hls and "SkipOptimizers" in hls:
        raise ConfigError("hls: give Optimizers or SkipOptimizers, not both (hls4ml refuses the pair)")
    for key in ("Optimizers", "SkipOptimizers"):
        if key in hls:
            _check_names(f"hls.{key}", hls[key], facts["passes"])
