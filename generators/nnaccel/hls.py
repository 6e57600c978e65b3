"""hls4ml as the model compiler: load the model, convert it with the Vitis
backend, and read what the accelerator needs from the resulting ModelGraph."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import hgq2
from .config import Config
from .errors import ModelError
from .regmap import EXTRA_PER_SIDE

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

PROJECT = "myproject"  # hls4ml's inner function; our top wraps it
MAX_TENSORS = 1 + EXTRA_PER_SIDE  # inputs (and outputs) a model may have: tensor 0 + the extra address registers


@dataclass
class Port:
    """One data port of myproject: name, element C++ type, shape, values."""
    name: str
    elem_type: str
    shape: tuple
    size: int


_WARNING_LINE = re.compile(r"^\s*WARNING\b[:!]?\s*", re.I)
_HLS4ML_FILE = re.compile(r"[\\/]hls4ml[\\/]")


@contextlib.contextmanager
def quiet():
    """hls4ml prints a page per conversion; keep the CLI's output readable, but pass its
    warnings on (the WARNING lines it prints and the Python warnings it raises), once each,
    as `nnaccel: hls4ml warning: ...` on stderr. Only when the block succeeds: a failure is
    reported as one line, by the caller."""
    buf = io.StringIO()
    logging.getLogger("hls4ml").setLevel(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(buf):
            yield buf
    found = [line for line in buf.getvalue().splitlines() if _WARNING_LINE.match(line)]
    for w in caught:
        if _HLS4ML_FILE.search(w.filename or ""):
            found.append(str(w.message))
        else:  # someone else's: back to the normal filters
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    for text in dict.fromkeys(" ".join(_WARNING_LINE.sub("", t).split()) for t in found):
        print(f"nnaccel: hls4ml warning: {text}", file=sys.stderr)


def _model_files(cfg: Config) -> tuple[str, Path, Path | None]:
    path = cfg.model
    if not path.exists():
        raise ModelError(f"model: {path} does not exist")
    if not os.access(path, os.R_OK) or path.is_dir():
        raise ModelError(f"model: {path} is not a readable file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        weights = cfg.model_weights or path.with_name(path.stem + "_weights.h5")
        if not weights.is_file():
            raise ModelError(f"model_weights: {weights} does not exist (a NAME.json model needs NAME_weights.h5 "
                             "beside it, or the model_weights key)")
        return "json", path, weights
    if suffix in (".keras", ".h5", ".hdf5"):
        if cfg.model_weights is not None:
            raise ModelError("model_weights: only a Keras 2 NAME.json model takes a separate weights file")
        return "keras", path, None
    raise ModelError(f"model: {path.name} is not a .keras, .h5 or Keras 2 .json model")


def load_keras(path: Path):
    import keras

    hgq2.import_hgq()
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"model: {path} cannot be loaded by Keras 3 ({first[:200]})") from None


def convert(cfg: Config, output_dir: Path, model_path: Path | None = None, weights_path: Path | None = None):
    """Convert cfg.model (or another model of the same architecture) to an hls4ml ModelGraph."""
    import hls4ml

    if model_path is not None:
        cfg = _with_model(cfg, model_path, weights_path)
    kind, path, weights = _model_files(cfg)
    hls_config = _plain(cfg.hls)
    model = None
    try:
        with quiet():
            if kind == "json":
                hm = hls4ml.converters.keras_v2_to_hls({
                    "KerasJson": str(path), "KerasH5": str(weights), "OutputDir": str(output_dir),
                    "ProjectName": PROJECT, "Part": cfg.part, "ClockPeriod": cfg.clock_period,
                    "Backend": "Vitis", "IOType": cfg.io_type, "HLSConfig": hls_config,
                    "WriterConfig": {"Namespace": None, "WriteWeightsTxt": False, "WriteTar": False,
                                     "TBOutputStream": "both"},
                })
            else:
                model = load_keras(path)
                bounds = hgq2.weight_bounds(model) if cfg.external and hgq2.is_hgq_model(model) else None
                with hgq2.bounded_bit_exact(bounds) if bounds is not None else contextlib.nullcontext():
                    hm = hls4ml.converters.convert_from_keras_model(
                        model, hls_config=hls_config, backend="Vitis", io_type=cfg.io_type, part=cfg.part,
                        clock_period=cfg.clock_period, output_dir=str(output_dir), project_name=PROJECT,
                        write_weights_txt=False, allow_da_fallback=False,
                    )
                if bounds is not None:
                    hgq2.check_weight_types(hm, bounds)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"model: hls4ml cannot convert {path.name}: {_reason(e, model)}") from None
    check_graph(hm, cfg)
    return hm


def _with_model(cfg: Config, model: Path, weights: Path | None) -> Config:
    from dataclasses import replace

    return replace(cfg, model=Path(model), model_weights=None if weights is None else Path(weights))


def _plain(d):
    """A deep copy hls4ml may modify without touching the frozen Config."""
    if isinstance(d, dict):
        return {k: _plain(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_plain(v) for v in d]
    return d


def _reason(e: Exception, keras_model=None) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    m = re.search(r"Unsupported layer type: (\w+)", text) or re.search(r"Layer <class '([\w.]+)'> not found", text)
    if m:
        cls = m.group(1).split(".")[-1]
        names = [layer.name for layer in getattr(keras_model, "layers", []) if type(layer).__name__ == cls]
        which = f"layer {', '.join(names)} ({cls})" if names else f"layer type {cls}"
        return f"{which} is not supported by hls4ml; see hls4ml's list of supported Keras layers"
    return text[:240]


def check_graph(hm, cfg: Config) -> None:
    """Refuse what the accelerator cannot wrap: several inputs/outputs, weights that are not plain arrays."""
    from hls4ml.model.types import CompressedWeightVariable, ExponentWeightVariable

    ins, outs = hm.get_input_variables(), hm.get_output_variables()
    if len(ins) > MAX_TENSORS or len(outs) > MAX_TENSORS:
        raise ModelError(f"model: has {len(ins)} inputs and {len(outs)} outputs; the accelerator takes at most "
                         f"{MAX_TENSORS} of each (the register map has {MAX_TENSORS - 1} extra address "
                         "registers a side)")
    if cfg.external:
        for v in hm.get_weight_variables():
            if isinstance(v, (CompressedWeightVariable, ExponentWeightVariable)):
                raise ModelError(f"weights: variable {v.name} is stored {type(v).__name__}, derived from this weight "
                                 "set's values; external weights need plain arrays (use Latency or Resource strategy)")


def make_value_independent(hm) -> None:
    """With run-time weights the IP must fit ANY weight set of this architecture:
    forget this set's zero counts (they set multiplier limits)."""
    for v in hm.get_weight_variables():
        v.nzeros = 0
        v.nonzeros = int(v.data_length)
    # hls4ml renders each layer's C++ config during conversion: render it again
    # (in the order the Vitis IP flow applies them) so the new counts reach parameters.h.
    for flow in ("vitis:apply_templates", "vivado:apply_templates"):
        hm.apply_flow(flow, reapply="single")


