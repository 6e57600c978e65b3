"""Software headers for an IP directory: `<top>_model.h` (the nna_model_t the C driver is
compiled with) and `nna_selftest_data.h` (test vectors, the accelerator's own C-simulation
outputs, Keras outputs, labels, the weight image) for sw/apps/selftest.

`nnaccel header IPDIR -o OUT [-n N] [--input X.npy] [--labels Y.npy] [--no-keras]`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from . import __version__, render
from .csim import CsimAccelerator, check_input, encode_words, load_npy, read_description
from .errors import InputError, NnaccelError
from .regmap import COMMANDS, ERRORS
from .resources import sw_dir
from .staging import staged_dir, staged_file, staged_files

MODEL_TEMPLATE = "sw/model.h.j2"
SELFTEST_TEMPLATE = "sw/selftest_data.h.j2"
SELFTEST_HEADER = "nna_selftest_data.h"

# C enums of nna.h, by the names nnaccel.json uses
INTERFACE_ENUM = {"axi_stream": "NNA_IF_AXI_STREAM", "axi_lite": "NNA_IF_AXI_LITE", "axi_master": "NNA_IF_AXI_MASTER"}
ROUNDING_ENUM = {"AP_TRN": "NNA_Q_TRN", "AP_TRN_ZERO": "NNA_Q_TRN_ZERO", "AP_RND": "NNA_Q_RND",
                 "AP_RND_ZERO": "NNA_Q_RND_ZERO", "AP_RND_MIN_INF": "NNA_Q_RND_MIN_INF",
                 "AP_RND_INF": "NNA_Q_RND_INF", "AP_RND_CONV": "NNA_Q_RND_CONV"}
SATURATION_ENUM = {"AP_WRAP": "NNA_O_WRAP", "AP_SAT": "NNA_O_SAT", "AP_SAT_ZERO": "NNA_O_SAT_ZERO",
                   "AP_SAT_SYM": "NNA_O_SAT_SYM"}
# nna_regmap_t fields in declaration order -> register name in regmap.json
REG_FIELDS = [("ctrl", "CTRL"), ("gie", "GIE"), ("ier", "IER"), ("isr", "ISR"), ("command", "COMMAND"),
              ("n_samples", "N_SAMPLES"), ("in_addr", "IN_ADDR"), ("out_addr", "OUT_ADDR"),
              ("weights_addr", "WEIGHTS_ADDR"), ("status", "STATUS"), ("last_error", "LAST_ERROR"),
              ("fingerprint", "FINGERPRINT"), ("ident", "IDENT"), ("samples_done", "SAMPLES_DONE")]
CTYPES = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t"}
ENCODING_CODES = {"native": 0, "float32": 1}
ABSENT = "NNA_REG_ABSENT"


def read_ip(ip_dir: Path) -> tuple[dict, dict, dict]:
    """nnaccel.json, regmap.json, weights_layout.json of an IP directory."""
    ip_dir = Path(ip_dir)
    out = []
    for name in ("nnaccel.json", "regmap.json", "weights_layout.json"):
        p = ip_dir / name
        if not p.is_file():
            raise NnaccelError(f"{ip_dir}: no {name} here; give a directory written by `nnaccel ip`")
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError) as e:
            raise NnaccelError(f"{p}: not readable JSON ({e})") from None
    return out[0], out[1], out[2]


def word_c(word: dict) -> dict:
    """An nnaccel.json data word as the initialiser fields of nna_word_t."""
    is_float = word["type"] == "float"
    # ap_int<W>(double) truncates toward zero, like a C cast: ap_fixed's AP_TRN_ZERO
    rounding = "AP_TRN_ZERO" if str(word["type"]).startswith(("ap_int", "ap_uint")) else word.get("rounding", "AP_TRN")
    return {
        "type": word["type"], "is_float": int(is_float), "bits": word["bits"], "bytes": word["bytes"],
        "is_signed": int(bool(word.get("signed", True))), "integer": word.get("integer", 0),
        "rounding": ROUNDING_ENUM[rounding],
        "saturation": SATURATION_ENUM[word.get("saturation", "AP_WRAP")],
    }


def model_context(ip_dir: Path) -> dict:
    desc, regmap, layout = read_ip(ip_dir)
    offsets = {r["name"]: r["offset"] for r in regmap["registers"]}
    regs = [(field, f"0x{offsets[name]:02X}u" if name in offsets else ABSENT) for field, name in REG_FIELDS]
    lite_in, lite_out = regmap.get("lite_in_offset"), regmap.get("lite_out_offset")
    regs += [("in_buf", f"0x{lite_in:X}u" if lite_in is not None else ABSENT),
             ("out_buf", f"0x{lite_out:X}u" if lite_out is not None else ABSENT),
             ("address_range", f"0x{regmap['address_range']:X}u")]
    banks = int(regmap.get("weight_banks") or 1)
    regs += [(name.lower(), f"0x{offsets[name]:02X}u" if name in offsets else ABSENT)
             for name in ("LOAD_BANK", "ACTIVE_BANK", "BANKS_VALID")]
    codes = regmap["errors"]
    table = [None] * (max(codes.values()) + 1)
    for name, code in codes.items():
        table[code] = name
    enc = layout["encodings"]
    return {
        "version": __version__, "top": desc["top"], "guard": desc["top"].upper(), "vlnv": desc["vlnv"],
        "model_name": Path(str(desc.get("config", {}).get("model") or "?")).name,
        "interface": desc["interface"], "interface_enum": INTERFACE_ENUM[desc["interface"]],
        "weights": desc["weights"], "external": desc["weights"] == "external", "io_type": desc["io_type"],
        "weight_encoding": ENCODING_CODES[desc.get("weight_format") or "native"],
        "bus_width": desc["bus_width"], "n_inputs": desc["n_inputs"], "n_outputs": desc["n_outputs"],
        "in_word": word_c(desc["input_word"]), "out_word": word_c(desc["output_word"]),
        "lite_max_batch": desc.get("lite_max_batch") or 0,
        "fingerprint": desc["fingerprint"], "ident": regmap["ident"], "address_range": regmap["address_range"],
        "payload_bytes": {k: enc[k]["payload_bytes"] for k in ("native", "float32")},
        "image_bytes": {k: enc[k]["image_bytes"] for k in ("native", "float32")},
        "n_values": layout["n_values"], "commands": regmap["commands"], "status_bits": regmap["status_bits"],
        "regs": regs, "device_errors": table, "regmap_version": regmap["version"], "weight_banks": banks,
        # codes the driver acts on, by their names in regmap.json; an IP without one gets the sentinel
        "error_code": lambda name: f"{codes[name]}u" if name in codes else "NNA_CODE_ABSENT",
        # a multi-input/multi-output IP's tensors (nna_tensor_t); none for a single-tensor IP
        "in_tensors": _tensors_c(desc, offsets, "inputs"), "out_tensors": _tensors_c(desc, offsets, "outputs"),
    }


def _tensors_c(desc: dict, offsets: dict, side: str) -> list[dict]:
    return [{"name": t["name"], "n_values": t["n_values"], "offset": t["stream_offset"],
             "addr_reg": f"0x{offsets[t['register']]:02X}u" if t.get("register") else ABSENT,
             "lite_buf": f"0x{t['lite_offset']:X}u" if t.get("lite_offset") is not None else ABSENT}
            for t in desc.get(side, [])]


def model_header_name(ip_dir: Path) -> str:
    desc, _, _ = read_ip(ip_dir)
    return f"{desc['top']}_model.h"


def write_model_header(ip_dir: Path, out_dir: Path) -> Path:
    ctx = model_context(ip_dir)
    return render.write(Path(out_dir) / f"{ctx['top']}_model.h", MODEL_TEMPLATE, **ctx)


# ---------------------------------------------------------------------------
# self-test data

def _rows(values, fmt, per_row: int) -> list[str]:
    vals = [fmt(v) for v in values]
    return [", ".join(vals[i:i + per_row]) + "," for i in range(0, len(vals), per_row)]


def _f32(v) -> str:
    f = float(np.float32(v))
    if np.isnan(f) or np.isinf(f):
        raise InputError(f"self-test data: value {f} cannot be written as a C float")
    return f"{f:.9e}f"


def selftest_inputs(ip_dir: Path, desc: dict, inputs, n: int | None) -> tuple[np.ndarray, str]:
    source = "the given array"
    if inputs is None:
        rel = (desc.get("files") or {}).get("tb_input")
        if not rel or not (Path(ip_dir) / rel).is_file():
            raise InputError(f"{ip_dir}: the IP has no stored test vectors (tb_samples: 0); give --input X.npy")
        inputs, source = Path(ip_dir) / rel, rel
    elif not isinstance(inputs, np.ndarray):
        source = Path(inputs).name
    x = check_input(load_npy(inputs, "--input"), desc)
    if n is not None:
        if n < 1 or n > len(x):
            raise InputError(f"-n: {n} is not between 1 and the {len(x)} samples available")
        x = x[:n]
    if len(x) == 0:
        raise InputError("--input: no samples")
    return np.ascontiguousarray(x, dtype=np.float32), source


def selftest_labels(ip_dir: Path, desc: dict, labels, n: int) -> np.ndarray | None:
    if labels is None:
        rel = (desc.get("files") or {}).get("tb_labels")
        if not rel or not (Path(ip_dir) / rel).is_file():
            return None
        labels = Path(ip_dir) / rel
    y = load_npy(labels, "--labels")
    if y.ndim == 2 and y.shape[1] > 1:
        y = np.argmax(y, axis=1)  # one-hot labels
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind not in "iu" and not np.array_equal(y, np.round(y)):
        raise InputError(f"--labels: expected class indices or one-hot rows, got {y.dtype} values")
    if len(y) < n:
        raise InputError(f"--labels: {len(y)} labels for {n} samples")
    return y[:n].astype(np.int64)


def csim_output_words(ip_dir: Path, desc: dict, in_words: bytes, n: int) -> bytes:
    """The accelerator's own C-simulation on the raw input words: the bits the hardware must produce."""

    acc = CsimAccelerator(ip_dir)
    if desc["weights"] == "external":
        acc.load_weights((Path(ip_dir) / desc["files"]["image"]).read_bytes())
    batch = desc.get("lite_max_batch") or n
    in_sample = desc["n_inputs"] * desc["input_word"]["bytes"]
    out_sample = desc["n_outputs"] * desc["output_word"]["bytes"]
    out = b""
    for i in range(0, n, batch):
        k = min(batch, n - i)
        regs, raw = acc.start(COMMANDS["RUN"], k, in_words[i * in_sample:(i + k) * in_sample], k * out_sample)
        if regs["LAST_ERROR"] != ERRORS["OK"] or regs["SAMPLES_DONE"] != k:
            raise NnaccelError(f"C-simulation of {desc['top']} failed on the self-test inputs "
                               f"(LAST_ERROR {regs['LAST_ERROR']}, {regs['SAMPLES_DONE']} of {k} samples)")
        out += raw
    return out


