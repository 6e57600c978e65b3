"""C-simulation: build an IP directory's accelerator with g++ into a shared
library (cached by content hash) and drive it the way the hardware is driven:
load the weight image through the weights port, then process the batch."""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import progress
from .errors import InputError, NnaccelError
from .regmap import COMMANDS, ERRORS
from .weights import image as wimage
from .weights.quantise import parse_hls_type, quantise, to_real

CXXFLAGS = ["-O2", "-std=c++17", "-fPIC", "-shared", "-w"]
ERROR_NAMES = {v: k for k, v in ERRORS.items()}
PROGRESS_CHUNK = 256  # samples per start when a progress bar follows a large batch
REG_NAMES = ("STATUS", "LAST_ERROR", "FINGERPRINT", "IDENT", "SAMPLES_DONE")


def ap_types_dir() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


def cache_root() -> Path:
    root = os.environ.get("NNACCEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nnaccel")
    return Path(root)


def read_description(ip_dir: Path) -> dict:
    p = Path(ip_dir) / "nnaccel.json"
    if not p.is_file():
        raise NnaccelError(f"{ip_dir}: no nnaccel.json here; give a directory written by `nnaccel ip`")
    return json.loads(p.read_text())


def _sources(ip_dir: Path, desc: dict) -> list[Path]:
    return [ip_dir / "hls" / "firmware" / "myproject.cpp", ip_dir / desc["files"]["hls_top"],
            ip_dir / desc["files"]["csim_bridge"]]


def build_csim_library(ip_dir: Path) -> Path:
    """Compile once per distinct set of sources; later calls return the cached library."""
    ip_dir = Path(ip_dir).resolve()
    desc = read_description(ip_dir)
    h = hashlib.sha256()
    inputs = sorted(p for d in ("hls", "csim") for p in (ip_dir / d).rglob("*") if p.is_file())
    for p in inputs:
        h.update(p.relative_to(ip_dir).as_posix().encode() + b"\0" + p.read_bytes())
    h.update(" ".join(CXXFLAGS).encode())
    h.update(_compiler_version().encode())
    h.update(str(ap_types_dir()).encode())  # the ap_types headers of this hls4ml install
    lib = cache_root() / "csim" / f"{desc['top']}-{h.hexdigest()[:20]}.so"
    if lib.is_file():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    cmd = ["g++", *CXXFLAGS,
           f"-I{ip_dir / 'csim' / 'include'}", f"-I{ip_dir / 'hls'}", f"-I{ip_dir / 'hls' / 'firmware'}",
           f"-I{ap_types_dir()}", *map(str, _sources(ip_dir, desc)), "-o", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise NnaccelError(f"g++ could not build the C-simulation of {ip_dir}: "
                           + " | ".join(proc.stderr.strip().splitlines()[:5]))
    os.replace(tmp, lib)
    return lib


def _compiler_version() -> str:
    try:
        return subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        raise NnaccelError("g++ not found: C-simulation needs a C++ compiler on PATH") from None


class CsimAccelerator:
    """One simulated accelerator instance: its own copy of the library, so its
    on-chip weight storage starts empty like a freshly programmed device."""

    def __init__(self, ip_dir: Path):
        self.ip_dir = Path(ip_dir)
        self.desc = read_description(self.ip_dir)
        lib = build_csim_library(self.ip_dir)
        self._tmp = tempfile.TemporaryDirectory(prefix="nnaccel-csim-")
        private = Path(self._tmp.name) / lib.name
        shutil.copy2(lib, private)
        self._lib = ctypes.CDLL(str(private))
        f = self._lib.nnaccel_csim_start
        f.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                      ctypes.POINTER(ctypes.c_uint32)]
        f.restype = ctypes.c_int
        self._start = f

    # -- raw starts --
    def start(self, command: int, n_samples: int = 0, in_words: bytes | None = None,
              out_size: int = 0, weights: bytes | None = None) -> tuple[dict, bytes]:
        regs = (ctypes.c_uint32 * 5)()
        in_buf = ctypes.create_string_buffer(in_words or b"\0", max(1, len(in_words or b"")))
        out_buf = ctypes.create_string_buffer(max(1, out_size))
        w_buf = ctypes.create_string_buffer(weights, len(weights)) if weights is not None else None
        rc = self._start(command, n_samples, in_buf, out_buf, w_buf, regs)
        if rc != 0:
            raise NnaccelError(f"C-simulation of {self.desc['top']}: the data path broke its protocol (code {rc})")
        return dict(zip(REG_NAMES, regs)), out_buf.raw[:out_size]

    def _check(self, regs: dict, what: str) -> None:
        err = regs["LAST_ERROR"]
        if err != ERRORS["OK"]:
            raise NnaccelError(f"{what}: the accelerator reported {ERROR_NAMES.get(err, err)}")

    # -- the way a driver uses it --
    def load_weights(self, image: bytes) -> dict:
        """Host-side checks first (header, CRC), then the LOAD_WEIGHTS start."""
        layout = json.loads((self.ip_dir / "weights_layout.json").read_text())
        wimage.read_image(image, layout)
        regs, _ = self.start(COMMANDS["LOAD_WEIGHTS"], weights=image)
        self._check(regs, "loading weights")
        return regs

    def predict(self, x: np.ndarray, progress=None) -> np.ndarray:
        """`progress(done)` after each start; with it, large batches go in PROGRESS_CHUNK-sample
        starts (samples are independent, so the outputs are the same) so a bar can move."""
        d = self.desc
        x = check_input(x, d)
        n = len(x)
        batch = d["lite_max_batch"] or (min(n, PROGRESS_CHUNK) if progress else n) or 1
        out = []
        for i in range(0, n, batch):
            chunk = x[i:i + batch]
            words = encode_words(chunk, d["input_word"])
            regs, raw = self.start(COMMANDS["RUN"], len(chunk), words,
                                   len(chunk) * d["n_outputs"] * d["output_word"]["bytes"])
            self._check(regs, "running inference")
            out.append(decode_words(raw, d["output_word"]).reshape(len(chunk), d["n_outputs"]))
            if progress:
                progress(i + len(chunk))
        y = np.concatenate(out) if out else np.zeros((0, d["n_outputs"]), np.float32)
        return y.reshape((n, *d["output_shape"]))


