"""The one nested configuration: read, merge `--set` overrides, validate up front.

The same keys are the FuseSoC generator parameters. Validation resolves every
default (board facts included) so later stages never guess.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from . import boards
from .hls_config import check_hls, strategy_name
from .regmap import MAX_BANKS

CHOICES = {
    "io_type": ("io_parallel", "io_stream"),
    "interface": ("axi_stream", "axi_lite", "axi_master"),
    "weights": ("embedded", "external"),
    "weight_format": ("native", "float32"),
}
BUS_WIDTHS = (32, 64, 128, 256)
IO_WORD_BITS = (8, 16, 32)
# Strategies that turn the weight values into logic: such an IP cannot take another weight set.
CONSTANT_FOLDING_STRATEGIES = ("distributed_arithmetic", "da")

KEYS = {
    "model": "path to a .keras model, a legacy .h5, or a Keras 2 NAME.json (+ NAME_weights.h5)",
    "model_weights": "weights .h5 for a NAME.json model (default NAME_weights.h5 beside it)",
    "board": "a board from boards/ (sets part, bus_width and clock defaults)",
    "part": "FPGA part, when no board is given",
    "clock_period": "clock period in ns",
    "io_type": "io_parallel | io_stream",
    "interface": "axi_stream | axi_lite | axi_master",
    "weights": "embedded | external",
    "weight_format": "native | float32",
    "bus_width": "width in bits of the memory-mapped ports: 32 | 64 | 128 | 256",
    "hls": "an hls4ml configuration dict (Model, LayerName, ...), checked, then passed to hls4ml unchanged",
    "input_type": "word type of the input data: float or ap_fixed<W,I,...> / ap_int<W> with W in 8, 16, 32",
    "output_type": "word type of the output data, as input_type",
    "top": "name of the accelerator's top function (a C identifier)",
    "version": "IP version in the VLNV, e.g. 1.0",
    "lite_max_batch": "samples per start on axi_lite (register-mapped buffers)",
    "weight_banks": "weight sets held on chip (1..8); more than 1 needs weights: external",
    "tb_samples": "number of test vectors stored with the IP for C-simulation (0: none)",
    "tb_input": "optional .npy of test inputs (default: seeded N(0,1) samples)",
    "tb_labels": "optional .npy of integer labels for tb_input: the C-simulation check reports accuracy",
    "allow_over_budget": "true: generate even when the estimates exceed the board (docs/estimates.md)",
}

DEFAULT_PART = "xczu3eg-sbva484-1-e"
DEFAULT_HLS_MODEL = {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}


@dataclass(frozen=True)
class Config:
    model: Path
    model_weights: Path | None
    board: str | None
    part: str
    clock_period: float
    io_type: str
    interface: str
    weights: str
    weight_format: str
    bus_width: int
    hls: dict = field(hash=False)
    input_type: str
    output_type: str
    top: str
    version: str
    lite_max_batch: int
    tb_samples: int
    tb_input: Path | None
    tb_labels: Path | None
    allow_over_budget: bool = False
    weight_banks: int = 1

    @property
    def vlnv(self) -> str:
        return f"nnaccel:hls:{self.top}:{self.version}"

    @property
    def external(self) -> bool:
        return self.weights == "external"

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("model", "model_weights", "tb_input", "tb_labels"):
            d[k] = None if d[k] is None else str(d[k])
        if d["weight_banks"] == 1:  # a single-bank IP's description stays what it was before banks existed
            del d["weight_banks"]
        return d


def _choice(raw: dict, key: str, default: str) -> str:
    value = raw.get(key, default)
    if value not in CHOICES[key]:
        raise ConfigError(f"{key}: {value!r} is not valid; choose one of {', '.join(CHOICES[key])}")
    return value


def _path(raw: dict, key: str, base: Path) -> Path | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, Path)) or not str(value):
        raise ConfigError(f"{key}: {value!r} is not a path")
    p = Path(value)
    return p if p.is_absolute() else (base / p)


def check_word_type(key: str, value: Any) -> str:
    """`float` or a fixed-point/integer type of 8, 16 or 32 bits (whole bytes on the bus)."""
    from .weights.quantise import parse_hls_type

    if value == "float":
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{key}: {value!r} is not a type; use float or ap_fixed<W,I,...> with W in 8, 16, 32")
    try:
        t = parse_hls_type(value)
    except Exception as e:  # parse errors are user errors here
        raise ConfigError(f"{key}: {e}") from None
    if t.width not in IO_WORD_BITS:
        raise ConfigError(f"{key}: {value!r} is {t.width} bits wide; data words must be 8, 16 or 32 bits (or float)")
    return t.cpp()


def _check_hls(hls: Any, external: bool) -> dict:
    check_hls(hls)
    hls = dict(hls)
    model = dict(DEFAULT_HLS_MODEL)
    model.update(hls.get("Model") or {})
    hls["Model"] = model
    if external:
        sections = [("Model", model)] + [
            (f"{sec}.{name}", lc) for sec in ("LayerName", "LayerType") for name, lc in (hls.get(sec) or {}).items()
        ]
        for where, sec in sections:
            if strategy_name((sec or {}).get("Strategy")) in CONSTANT_FOLDING_STRATEGIES:
                raise ConfigError(
                    f"hls.{where}.Strategy: {sec['Strategy']!r} turns the weight values into logic, so the IP "
                    "could not take another weight set; with weights: external use Latency or Resource"
                )
    return hls


def build_config(raw: dict, base_dir: Path | str = ".") -> Config:
    """Validate a raw mapping (YAML file contents or generator parameters)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"configuration: expected a mapping of keys, got {type(raw).__name__}")
    base = Path(base_dir)
    unknown = sorted(set(raw) - set(KEYS), key=repr)  # YAML keys need not be strings
    if unknown:
        raise ConfigError(f"unknown configuration key {unknown[0]!r}; valid keys: {', '.join(KEYS)}")
    if raw.get("model") in (None, ""):
        raise ConfigError("model: missing; give the path of a .keras, .h5 or Keras 2 .json model")

    board = raw.get("board")
    facts = boards.ip_defaults(boards.load_board(board)) if board is not None else {}
    part = raw.get("part", facts.get("part", DEFAULT_PART))
    if not isinstance(part, str) or not re.fullmatch(r"x[A-Za-z0-9-]+", part):
        raise ConfigError(f"part: {part!r} is not an AMD part name such as {DEFAULT_PART}")
    if board is not None and "part" in raw and raw["part"] != facts["part"]:
        raise ConfigError(f"part: {raw['part']!r} contradicts board {board!r}, which has {facts['part']}")

    clock = raw.get("clock_period", facts.get("clock_period", 10.0))
    if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not 1.0 <= clock <= 100.0:
        raise ConfigError(f"clock_period: {clock!r} is not a period in ns between 1 and 100")

    weights = _choice(raw, "weights", "external")
    weight_format = _choice(raw, "weight_format", "native")
    if weights == "embedded" and "weight_format" in raw and weight_format != "native":
        raise ConfigError("weight_format: float32 applies to weights: external only (embedded weights have no image)")

    bus_width = raw.get("bus_width", facts.get("bus_width", 64))
    if isinstance(bus_width, bool) or not isinstance(bus_width, int) or bus_width not in BUS_WIDTHS:
        raise ConfigError(f"bus_width: {bus_width!r} is not valid; choose one of {', '.join(map(str, BUS_WIDTHS))}")
    if board is not None and bus_width > facts["bus_width"]:
        raise ConfigError(f"bus_width: {bus_width} is wider than board {board}'s HP ports ({facts['bus_width']} bits, "
                          f"hp_width in its board file); use {facts['bus_width']} or less")

    top = raw.get("top", "nn_accel")
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", top) or top == "myproject":
        raise ConfigError(f"top: {top!r} is not a C identifier (letters, digits, _), and myproject is taken by hls4ml")
    version = str(raw.get("version", "1.0"))
    if not re.fullmatch(r"\d+\.\d+", version):
        raise ConfigError(f"version: {version!r} is not MAJOR.MINOR")

    def _int(key, default, lo, hi):
        v = raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ConfigError(f"{key}: {v!r} is not an integer from {lo} to {hi}")
        return v

    banks = _int("weight_banks", 1, 1, MAX_BANKS)
    if banks > 1 and weights != "external":
        raise ConfigError(f"weight_banks: {banks} needs weights: external (embedded weights are one fixed set); "
                          "use weight_banks: 1 or weights: external")

    return Config(
        model=_path(raw, "model", base),
        model_weights=_path(raw, "model_weights", base),
        board=board,
        part=part,
        clock_period=float(clock),
        io_type=_choice(raw, "io_type", "io_parallel"),
        interface=_choice(raw, "interface", "axi_stream"),
        weights=weights,
        weight_format=weight_format,
        bus_width=bus_width,
        hls=_check_hls(raw.get("hls", {}), weights == "external"),
        input_type=check_word_type("input_type", raw.get("input_type", "float")),
        output_type=check_word_type("output_type", raw.get("output_type", "float")),
        top=top,
        version=version,
        lite_max_batch=_int("lite_max_batch", 1, 1, 1024),
        tb_samples=_int("tb_samples", 32, 0, 100000),
        tb_input=_path(raw, "tb_input", base),
        tb_labels=_path(raw, "tb_labels", base),
        allow_over_budget=_bool(raw, "allow_over_budget", False),
        weight_banks=banks,
    )


