"""Sizing decisions of the accelerator's hardware, made from the model and the bus width:
where each weight array lives (registers, LUTRAM, BRAM) and how deep each AXI master
port buffers. docs/hardware.md explains each number."""
from __future__ import annotations

# An m_axi adapter buffers num_*_outstanding x max_*_burst_length beats of the port width.
# Keep that within one BRAM36's 32 Kbit of data (36 Kbit with parity) per direction.
PORT_BUFFER_BITS = 32 * 1024
# Outstanding requests hide the PS-DDR read latency (~100 PL cycles on Zynq HP ports):
# 4 bursts in flight of >= 32 beats each keep the port streaming.
OUTSTANDING = 4
AXI_MAX_BURST = 256      # AXI4 INCR burst limit, beats
AXI_4K_BYTES = 4096      # a burst must not cross a 4 KiB boundary
MIN_BURST = 2            # below this a "burst" is single beats

# A weight RAM this shallow (rows after hls4ml's block reshape) goes to LUTRAM: one
# RAM64M/RAM64X1D column per bit is cheaper than a BRAM18 (512 rows) that would be mostly empty.
LUTRAM_MAX_DEPTH = 64

# Latency reports (LOOP_TRIPCOUNT) for interfaces without a configured maximum batch are
# given per this many samples; it bounds nothing in hardware.
REPORT_BATCH = 1024


def _pow2_floor(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def _pow2_ceil(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def burst_beats(width: int, beats_needed: int) -> int:
    """The longest burst worth asking for: no longer than the data, the AXI limits, or the
    share of one BRAM36 that OUTSTANDING bursts of `width` bits may take."""
    by_buffer = _pow2_floor(PORT_BUFFER_BITS // (OUTSTANDING * width))
    by_axi = min(AXI_MAX_BURST, AXI_4K_BYTES // (width // 8))
    return max(MIN_BURST, min(by_buffer, by_axi, _pow2_ceil(beats_needed)))


def weight_port(bus_width: int, payload_words: int) -> dict:
    burst = burst_beats(bus_width, payload_words)
    return {"width": bus_width, "num_read_outstanding": OUTSTANDING, "max_read_burst_length": burst,
            # the loader's FIFO holds one burst, so the port can land a whole burst while the
            # unpacker works through the previous one
            "fifo_depth": burst}


def data_port(bus_width: int, in_bits: int, out_bits: int, n_inputs: int, n_outputs: int) -> dict:
    """axi_master data port: elements are data words, widened by Vitis HLS to at most
    bus_width; bursts are sized from one sample's words."""
    in_beats = -(-n_inputs * in_bits // bus_width)
    out_beats = -(-n_outputs * out_bits // bus_width)
    return {"element_bits": max(in_bits, out_bits), "max_widen_bitwidth": bus_width,
            "num_read_outstanding": OUTSTANDING, "max_read_burst_length": burst_beats(bus_width, in_beats),
            "num_write_outstanding": OUTSTANDING, "max_write_burst_length": burst_beats(bus_width, out_beats)}


def weight_storage(hm, banks: int = 1) -> dict:
    """{variable name: storage} for external weights. hls4ml's Resource-strategy kernels read
    `weights` one reshaped row (block_factor values) per cycle: that array is a RAM of
    reuse_factor rows (times `banks`: one row block per weight bank), written by the loader
    through a second port. Everything else (biases, Latency-strategy weights) is read whole
    every interval: registers (complete partition)."""
    out = {}
    for layer in hm.get_layers():
        strategy = str(layer.get_attr("strategy", "latency")).lower()
        rf = int(layer.get_attr("reuse_factor", 1) or 1)
        for key, var in getattr(layer, "weights", {}).items():
            if strategy == "resource" and key == "weight" and rf > 1:
                impl = "lutram" if rf * banks <= LUTRAM_MAX_DEPTH else "bram"
                out[var.name] = {"kind": "ram", "type": "ram_s2p", "impl": impl, "depth": rf * banks}
            else:
                out[var.name] = {"kind": "registers"}
    for v in hm.get_weight_variables():
        out.setdefault(v.name, {"kind": "registers"})
    return out