def keras_outputs(desc: dict, x: np.ndarray) -> np.ndarray | None:
    from .hls import load_keras

    path = (desc.get("config") or {}).get("model")
    if not path or not Path(path).is_file() or Path(path).suffix.lower() not in (".keras", ".h5", ".hdf5"):
        return None
    model = load_keras(Path(path))
    return np.asarray(model.predict(x, verbose=0), dtype=np.float32).reshape(len(x), -1)


def selftest_context(ip_dir: Path, n: int | None = None, inputs=None, labels=None, keras: bool = True,
                     expected_words: np.ndarray | None = None) -> dict:

    ip_dir = Path(ip_dir)
    desc, _, _ = read_ip(ip_dir)
    x, source = selftest_inputs(ip_dir, desc, inputs, n)
    n = len(x)
    iw, ow = desc["input_word"], desc["output_word"]
    in_words = encode_words(x, iw)
    if expected_words is None:
        expected = np.frombuffer(csim_output_words(ip_dir, desc, in_words, n), dtype=f"<u{ow['bytes']}")
    else:
        expected = np.asarray(expected_words).astype(f"<u{ow['bytes']}").reshape(-1)
        if expected.size != n * desc["n_outputs"]:
            raise InputError(f"expected words: {expected.size} values for {n} samples of {desc['n_outputs']}")
    y_keras = keras_outputs(desc, x) if keras else None
    y_labels = selftest_labels(ip_dir, desc, labels, n)
    hex_digits = 2 * max(iw["bytes"], 1)
    ctx = {
        "version": __version__, "top": desc["top"], "vlnv": desc["vlnv"], "n": n,
        "n_inputs": desc["n_inputs"], "n_outputs": desc["n_outputs"],
        "in_word": iw, "out_word": ow, "in_ctype": CTYPES[iw["bytes"]], "out_ctype": CTYPES[ow["bytes"]],
        "input_source": source, "external": desc["weights"] == "external",
        "inputs": _rows(np.frombuffer(in_words, dtype=f"<u{iw['bytes']}"),
                        lambda v: f"0x{int(v):0{hex_digits}X}u", 8),
        "expected": _rows(expected, lambda v: f"0x{int(v):0{2 * ow['bytes']}X}u", 8),
        "have_keras": y_keras is not None, "keras": _rows(y_keras.reshape(-1), _f32, 6) if y_keras is not None else [],
        "have_labels": y_labels is not None,
        "labels": _rows(y_labels, lambda v: str(int(v)), 16) if y_labels is not None else [],
        "image": [], "image_len": 0,
    }
    parts = [f"inputs (raw {iw['type']} words)",
             f"the outputs the accelerator's C-simulation produced for them (raw {ow['type']} words, "
             "compared bit for bit)"]
    if ctx["have_keras"]:
        parts.append("the Keras model's float outputs")
    if ctx["have_labels"]:
        parts.append("class labels")
    if ctx["external"]:
        parts.append("the IP's weight image")
    ctx["contents"] = ";\n * ".join(parts)
    if ctx["external"]:
        image = (ip_dir / desc["files"]["image"]).read_bytes()
        ctx["image"] = _rows(image, lambda b: f"0x{b:02X}", 16)
        ctx["image_len"] = len(image)
    return ctx