def _bool(raw: dict, key: str, default: bool) -> bool:
    v = raw.get(key, default)
    if not isinstance(v, bool):
        raise ConfigError(f"{key}: {v!r} is not true or false")
    return v


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: PyYAML would keep the last one
    silently, and `interface:` written twice is a mistake, not a choice."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` merges may override: not a duplicate
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable: the base constructor reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                        f"found duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_set(items: list[str]) -> dict:
    """`KEY=VALUE` overrides; dotted keys reach into `hls` (hls.Model.ReuseFactor=64)."""
    out: dict = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set interface=axi_master")
        try:
            value = yaml.load(text, Loader=UniqueKeyLoader) if text else ""
        except yaml.YAMLError:
            value = text
        node = out
        parts = key.split(".")
        for i, p in enumerate(parts[:-1]):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):  # an earlier --set gave this path a value, not a mapping
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i + 1])} is set to {node!r} by an earlier "
                                  "--set; one --set per key path")
        node[parts[-1]] = value
    return out


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_yaml(path: Path | str) -> dict:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"config file {p}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p}: not a text (UTF-8) YAML file") from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = str(getattr(e, "problem", "") or "")
        what = problem if problem.startswith("found duplicate key") else "not valid YAML"
        raise ConfigError(f"config file {p}: {what}{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a mapping of configuration keys at the top level")
    return data


def load_config(config_file: Path | str | None = None, model: str | None = None,
                overrides: list[str] | None = None) -> Config:
    """CLI entry: file (optional) + MODEL argument + --set overrides, paths relative to the file."""
    raw: dict = {}
    base = Path(".")
    if config_file is not None:
        raw = read_yaml(config_file)
        base = Path(config_file).parent
    raw = deep_merge(raw, parse_set(overrides or []))
    if model is not None:
        raw["model"] = str(Path(model).resolve())
    return build_config(raw, base)
