"""Models with several input or output tensors (docs/hardware.md, "Several input or output
tensors"): their description entries and what the per-tensor template blocks need. A model with
one tensor a side gets none of it, so its IP is what it always was."""
from __future__ import annotations

from . import hwsizing


def pack_size(t) -> int:
    """Values per FIFO word of an io_stream port (hls4ml's PackedType); 1 for io_parallel."""
    return int(getattr(t, "n_elem", 1)) * int(getattr(t, "n_pack", 1) or 1)


def tensors_description(in_ports, out_ports, in_word, out_word, regs, interface) -> dict:
    """The `inputs`/`outputs` lists of a multi-input/multi-output model's description: each
    tensor's name, shape, value count, data word, bytes per sample and where its data goes (its
    address register, axi_lite window or place on the concatenated stream). Single-tensor models
    have no such lists (their description is what it always was)."""

    def entries(ports, word, side):
        out, at = [], 0
        for i, p in enumerate(ports):
            e = {"name": p.name, "shape": list(p.shape), "n_values": p.size, "word": word["type"],
                 "bytes": p.size * word["bytes"], "stream_offset": at}
            if interface == "axi_master":
                e["register"] = f"{side}_ADDR" if i == 0 else f"{side}_ADDR_{i}"
            if interface == "axi_lite":
                e["lite_offset"] = regs[f"lite_{side.lower()}_offsets"][i]
            out.append(e)
            at += p.size
        return out

    return {"inputs": entries(in_ports, in_word, "IN"), "outputs": entries(out_ports, out_word, "OUT")}


def template_context(cfg, description, hm, in_ports, out_ports, regs) -> dict:
    """What top.cpp.j2's per-tensor blocks need; `multi_io` False keeps a single-tensor IP's text as it was."""
    multi = "inputs" in description
    if not multi:
        return {"multi_io": False, "in_tensors": [], "out_tensors": [], "extra_ports": [], "extra_args": "",
                "extra_tensors": []}
    reg = {r["name"]: "0x%02X" % r["offset"] for r in regs["registers"]}

    def tensors(variables, ports, word, side):
        out, at = [], 0
        for i, (v, p) in enumerate(zip(variables, ports)):
            t = {"index": i, "side": side.lower(), "var": v.name, "offset": at, "type": v.type.name, "size": p.size,
                 "pack": pack_size(v.type),
                 "arg": ("in_data" if side == "IN" else "out_data") + (f"_{i}" if i else ""),
                 "buf": ("in_buf" if side == "IN" else "out_buf") + (f"_{i}" if i else ""),
                 "lite_regs": -(-cfg.lite_max_batch * p.size * word["bytes"] // 4)}
            if cfg.interface == "axi_master":
                t["reg"] = reg[description["inputs" if side == "IN" else "outputs"][i]["register"]]
            if cfg.interface == "axi_lite":
                t["lite_offset"] = "0x%X" % regs[f"lite_{side.lower()}_offsets"][i]
            out.append(t)
            at += p.size
        return out

    ins = tensors(hm.get_input_variables(), in_ports, description["input_word"], "IN")
    outs = tensors(hm.get_output_variables(), out_ports, description["output_word"], "OUT")
    extra = ins[1:] + outs[1:]
    if cfg.interface == "axi_master":
        extra_ports = [f"const {cfg.top}_in_t *{t['arg']}" if t["side"] == "in" else f"{cfg.top}_out_t *{t['arg']}"
                       for t in extra]
    elif cfg.interface == "axi_lite":
        extra_ports = [("const " if t["side"] == "in" else "") + f"ap_uint<32> {t['buf']}[{t['lite_regs']}]"
                       for t in extra]
    else:  # one stream carries every tensor
        extra = extra_ports = []
    return {"multi_io": True, "in_tensors": ins, "out_tensors": outs, "extra_ports": extra_ports,
            "extra_args": "".join(", " + (t["arg"] if cfg.interface == "axi_master" else t["buf"]) for t in extra),
            "extra_tensors": extra,
            # tensor 0's windows keep the names and offsets of a single-tensor IP's
            "lite_in_regs": ins[0]["lite_regs"], "lite_out_regs": outs[0]["lite_regs"],
            "data_port": hwsizing.data_port(cfg.bus_width, description["input_word"]["bits"],
                                            description["output_word"]["bits"], max(p.size for p in in_ports),
                                            max(p.size for p in out_ports))}