def write_selftest_header(ip_dir: Path, out_dir: Path, **kwargs) -> Path:
    ctx = selftest_context(ip_dir, **kwargs)
    return render.write(Path(out_dir) / SELFTEST_HEADER, SELFTEST_TEMPLATE, **ctx)


def write_sw_headers(ip_dir: Path, out_dir: Path, n: int | None = None, inputs=None, labels=None,
                     keras: bool = True, selftest: bool = True, expected_words=None) -> list[Path]:
    """Both headers into out_dir (created; existing files of the same names replaced), all or nothing."""
    ip_dir, out_dir = Path(ip_dir), Path(out_dir)
    model_ctx = model_context(ip_dir)
    test_ctx = selftest_context(ip_dir, n=n, inputs=inputs, labels=labels, keras=keras,
                                expected_words=expected_words) if selftest else None
    names = [f"{model_ctx['top']}_model.h"] + ([SELFTEST_HEADER] if selftest else [])
    with staged_files(out_dir, names) as stage:
        render.write(stage / names[0], MODEL_TEMPLATE, **model_ctx)
        if test_ctx is not None:
            render.write(stage / SELFTEST_HEADER, SELFTEST_TEMPLATE, **test_ctx)
    return [out_dir / name for name in names]


def add_header_arguments(p) -> None:
    p.add_argument("dir", help="IP directory written by `nnaccel ip`")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="directory for <top>_model.h and nna_selftest_data.h (other files there are left alone)")
    p.add_argument("-n", type=int, default=None, help="number of test vectors (default: all available)")
    p.add_argument("--input", metavar="X.npy", help=".npy of test inputs (default: the IP's tb/tb_input.npy)")
    p.add_argument("--labels", metavar="LABELS.npy", help=".npy of class labels or one-hot rows (default: the IP's tb/tb_labels.npy)")
    p.add_argument("--no-keras", action="store_true", help="leave the Keras outputs out (no TensorFlow import)")
    p.add_argument("--model-only", action="store_true", help="write <top>_model.h only")