def load_npy(value, what: str) -> np.ndarray:
    """A user's .npy file (or an array already in memory), with one-line errors."""
    if value is None or isinstance(value, np.ndarray):
        return value
    try:
        return np.load(value, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{what}: {value} does not exist") from None
    except Exception:
        raise InputError(f"{what}: {value} is not a readable .npy array") from None


def check_input(x, desc: dict) -> np.ndarray:
    x = np.asarray(x)
    shape = tuple(desc["input_shape"])
    if x.dtype.kind not in "fiu":
        raise InputError(f"input: dtype {x.dtype} is not numeric")
    if x.shape == shape:
        x = x[None]
    if x.ndim >= 2 and x.shape[1:] != shape and int(np.prod(x.shape[1:])) == desc["n_inputs"] and x.ndim == 2:
        x = x.reshape((len(x), *shape))
    if x.shape[1:] != shape:
        raise InputError(f"input: shape {x.shape} does not match the model input; expected (N, "
                         f"{', '.join(map(str, shape))}) or (N, {desc['n_inputs']})")
    return x


def encode_words(x: np.ndarray, word: dict) -> bytes:
    flat = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
    if word["type"] == "float":
        return flat.astype("<f4").tobytes()
    bits = quantise(flat, parse_hls_type(word["type"])).bits
    return bits.astype(f"<u{word['bytes']}").tobytes()


def decode_words(raw: bytes, word: dict) -> np.ndarray:
    if word["type"] == "float":
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    bits = np.frombuffer(raw, dtype=f"<u{word['bytes']}").astype(np.uint64)
    return to_real(bits, parse_hls_type(word["type"])).astype(np.float32)


def run_csim(ip_dir: Path, x: np.ndarray, image: bytes | None = None, log=None, engine: str = "c") -> np.ndarray:
    """Load the weight image (the IP's own unless given), then process the whole batch.
    `log`: a progress log (nnaccel.progress) for the g++ build and the sample loop.
    `engine`: 'c' (g++), 'numpy' (nnaccel.npsim, bit-exact, vectorised) or 'auto' (numpy if it covers the IP)."""
    from .npsim import model as npsim

    if npsim.choose(ip_dir, engine) == "numpy":
        return npsim.run(ip_dir, x, image, log)
    if log is None:
        acc = CsimAccelerator(ip_dir)
    else:
        with progress.step(log, "building the C-simulation with g++"):
            acc = CsimAccelerator(ip_dir)
    if acc.desc["weights"] == "external":
        if image is None:
            image = (Path(ip_dir) / acc.desc["files"]["image"]).read_bytes()
        acc.load_weights(image)
    elif image is not None:
        raise NnaccelError("--weights: this IP has embedded weights; it takes no weight image")
    if log is None:
        return acc.predict(x)
    with progress.step(log, f"simulating {len(x)} samples"):
        return acc.predict(x, progress.bar(log, "simulating", len(x)))
