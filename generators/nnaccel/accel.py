"""`nnaccel ip`: write the accelerator IP directory (docs/contracts.md) for a configuration."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__, hls, hwsizing, limits, multi_io as mio, progress, regmap as rm, render, report as rpt, swgen
from .config import Config
from .csim import load_npy
from .errors import ConfigError
from .layer_facts import model_facts
from .npsim.describe import describe_layers
from .reference import reference_outputs
from .staging import copy_tree, staged_dir
from .weights import image as wimage
from .weights.layout import layout_from_graph
from .weights.quantise import parse_hls_type

SCHEMA = 1
VENDOR, LIBRARY = "nnaccel", "hls"
TB_SEED = 1234


def word_info(cpp: str) -> dict:
    """The data-word description drivers use to encode and decode values."""
    if cpp == "float":
        return {"type": "float", "cpp": "float", "bits": 32, "bytes": 4}
    t = parse_hls_type(cpp)
    return {"type": t.cpp(), "cpp": t.cpp(), "bits": t.width, "bytes": t.width // 8, "signed": t.signed,
            "integer": t.integer, "rounding": t.rounding, "saturation": t.saturation}


def ports(cfg: Config, in_word: dict, out_word: dict) -> list[dict]:
    out = [{"name": "s_axi_control", "kind": "s_axilite", "role": "control"}]
    if cfg.interface == "axi_master":
        # The pointers are data words; Vitis HLS may widen accesses up to bus_width (not promised).
        port = hwsizing.data_port(cfg.bus_width, in_word["bits"], out_word["bits"], 1, 1)
        out.append({"name": "m_axi_gmem_data", "kind": "m_axi", "role": "data", "width": port["element_bits"],
                    "max_widen_bitwidth": cfg.bus_width})
    if cfg.interface == "axi_stream":
        out.append({"name": "in_stream", "kind": "axis_slave", "role": "data_in", "width": in_word["bits"]})
        out.append({"name": "out_stream", "kind": "axis_master", "role": "data_out", "width": out_word["bits"]})
    if cfg.external:
        out.append({"name": "m_axi_gmem_w", "kind": "m_axi", "role": "weights", "width": cfg.bus_width,
                    "read_only": True})
    return out


@dataclass
class IpResult:
    out_dir: Path
    description: dict
    report: dict


def tb_inputs(cfg: Config, shape: tuple) -> np.ndarray:
    if cfg.tb_input is not None:
        x = load_npy(cfg.tb_input, "tb_input")
        if x.ndim < 1 or int(np.prod(x.shape[1:])) != int(np.prod(shape)):
            raise ConfigError(f"tb_input: shape {x.shape} does not hold samples of shape {shape}")
        return np.ascontiguousarray(x[: cfg.tb_samples].reshape((-1, *shape)), dtype=np.float32)
    rng = np.random.default_rng(TB_SEED)
    return rng.standard_normal((cfg.tb_samples, *shape)).astype(np.float32)


def tb_labels(cfg: Config, n: int) -> np.ndarray | None:
    if cfg.tb_labels is None:
        return None
    if cfg.tb_input is None:
        raise ConfigError("tb_labels: labels need the inputs they belong to; set tb_input as well")
    labels = load_npy(cfg.tb_labels, "tb_labels")
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) < n:
        raise ConfigError(f"tb_labels: expected at least {n} integer labels in a 1-D array, got {labels.dtype} {labels.shape}")
    return labels[:n].astype(np.int64)


def generate_ip(cfg: Config, out_dir: Path, log=print, reference: bool = True, force: bool = False,
                inputs=()) -> IpResult:
    """Convert, lay out the weights, render the top and its companions, and move
    the finished directory into place. `reference`: store hls4ml's predict() outputs
    for the test vectors (compiling hls4ml's model takes seconds; a block design that
    only needs the inputs for its self-test app skips it). out_dir must be new, empty or
    an earlier IP directory (`force`: any directory), and never one holding the inputs
    (the configuration's files and `inputs`, e.g. the configuration file)."""
    out_dir = Path(out_dir)
    protected = [cfg.model, cfg.model_weights, cfg.tb_input, cfg.tb_labels, *inputs]
    with staged_dir(out_dir, inputs=protected, force=force) as stage, \
            tempfile.TemporaryDirectory(prefix="nnaccel-hls4ml-") as work:
        prj = Path(work) / "prj"
        with progress.step(log, "converting with hls4ml"):
            hm = hls.convert(cfg, prj)
            if cfg.external:
                hls.make_value_independent(hm)
        facts = model_facts(hm, cfg.io_type)
        # refuse before the seconds of compiling a reference the board could never hold
        rpt.guard(rpt.build(facts, rpt.basis(cfg), "", None, 0), cfg.external, cfg.allow_over_budget)

        in_ports = hls.data_ports(hm.get_input_variables())
        out_ports = hls.data_ports(hm.get_output_variables())
        # several tensors travel (and are stored as test vectors) end to end per sample
        in_port, out_port = hls.concatenated(in_ports, "inputs"), hls.concatenated(out_ports, "outputs")
        multi_io = len(in_ports) > 1 or len(out_ports) > 1
        x = tb_inputs(cfg, in_port.shape) if cfg.tb_samples > 0 else None
        labels = tb_labels(cfg, len(x)) if x is not None else None
        verify = limits.refuse_unsupported(hm, cfg.io_type)
        expected = None
        if x is not None and reference:
            # the Keras plausibility check feeds one input array: single-tensor models only
            keras_model = hls.load_keras(cfg.model) if cfg.model.suffix.lower() != ".json" and not multi_io else None
            with progress.step(log, f"compiling hls4ml's reference model for {len(x)} test vectors"):
                expected = reference_outputs(hm, x, cfg.model.name, prj / "firmware", verify, keras_model)
            expected = expected.reshape(len(x), -1)
        elif verify:
            e, layer = verify[0]
            raise ConfigError(f"layer {layer}: {e['message']}; nnaccel accepts such a model only after checking "
                              f"hls4ml's outputs against Keras (`nnaccel ip` with tb_samples > 0), or use {e['instead']}")
        else:
            with hls.quiet():
                hm.write()

        layout = layout_from_graph(hm, cfg.bus_width)
        for v in layout["variables"]:
            if v["width"] > cfg.bus_width:
                raise ConfigError(f"bus_width: {cfg.bus_width} is narrower than variable {v['name']} "
                                  f"({v['hls_type']}); use a wider bus")

        in_word, out_word = word_info(cfg.input_type), word_info(cfg.output_type)
        in_bytes = [cfg.lite_max_batch * p.size * in_word["bytes"] for p in in_ports]
        out_bytes = [cfg.lite_max_batch * p.size * out_word["bytes"] for p in out_ports]
        regs = rm.build_regmap(cfg.interface, cfg.external, *((in_bytes, out_bytes) if multi_io
                                                              else (in_bytes[0], out_bytes[0])),
                               banks=cfg.weight_banks)

        hls_dir = stage / "hls"
        copy_tree(prj / "firmware", hls_dir / "firmware", ignore=shutil.ignore_patterns("ap_types", "*.so", "*.o"))
        if cfg.external:
            hls.patch_for_external_weights(hls_dir / "firmware", hm)
        hls.patch_firmware_for_ip(hls_dir / "firmware", cfg.external)

        report = {"n_values": layout["n_values"], "n_variables": len(layout["variables"])}
        if cfg.external:
            values = [hls.weight_values(v) for v in hm.get_weight_variables()]
            img, img_report = wimage.build_image(layout, values, cfg.weight_format)
            (stage / "weights.bin").write_bytes(img)
            report["image"] = img_report

        description = describe(cfg, in_port, out_port, in_word, out_word, layout, regs, reference)
        if multi_io:
            description.update(mio.tensors_description(in_ports, out_ports, in_word, out_word, regs, cfg.interface))
        ctx = template_context(cfg, description, layout, regs, in_port, out_port, hm)
        ctx.update(mio.template_context(cfg, description, hm, in_ports, out_ports, regs))
        render.write(hls_dir / f"{cfg.top}.h", "ip/top.h.j2", **ctx)
        render.write(hls_dir / f"{cfg.top}.cpp", "ip/top.cpp.j2", **ctx)
        render.write(hls_dir / "build_hls.tcl", "ip/build_hls.tcl.j2", **ctx)
        render.write(stage / "csim" / "csim_bridge.cpp", "ip/csim_bridge.cpp.j2", **ctx)
        render.write(stage / "csim" / "include" / "ap_axi_sdata.h", "ip/ap_axi_sdata.h.j2", **ctx)
        render.write(stage / f"{cfg.top}_regs.h", "ip/regs.h.j2", **ctx)
        render.write_json(stage / "regmap.json", regs)
        render.write_json(stage / "weights_layout.json", layout)
        render.write_json(stage / "layers.json", describe_layers(hm))  # for the numpy engine (npsim)
        for name, data in (("tb_input", x), ("tb_expected", expected), ("tb_labels", labels)):
            if data is not None:
                (stage / "tb").mkdir(exist_ok=True)
                np.save(stage / "tb" / f"{name}.npy", data)
        render.write_json(stage / "nnaccel.json", description)
        image_bytes = (stage / "weights.bin").stat().st_size if cfg.external else None
        estimates = rpt.build(facts, description, (hls_dir / f"{cfg.top}.cpp").read_text(), image_bytes,
                              wimage.HEADER_BYTES)
        rpt.guard(estimates, cfg.external, cfg.allow_over_budget)  # now with the m_axi buffers
        rpt.write(stage, estimates)
        report["estimate"] = estimates
        log(rpt.summary_line(estimates))
        swgen.write_model_header(stage, stage)  # the drivers' per-model facts, generated with the IP
        write_core(stage, cfg, description)
    return IpResult(out_dir=out_dir, description=description, report=report)


def describe(cfg, in_port, out_port, in_word, out_word, layout, regs, reference: bool = True) -> dict:
    d = {
        "schema": SCHEMA, "nnaccel_version": __version__, "top": cfg.top, "vlnv": cfg.vlnv,
        "interface": cfg.interface, "weights": cfg.weights, "weight_format": cfg.weight_format,
        "io_type": cfg.io_type, "bus_width": cfg.bus_width, "part": cfg.part, "board": cfg.board,
        "clock_period": cfg.clock_period, "n_inputs": in_port.size, "n_outputs": out_port.size,
        "input_shape": list(in_port.shape), "output_shape": list(out_port.shape),
        "input_word": in_word, "output_word": out_word,
        "lite_max_batch": cfg.lite_max_batch if cfg.interface == "axi_lite" else None,
        "fingerprint": layout["fingerprint"], "n_weight_values": layout["n_values"],
        "ports": ports(cfg, in_word, out_word),
        "clock": "ap_clk", "reset": "ap_rst_n", "interrupt": "interrupt",
        "files": {
            "regmap": "regmap.json", "regs_header": f"{cfg.top}_regs.h", "layout": "weights_layout.json",
            "image": "weights.bin" if cfg.external else None, "csim_bridge": "csim/csim_bridge.cpp",
            "hls_script": "hls/build_hls.tcl", "hls_top": f"hls/{cfg.top}.cpp",
            # Relative to the directory Vitis HLS runs in (build_hls.tcl keeps its project there).
            "hls_ip_repo": f"{cfg.top}_prj/solution1/impl/ip",
            "model_header": f"{cfg.top}_model.h",
            "tb_input": "tb/tb_input.npy" if cfg.tb_samples else None,
            "tb_expected": "tb/tb_expected.npy" if cfg.tb_samples and reference else None,
            "tb_labels": "tb/tb_labels.npy" if cfg.tb_samples and cfg.tb_labels else None,
        },
        "config": cfg.to_dict(),
    }
    if cfg.weight_banks > 1:
        d["weight_banks"] = cfg.weight_banks
    return d


def template_context(cfg, description, layout, regs, in_port, out_port, hm) -> dict:
    in_var, out_var = hm.get_input_variables()[0], hm.get_output_variables()[0]
    in_word, out_word = description["input_word"], description["output_word"]
    native_widths = [v["width"] for v in layout["variables"]] or [1]
    return {
        "storage": hwsizing.weight_storage(hm, cfg.weight_banks) if cfg.external else {},
        "banks": cfg.weight_banks,
        "weight_port": hwsizing.weight_port(cfg.bus_width, layout["encodings"]["float32"]["words"]),
        "data_port": hwsizing.data_port(cfg.bus_width, in_word["bits"], out_word["bits"], in_port.size, out_port.size),
        "max_batch": cfg.lite_max_batch if cfg.interface == "axi_lite" else hwsizing.REPORT_BATCH,
        "max_native_width": max(native_widths),
        # read_bits inserts a word at an offset below the widest value it reads
        "shift_bits": max(max(native_widths), 32).bit_length(),
        "in_pack": mio.pack_size(in_var.type), "out_pack": mio.pack_size(out_var.type),
        "version": __version__, "top": cfg.top, "guard": cfg.top.upper(), "vlnv": cfg.vlnv,
        "vendor": VENDOR, "library": LIBRARY, "ip_version": cfg.version,
        "interface": cfg.interface, "weights": cfg.weights, "external": cfg.external, "io_type": cfg.io_type,
        "bus_width": cfg.bus_width, "part": cfg.part, "clock_period": cfg.clock_period,
        "n_inputs": in_port.size, "n_outputs": out_port.size,
        "in_type": hm.get_input_variables()[0].type.name, "out_type": hm.get_output_variables()[0].type.name,
        "in_word": description["input_word"], "out_word": description["output_word"],
        "lite_max_batch": cfg.lite_max_batch,
        "cosim_batch": max(1, cfg.tb_samples),  # m_axi depth: what C/RTL co-simulation may address
        "lite_in_regs": -(-cfg.lite_max_batch * in_port.size * description["input_word"]["bytes"] // 4),
        "lite_out_regs": -(-cfg.lite_max_batch * out_port.size * description["output_word"]["bytes"] // 4),
        "regmap": regs, "reg": {r["name"]: "0x%02X" % r["offset"] for r in regs["registers"]},
        "fingerprint": layout["fingerprint"], "layout": layout,
        "image": {"magic": wimage.MAGIC, "version": wimage.VERSION, "header_bytes": wimage.HEADER_BYTES},
        "header_words": wimage.HEADER_BYTES * 8 // cfg.bus_width,
        "files": description["files"], "model_name": cfg.model.name,
    }


def write_core(stage: Path, cfg: Config, description: dict) -> Path:
    def rel(paths):
        return sorted(p.relative_to(stage).as_posix() for p in paths if p.is_file())

    hls_files = rel((stage / "hls").rglob("*"))
    ctx = {
        "vlnv": cfg.vlnv, "top": cfg.top, "interface": cfg.interface, "weights": cfg.weights,
        "io_type": cfg.io_type, "bus_width": cfg.bus_width, "model_name": cfg.model.name,
        "files": description["files"],
        "hls_sources": [f for f in hls_files if f.endswith(".cpp")],
        "hls_headers": [f for f in hls_files if f.endswith(".h")],
        "meta_files": [f for f in ["nnaccel.json", "regmap.json", "weights_layout.json", "layers.json",
                                   "weights.bin", "report.json", "report.md"]
                       if (stage / f).is_file()],
        "csim_files": rel((stage / "csim").rglob("*")),
        "tb_files": rel((stage / "tb").rglob("*")) if (stage / "tb").is_dir() else [],
    }
    return render.write(stage / f"{cfg.top}.core", "ip/ip.core.j2", **ctx)
