"""The numpy engine: an IP's model evaluated with vectorised integer arithmetic, bit-exact with its
C-simulation for the layers in layers.py, the data path included: input words -> the model's
input type -> layers -> its output type -> output words. Weights come from a weight image
(read_image + the IP's layout), so another image costs no compile."""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..csim import check_input, read_description
from ..errors import NnaccelError
from ..weights import image as wimage
from ..weights.layout import read_layout
from ..weights.quantise import quantise
from . import fixed
from .layers import KINDS, NotCovered

ENGINES = ("c", "numpy", "auto")
SAMPLE_BLOCK = 4096


def _read_layers(ip_dir: Path) -> list[dict]:
    p = Path(ip_dir) / "layers.json"
    if not p.is_file():
        raise NotCovered(f"{ip_dir} has no layers.json (written by `nnaccel ip` of this version); "
                         "generate the IP again")
    return json.loads(p.read_text())["layers"]


def _check_chain(layers: list[dict]) -> None:
    """One input, then each layer reading the one before it."""
    for prev, cur in zip(layers, layers[1:]):
        if cur["kind"] == "unsupported":
            raise NotCovered(f"layer {cur['name']} ({cur['class']}): {cur['reason']}")
        if cur.get("inputs") != [prev["name"]]:
            raise NotCovered(f"layer {cur['name']} ({cur['class']}): reads {cur.get('inputs')}, not only the "
                             "layer before it")
    if not layers or layers[0]["kind"] != "input":
        raise NotCovered("the graph does not start with its input layer")
    for d in layers:
        # an assignment to ap_int rounds like an integer conversion, not like ap_fixed: not reproduced
        for key, value in d.items():
            if isinstance(value, str) and value.startswith(("ap_int<", "ap_uint<")):
                raise NotCovered(f"layer {d['name']}: {key} type {value} is an integer type")


def _check_single_tensor(desc: dict) -> None:
    if "inputs" in desc or "outputs" in desc:
        raise NotCovered(f"{len(desc.get('inputs', [1]))} input and {len(desc.get('outputs', [1]))} output tensors "
                         "(the numpy engine runs single-input, single-output chains)")


def _check_words(desc: dict) -> None:
    out = desc["output_word"]["type"]
    if out != "float" and fixed.typ(out).kind == "int":
        raise NotCovered(f"output word {out}: an assignment to ap_int is not reproduced")


