"""C-simulation: build an IP directory's accelerator with g++ into a shared
library (cached by content hash) and drive it the way the hardware is driven:
load the weight image through the weights port, then process the batch."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np

from . import isolate, progress
from .errors import InputError, NnaccelError
from .regmap import COMMANDS, ERRORS
from .resources import cache_root
from .weights import image as wimage
from .weights.quantise import parse_hls_type, quantise, to_real

CXXFLAGS = ["-O2", "-std=c++17", "-fPIC", "-shared", "-w"]
ERROR_NAMES = {v: k for k, v in ERRORS.items()}
PROGRESS_CHUNK = 256  # samples per start when a progress bar follows a large batch
REG_NAMES = ("STATUS", "LAST_ERROR", "FINGERPRINT", "IDENT", "SAMPLES_DONE")


def ap_types_dir() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


def read_description(ip_dir: Path) -> dict:
    p = Path(ip_dir) / "nnaccel.json"
    if not p.is_file():
        raise NnaccelError(f"{ip_dir}: no nnaccel.json here; give a directory written by `nnaccel ip`")
    return json.loads(p.read_text())


def _sources(ip_dir: Path, desc: dict) -> list[Path]:
    return [ip_dir / "hls" / "firmware" / "myproject.cpp", ip_dir / desc["files"]["hls_top"],
            ip_dir / desc["files"]["csim_bridge"]]


def compile_command(ip_dir: Path, out: Path, flags=CXXFLAGS) -> list[str]:
    """The g++ command that builds the C-simulation library of an IP (tests add sanitizer flags)."""
    ip_dir = Path(ip_dir).resolve()
    return ["g++", *flags,
            f"-I{ip_dir / 'csim' / 'include'}", f"-I{ip_dir / 'hls'}", f"-I{ip_dir / 'hls' / 'firmware'}",
            f"-I{ap_types_dir()}", *map(str, _sources(ip_dir, read_description(ip_dir))), "-o", str(out)]


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
    proc = subprocess.run(compile_command(ip_dir, tmp), capture_output=True, text=True)
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


DEFAULT_TIMEOUT = 60.0  # seconds a start may take per 1000 samples (at least one such allowance)
TIMEOUT_ENV = "NNACCEL_CSIM_TIMEOUT"  # overrides it everywhere (ip's reference, FuseSoC's csim target)


def default_timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV)
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise NnaccelError(f"{TIMEOUT_ENV}={text!r}: expected a positive number of seconds per 1000 samples")
    return value
START_SYMBOL = "nnaccel_csim_start"


def start_request(command: int, n_samples: int, in_words: bytes | None, out_size: int, weights: bytes | None):
    """The worker request for one start of the bridge's C ABI (csim/csim_bridge.cpp):
    int nnaccel_csim_start(u32 command, u32 n, const void *in, void *out, const void *weights, u32 regs[5])."""
    return ("call", START_SYMBOL, "int", [("u32", command), ("u32", n_samples), ("in", in_words or b"\0"),
                                          ("out", out_size), ("in", weights), ("out", 4 * len(REG_NAMES))])


def start_result(reply) -> tuple[int, dict, bytes]:
    _, rc, (out, regs) = reply
    return rc, dict(zip(REG_NAMES, np.frombuffer(regs, "<u4").tolist())), out


BANKED_SYMBOL = "nnaccel_csim_start_banked"  # only in the bridge of an IP with weight_banks > 1
BANKED_REG_NAMES = REG_NAMES + ("BANKS_VALID",)


def start_request_banked(command: int, n_samples: int, in_words: bytes | None, out_size: int, weights: bytes | None,
                         load_bank: int, active_bank: int):
    """A start with LOAD_BANK and ACTIVE_BANK written first (csim/csim_bridge.cpp):
    int nnaccel_csim_start_banked(u32 command, u32 n, const void *in, void *out, const void *weights,
                                  u32 load_bank, u32 active_bank, u32 regs[6])."""
    return ("call", BANKED_SYMBOL, "int", [("u32", command), ("u32", n_samples), ("in", in_words or b"\0"),
                                           ("out", out_size), ("in", weights), ("u32", load_bank),
                                           ("u32", active_bank), ("out", 4 * len(BANKED_REG_NAMES))])


def start_result_banked(reply) -> tuple[int, dict, bytes]:
    _, rc, (out, regs) = reply
    return rc, dict(zip(BANKED_REG_NAMES, np.frombuffer(regs, "<u4").tolist())), out


class CsimAccelerator:
    """One simulated accelerator: `jobs` worker processes (nnaccel.isolate), each with its own copy
    of the library, so its on-chip weight storage starts empty like a freshly programmed device.
    The weight image last loaded is replayed into a worker that starts later or restarts after a
    crash, so every worker holds the same state. `timeout`: seconds per start per 1000 samples."""

    def __init__(self, ip_dir: Path, jobs: int | None = None, timeout: float | None = None):
        self.ip_dir = Path(ip_dir)
        self.desc = read_description(self.ip_dir)
        self.library = build_csim_library(self.ip_dir)
        self.jobs = max(1, jobs or isolate.default_jobs())
        self.timeout = timeout or default_timeout()
        model = Path(self.desc.get("config", {}).get("model") or self.desc["top"]).name
        self.what = f"C-simulation of {model} ({self.desc['top']})"
        self._workers: list[isolate.Worker] = []
        self._image: bytes | None = None  # what the last LOAD_WEIGHTS start carried
        self.banks = int(self.desc.get("weight_banks") or 1)
        # after start_banked: ({bank: image of its last good load}, LOAD_BANK, ACTIVE_BANK), replayed into
        # every worker
        self._bank_state: tuple | None = None

    def timeout_for(self, n_samples: int) -> float:
        return self.timeout * max(1.0, n_samples / 1000)

    def _worker(self, k: int) -> isolate.Worker:
        """Worker k, started (and given the current weights) if it is not running."""
        while len(self._workers) <= k:
            self._workers.append(isolate.Worker(self.library, self.what, self.ip_dir / "hls" / "firmware"))
        w = self._workers[k]
        w.ensure(self.timeout)
        if self._bank_state is not None:
            if w.state is not self._bank_state:
                self._replay_banks(w)
            return w
        if self._image is not None and w.state is not self._image:
            w.request(start_request(COMMANDS["LOAD_WEIGHTS"], 0, None, 0, self._image),
                      self.timeout_for(1), "loading the weights")
            w.state = self._image
        return w

    def close(self) -> None:
        for w in self._workers:
            w.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _replay_banks(self, w: isolate.Worker) -> None:
        """Every bank's last good image into its bank, then the registers as the host last wrote them."""
        images, load_bank, active = self._bank_state
        for bank, image in sorted(images.items()):
            w.request(start_request_banked(COMMANDS["LOAD_WEIGHTS"], 0, None, 0, image, bank, active),
                      self.timeout_for(1), f"loading the weights of bank {bank}")
        # COMMAND 0 does nothing but leave the bank registers as the host last wrote them
        w.request(start_request_banked(0, 0, None, 0, None, load_bank, active), self.timeout_for(1), "a probe")
        w.state = self._bank_state

    def start_banked(self, command: int, load_bank: int, active_bank: int, n_samples: int = 0,
                     in_words: bytes | None = None, out_size: int = 0, weights: bytes | None = None) -> tuple[dict, bytes]:
        """One start with LOAD_BANK / ACTIVE_BANK written first (weight_banks > 1); regs include
        BANKS_VALID. Later starts and predict() keep these register values, as the hardware does."""
        if self.banks < 2:
            raise NnaccelError(f"{self.what}: this IP has one weight bank; it has no bank registers")
        if self._bank_state is None:  # a plain LOAD before went to bank 0 (the registers' reset value)
            self._bank_state = ({0: self._image} if self._image is not None else {}, 0, 0)
        w = self._worker(0)
        rc, regs, out = start_result_banked(w.request(
            start_request_banked(command, n_samples, in_words, out_size, weights, load_bank, active_bank),
            self.timeout_for(n_samples), f"a start of {n_samples} samples"))
        images = dict(self._bank_state[0])
        if command & COMMANDS["LOAD_WEIGHTS"] and load_bank < self.banks:
            if not regs["BANKS_VALID"] >> load_bank & 1:
                images.pop(load_bank, None)
            elif regs["LAST_ERROR"] == ERRORS["OK"]:
                images[load_bank] = weights  # (a refused header leaves the bank as it was)
        self._bank_state = w.state = (images, load_bank, active_bank)
        self._protocol(rc)
        return regs, out

    # -- raw starts --
    def start(self, command: int, n_samples: int = 0, in_words: bytes | None = None,
              out_size: int = 0, weights: bytes | None = None) -> tuple[dict, bytes]:
        if self._bank_state is not None:  # keep the bank registers (and the replayed banks) as they are
            _, load_bank, active = self._bank_state
            return self.start_banked(command, load_bank, active, n_samples, in_words, out_size, weights)
        if command == COMMANDS["LOAD_WEIGHTS"]:
            self._image = None  # this start loads them into worker 0; the others replay it when used
        w = self._worker(0)
        rc, regs, out = start_result(w.request(start_request(command, n_samples, in_words, out_size, weights),
                                               self.timeout_for(n_samples), f"a start of {n_samples} samples"))
        if command == COMMANDS["LOAD_WEIGHTS"] and weights is not None:
            self._image = w.state = weights
        self._protocol(rc)
        return regs, out

    def _protocol(self, rc: int) -> None:
        if rc != 0:
            raise NnaccelError(f"{self.what}: the data path broke its protocol (code {rc})")

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

    def chunk_size(self, n: int, jobs: int) -> int:
        """Samples per start: the register file's limit for axi_lite; otherwise enough starts for
        every worker and about 16 per worker (a progress bar moves, a slow worker does not hold
        everyone up), at least PROGRESS_CHUNK samples each. Samples are independent: any split
        gives the same outputs."""
        if self.desc["lite_max_batch"]:
            return self.desc["lite_max_batch"]
        per_worker = -(-n // jobs)
        return max(1, min(per_worker, max(PROGRESS_CHUNK, -(-n // (16 * jobs)))))

    def predict(self, x: np.ndarray, progress=None) -> np.ndarray:
        """`progress(done)` after each start. The batch is split across the workers; outputs in order."""
        d = self.desc
        x = check_input(x, d)
        n = len(x)
        if n == 0:
            return np.zeros((0, *d["output_shape"]), np.float32)
        jobs = min(self.jobs, -(-n // self.chunk_size(n, self.jobs)))
        batch = self.chunk_size(n, jobs)
        in_words = encode_words(x, d["input_word"])
        in_sample = len(in_words) // n
        out_sample = d["n_outputs"] * d["output_word"]["bytes"]
        bounds = [(i, min(n, i + batch)) for i in range(0, n, batch)]
        reqs = [start_request(COMMANDS["RUN"], b - a, in_words[a * in_sample:b * in_sample], (b - a) * out_sample,
                              None) for a, b in bounds]
        workers = [self._worker(k) for k in range(jobs)]
        done = [0]

        def finished(i, reply):
            done[0] += bounds[i][1] - bounds[i][0]
            if progress:
                progress(done[0])

        replies = isolate.run_all(workers, reqs, lambda r: self.timeout_for(r[3][1][1]),
                                  f"a start of up to {batch} samples", finished)
        raw = []
        for reply in replies:
            rc, regs, out = start_result(reply)
            self._protocol(rc)
            self._check(regs, "running inference")
            raw.append(out)
        return decode_words(b"".join(raw), d["output_word"]).reshape((n, *d["output_shape"]))


    def predict_tensors(self, xs) -> list[np.ndarray]:
        """A multi-input/multi-output model: one array per input tensor (N, *shape) in, one per
        output tensor out (the description's order). Any model: a one-tensor model takes [x]."""
        return split_outputs(self.predict(join_inputs(xs, self.desc)), self.desc)


def tensors(desc: dict, side: str) -> list[dict]:
    """The description's `inputs`/`outputs` list; a single-tensor description has none, so its one
    tensor is made from input_shape/output_shape."""
    if side in desc:
        return desc[side]
    shape = desc["input_shape"] if side == "inputs" else desc["output_shape"]
    return [{"name": side[:-1], "shape": shape, "n_values": int(np.prod(shape)), "stream_offset": 0}]


def join_inputs(xs, desc: dict) -> np.ndarray:
    """One array per input tensor -> the (N, n_inputs) rows the data path carries: per sample, the
    tensors end to end in the description's order."""
    ts = tensors(desc, "inputs")
    if not isinstance(xs, (list, tuple)) or len(xs) != len(ts):
        raise InputError(f"input: expected a list of {len(ts)} arrays, one per input tensor "
                         f"({', '.join(t['name'] for t in ts)})")
    rows = []
    for x, t in zip(xs, ts):
        x = check_input(x, {"input_shape": t["shape"], "n_inputs": t["n_values"]})
        rows.append(x.reshape(len(x), -1))
    if len({len(r) for r in rows}) != 1:
        counts = ", ".join(str(len(r)) for r in rows)
        raise InputError(f"input: the arrays hold different numbers of samples ({counts})")
    return np.concatenate(rows, axis=1)


def split_outputs(y: np.ndarray, desc: dict) -> list[np.ndarray]:
    """(N, n_outputs) rows -> one array per output tensor, shaped (N, *shape)."""
    y = y.reshape(len(y), -1)
    return [y[:, t["stream_offset"]:t["stream_offset"] + t["n_values"]].reshape((len(y), *t["shape"]))
            for t in tensors(desc, "outputs")]


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


def open_csim(ip_dir: Path, image: bytes | None = None, log=None, jobs: int | None = None,
              timeout: float | None = None) -> CsimAccelerator:
    """A CsimAccelerator with the weight image loaded (the IP's own unless given)."""
    if log is None:
        acc = CsimAccelerator(ip_dir, jobs, timeout)
    else:
        with progress.step(log, "building the C-simulation with g++"):
            acc = CsimAccelerator(ip_dir, jobs, timeout)
    if acc.desc["weights"] == "external":
        if image is None:
            image = (Path(ip_dir) / acc.desc["files"]["image"]).read_bytes()
        acc.load_weights(image)
    elif image is not None:
        raise NnaccelError("--weights: this IP has embedded weights; it takes no weight image")
    return acc


def simulate_batch(acc: CsimAccelerator, x: np.ndarray, log=None) -> np.ndarray:
    if log is None:
        return acc.predict(x)
    with progress.step(log, f"simulating {len(x)} samples"):
        return acc.predict(x, progress.bar(log, "simulating", len(x)))


def run_csim(ip_dir: Path, x: np.ndarray, image: bytes | None = None, log=None, jobs: int | None = None,
             timeout: float | None = None, engine: str = "c") -> np.ndarray:
    """Load the weight image (the IP's own unless given), then process the whole batch on `jobs`
    worker processes. `log`: a progress log (nnaccel.progress) for the g++ build and the samples.
    `engine`: 'c' (g++), 'numpy' (nnaccel.npsim, bit-exact, vectorised) or 'auto' (numpy if it covers the IP)."""
    from .npsim import model as npsim

    if npsim.choose(ip_dir, engine) == "numpy":
        return npsim.run(ip_dir, x, image, log)
    acc = open_csim(ip_dir, image, log, jobs, timeout)
    try:
        return simulate_batch(acc, x, log)
    finally:
        acc.close()