def data_port(var) -> Port:
    """Describe an hls4ml input/output variable: element type as C++ and its value count."""
    shape = tuple(int(s) for s in var.shape)
    size = int(np.prod(shape))
    return Port(name=var.name, elem_type=var.type.precision.definition_cpp(), shape=shape, size=size)


def data_ports(variables) -> list[Port]:
    return [data_port(v) for v in variables]


def concatenated(ports: list[Port], name: str) -> Port:
    """The one wire-level port several tensors make when laid end to end per sample (the
    order of hls4ml's input/output variables): what the description calls input_shape/n_inputs."""
    if len(ports) == 1:
        return ports[0]
    size = sum(p.size for p in ports)
    return Port(name=name, elem_type="", shape=(size,), size=size)


def weight_values(var) -> np.ndarray:
    """The values exactly as hls4ml writes them into the C++ initialiser: its own
    decimal formatting, parsed back as double (what the C++ cast then quantises)."""
    return np.array([float(s) for s in var], dtype=np.float64)


# ---- patching hls4ml's myproject so weights arrive as arguments ----

_SIG = re.compile(r"(void\s+" + PROJECT + r"\s*\()(.*?)(\n\s*\))", re.S)


def weight_params(hm) -> list[str]:
    return [f"{v.type.name} {v.name}[{int(v.data_length)}]" for v in hm.get_weight_variables()]


def patch_for_external_weights(firmware: Path, hm) -> None:
    """Give myproject one array argument per weight variable (as the seed's
    branch did) and drop the initialised weight headers: the wrapper owns the storage."""
    params = weight_params(hm)
    for fname in (f"{PROJECT}.cpp", f"{PROJECT}.h"):
        f = firmware / fname
        text = f.read_text()
        new, n = _SIG.subn(lambda m: m.group(1) + m.group(2) + "".join(f",\n    {p}" for p in params) + m.group(3),
                           text, count=1)
        if n != 1:
            raise RuntimeError(f"hls4ml's {fname} has no recognisable {PROJECT}() signature")
        f.write_text(new)
    par = firmware / "parameters.h"
    text = par.read_text()
    for v in hm.get_weight_variables():
        text, n = re.subn(rf'^#include "weights/{re.escape(v.name)}\.h"\n', "", text, flags=re.M)
        if n != 1:
            raise RuntimeError(f"hls4ml's parameters.h does not include weights/{v.name}.h exactly once")
    par.write_text(text)
    for v in hm.get_weight_variables():
        (firmware / "weights" / f"{v.name}.h").unlink(missing_ok=True)


# ---- the IP's copy of hls4ml's firmware ----

_INTERFACE = re.compile(r"^[ \t]*#pragma HLS INTERFACE\b.*\n", re.M | re.I)
# ROM bindings: the old RESOURCE core=ROM_* form and BIND_STORAGE type=rom_*
ROM_BINDING = re.compile(r"^[ \t]*#pragma HLS (?:RESOURCE\b[^\n]*\bcore=ROM|BIND_STORAGE\b[^\n]*\btype=rom)[^\n]*\n",
                         re.M | re.I)


def patch_firmware_for_ip(firmware: Path, external: bool) -> None:
    """myproject is not the top in the IP: its INTERFACE pragmas would be ignored with a warning,
    so they go. With external weights the loader writes the weight arrays, so no kernel may bind
    them to a ROM (no write port); the top binds their storage instead (hwsizing.weight_storage)."""
    f = firmware / f"{PROJECT}.cpp"
    f.write_text(_INTERFACE.sub("", f.read_text()))
    if not external:
        return
    for f in sorted(firmware.rglob("*")):
        if f.suffix in (".h", ".cpp") and f.is_file():
            text = f.read_text()
            new = ROM_BINDING.sub(lambda m: m.group(0)[:len(m.group(0)) - len(m.group(0).lstrip())]
                                  + "// nnaccel: ROM binding removed, the weight loader writes this array\n", text)
            if new != text:
                f.write_text(new)