class NumpyModel:
    def __init__(self, ip_dir: Path, image: bytes | None = None):
        self.ip_dir = Path(ip_dir)
        self.desc = read_description(self.ip_dir)
        _check_single_tensor(self.desc)
        self.layers_desc = _read_layers(self.ip_dir)
        _check_chain(self.layers_desc)
        if self.desc["weights"] != "external":
            raise NotCovered("embedded weights (the numpy engine reads weights from a weight image)")
        if image is None:
            image = (self.ip_dir / self.desc["files"]["image"]).read_bytes()
        weights = self._weights(image)
        self.t_in = fixed.typ(self.layers_desc[0]["result"])
        self.t_out = fixed.typ(self.layers_desc[-1]["result"])
        self.steps = [KINDS[d["kind"]](d, weights, self.ip_dir) for d in self.layers_desc[1:]]
        _check_words(self.desc)

    def _weights(self, image: bytes) -> dict:
        """{variable name: (mantissas, type)} from a weight image, checked like the IP checks it."""
        layout = read_layout(self.ip_dir)
        _, patterns = wimage.read_image(image, layout)
        out = {}
        for var, bits in zip(layout["variables"], patterns):
            t = fixed.typ(var["hls_type"])
            if t.kind != "fixed":
                raise NotCovered(f"weight variable {var['name']} has integer type {t}")
            out[var["name"]] = (fixed.from_pattern(bits, t), t)
        return out

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        """What the top does to each input word: `input_t::value_type(word)`."""
        flat = np.asarray(x).reshape(len(x), -1)
        word = self.desc["input_word"]
        if word["type"] == "float":
            return fixed.from_real(flat.astype(np.float32).astype(np.float64), self.t_in)
        tw = fixed.typ(word["type"])
        if tw.kind == "int":  # ap_int(double) truncates toward zero: the quantiser follows the header
            w = fixed.from_pattern(quantise(flat.astype(np.float64).reshape(-1), tw).bits, tw).reshape(flat.shape)
        else:
            w = fixed.from_real(flat.astype(np.float64), tw)
        return fixed.cast(w, tw.fractional, self.t_in)

    def _outputs(self, y: np.ndarray) -> np.ndarray:
        word = self.desc["output_word"]
        if word["type"] == "float":
            return fixed.real(y, self.t_out).astype(np.float32)
        tw = fixed.typ(word["type"])
        return fixed.real(fixed.cast(y, self.t_out.fractional, tw), tw).astype(np.float32)

    def _run(self, x: np.ndarray) -> np.ndarray:
        v = self._inputs(x)
        for step in self.steps:
            v = step(v)
        return self._outputs(v)

    def predict(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Samples are independent: blocks of SAMPLE_BLOCK go through every layer while their data is
        still in cache, on `threads` threads (default: one per core; numpy releases the GIL)."""
        x = check_input(x, self.desc)
        blocks = [x[i:i + SAMPLE_BLOCK] for i in range(0, len(x), SAMPLE_BLOCK)] or [x]
        threads = min(len(blocks), threads or os.cpu_count() or 1)
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                ys = list(pool.map(self._run, blocks))
        else:
            ys = [self._run(b) for b in blocks]
        return np.concatenate(ys).reshape((len(x), *self.desc["output_shape"]))


def coverage(ip_dir: Path) -> str | None:
    """None when the numpy engine covers every layer of this IP, else why not (one line)."""
    try:
        desc = read_description(ip_dir)
        _check_single_tensor(desc)
        layers = _read_layers(ip_dir)
        _check_chain(layers)
        if desc["weights"] != "external":
            raise NotCovered("embedded weights (the numpy engine reads weights from a weight image)")
        _check_words(desc)
        types = {v["name"]: fixed.typ(v["hls_type"]) for v in read_layout(ip_dir)["variables"]}
        for d in layers[1:]:
            KINDS[d["kind"]].check(d, types)
    except NotCovered as e:
        return str(e)
    return None


def load(ip_dir: Path, image: bytes | None = None) -> NumpyModel:
    """The numpy engine for an IP, or a one-line error naming what it does not cover."""
    try:
        return NumpyModel(ip_dir, image)
    except NotCovered as e:
        raise NnaccelError(f"--engine numpy: not covered: {e}; use --engine c") from None


PROGRESS_CHUNK = 8192  # samples per step when a progress bar follows a large batch


def choose(ip_dir: Path, engine: str) -> str:
    """'c' or 'numpy' for --engine c|numpy|auto (auto: numpy when it covers every layer)."""
    if engine not in ENGINES:
        raise NnaccelError(f"--engine: {engine!r} is not an engine; choose from {', '.join(ENGINES)}")
    if engine == "auto":
        return "numpy" if coverage(ip_dir) is None else "c"
    return engine


def run(ip_dir: Path, x: np.ndarray, image: bytes | None = None, log=None) -> np.ndarray:
    """run_csim's numpy engine: same inputs, same outputs, bit for bit."""
    from .. import progress

    if log is None:
        return load(ip_dir, image).predict(x)
    with progress.step(log, "preparing the numpy engine"):
        model = load(ip_dir, image)
    x = check_input(x, model.desc)
    update = progress.bar(log, "simulating", len(x))
    out = []
    with progress.step(log, f"simulating {len(x)} samples (numpy engine)"):
        for i in range(0, len(x), PROGRESS_CHUNK):
            out.append(model.predict(x[i:i + PROGRESS_CHUNK]))
            if update:
                update(min(len(x), i + PROGRESS_CHUNK))
    return np.concatenate(out) if out else model.predict(x)