def run_header(args) -> int:
    paths = write_sw_headers(Path(args.dir), Path(args.output), n=args.n, inputs=args.input, labels=args.labels,
                             keras=not args.no_keras, selftest=not args.model_only)
    print("nnaccel: wrote " + ", ".join(str(x) for x in paths))
    return 0


def main_header(argv) -> int:
    """`nnaccel header` on its own (the `nnaccel` command registers the same arguments)."""
    p = argparse.ArgumentParser(prog="nnaccel header",
                                description="C headers for the nn_accel driver and the self-test app")
    add_header_arguments(p)
    return run_header(p.parse_args(argv))


# ---------------------------------------------------------------------------
# board software: Vitis application scripts and the Linux device-tree overlay

PS_FAMILIES = Path(__file__).parent / "templates" / "sw" / "ps_families.yml"
SW_ROOT = sw_dir()
# driver + bare-metal HAL + self-test sources a standalone application needs (paths under sw/)
BAREMETAL_SOURCES = ["c/include/nna.h", "c/include/nna_hal.h", "c/include/nna_axidma.h", "c/src/nna.c",
                     "c/src/nna_image.c", "c/src/nna_words.c", "c/hal/baremetal/nna_hal_baremetal.h",
                     "c/hal/baremetal/nna_hal_baremetal.c", "apps/selftest/selftest.c",
                     "apps/selftest/selftest_platform.h", "apps/selftest/platform_baremetal.c"]


def design_facts(design_json: Path, accel: str | None = None) -> dict:
    """Addresses, interrupt and processor of one accelerator from the block design's summary
    (<design>.json written by the block-design generator)."""
    import yaml

    from .boards import load_board

    p = Path(design_json)
    try:
        summary = json.loads(p.read_text())
    except FileNotFoundError:
        raise NnaccelError(f"{p}: no block-design summary here; give the <design>.json the block-design "
                           "generator wrote") from None
    except ValueError as e:
        raise NnaccelError(f"{p}: not valid JSON ({e})") from None
    names = [a["name"] for a in summary.get("accelerators", [])]
    if accel is None:
        if len(names) != 1:
            raise NnaccelError(f"{p}: {len(names)} accelerators ({', '.join(names)}); name one with --accel")
        accel = names[0]
    if accel not in names:
        raise NnaccelError(f"--accel: {accel!r} is not in {p.name}; it has {', '.join(names) or 'none'}")
    ctrl = {(c["kind"], c["accelerator"]): c for c in summary["control"]}
    a = ctrl[("accelerator", accel)]
    dma = ctrl.get(("dma", accel))
    board = load_board(summary["board"])
    families = yaml.safe_load(PS_FAMILIES.read_text())
    if board.ps.kind not in families:
        raise NnaccelError(f"board {board.name}: processing system {board.ps.kind} has no entry in {PS_FAMILIES.name}")
    fam = families[board.ps.kind]
    irq = next(x["interrupt"] for x in summary["accelerators"] if x["name"] == accel)
    return {"accel": accel, "accel_base": a["offset"], "accel_range": a["range"],
            "dma_base": dma["offset"] if dma else 0, "dma_range": dma["range"] if dma else 0,
            "dma_length_bits": summary.get("dma_length_bits") if dma else None,
            "cpu": summary["processor"], "irq_index": irq, "accel_spi": fam["pl_irq_spi"][irq], "family": fam,
            "board": board.name}


def write_vitis_app(ip_dir: Path, design_json: Path, out_dir: Path, xsa: str = "design.xsa",
                    accel: str | None = None, n: int | None = None, keras: bool = False) -> list[Path]:
    """out_dir/src (driver, bare-metal HAL, self-test, generated headers), build_selftest.py
    (`vitis -s`, 2023.2+) and build_selftest.tcl (`xsct`, older releases). All or nothing."""
    ip_dir, out_dir = Path(ip_dir), Path(out_dir)
    facts = design_facts(design_json, accel)
    desc, _, _ = read_ip(ip_dir)
    defines = ["NNA_BAREMETAL", f"NNA_ACCEL_BASEADDR=0x{facts['accel_base']:X}"]
    if facts["dma_base"]:
        defines.append(f"NNA_DMA_BASEADDR=0x{facts['dma_base']:X}")
        if facts["dma_length_bits"]:  # older summaries lack it: the driver keeps the 14-bit default
            defines.append(f"NNA_DMA_LENGTH_BITS={int(facts['dma_length_bits'])}")
    with staged_dir(out_dir, owned=lambda d: (d / "build_selftest.py").is_file()) as stage:
        src = stage / "src"
        src.mkdir()
        for rel in BAREMETAL_SOURCES:
            (src / Path(rel).name).write_bytes((SW_ROOT / rel).read_bytes())
        headers = write_sw_headers(ip_dir, src, n=n, keras=keras)
        sources = sorted([Path(r).name for r in BAREMETAL_SOURCES] + [h.name for h in headers])
        ctx = {"version": __version__, "accel": facts["accel"], "vlnv": desc["vlnv"], "accel_base": facts["accel_base"],
               "dma_base": facts["dma_base"], "cpu": facts["cpu"], "xsa": xsa, "platform": f"{facts['accel']}_platform",
               "domain": f"standalone_{facts['cpu']}", "xsct_domain": facts["family"]["xsct_domain"],
               "app": f"{facts['accel']}_selftest", "sources": sources, "defines": defines}
        render.write(stage / "build_selftest.py", "sw/vitis_app.py.j2", script_name="build_selftest.py", **ctx)
        render.write(stage / "build_selftest.tcl", "sw/xsct_app.tcl.j2", script_name="build_selftest.tcl", **ctx)
    return [out_dir / "build_selftest.py", out_dir / "build_selftest.tcl", out_dir / "src"]


def write_dt_overlay(ip_dir: Path, design_json: Path, out_path: Path, accel: str | None = None,
                     udmabuf_size: int = 4 << 20) -> Path:
    """A device-tree overlay source binding the accelerator (and its DMA) to generic-uio plus a
    u-dma-buf node for the driver's work memory (sw/c/hal/linux)."""
    desc = read_description(ip_dir)
    facts = design_facts(design_json, accel)
    fam = facts["family"]
    cells = int(fam["address_cells"])

    def reg_cells(base: int, size: int) -> str:
        if cells == 1:
            return f"0x{base:x} 0x{size:x}"
        return f"0x{base >> 32:x} 0x{base & 0xFFFFFFFF:x} 0x{size >> 32:x} 0x{size & 0xFFFFFFFF:x}"

    text = render.render("sw/overlay.dtso.j2", version=__version__, vlnv=desc["vlnv"], reg_cells=reg_cells,
                         address_cells=cells, udmabuf_name="udmabuf0", udmabuf_size=udmabuf_size,
                         **{k: v for k, v in facts.items() if k != "family"},
                         **{k: fam[k] for k in ("bus_label", "root_label", "gic_label")})

    with staged_file(Path(out_path)) as tmp:
        tmp.write_text(text)
    return Path(out_path)
