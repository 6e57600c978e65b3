"""Pre-synthesis estimates: DSP, BRAM18, LUT, FF, cycles, weight reload time.

Formulas only, one per figure, each documented in docs/estimates.md. They take plain
numbers (layer facts from nnaccel.layer_facts, board resources from boards/*.yml) so a
test can check them against a hand computation. Every figure is an estimate: Vitis HLS
decides the real binding; `nnaccel report` prints csynth.xml figures beside these.
"""
from __future__ import annotations

import math

# Signed multiplier inputs of one DSP slice (A x B). UG479 (DSP48E1): 25x18; UG579 (DSP48E2): 27x18.
DSP_PORTS = {"dsp48e1": (25, 18), "dsp48e2": (27, 18)}
# Products with an operand this narrow are assumed to go to LUTs (a soft multiplier);
# assumption to check against the first csynth.xml (docs/estimates.md, "DSPs").
LUT_MULT_MAX_BITS = 4
# Block RAM 18 Kb aspect ratios (depth, width) of a RAMB18 (UG473 / UG573).
BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
# Arrays this shallow or shallower are assumed to become distributed RAM (LUTRAM) not BRAM.
LUTRAM_MAX_DEPTH = 64
LUTRAM_BITS_PER_LUT = 64  # a SLICEM LUT6 holds 64x1 bits
MULT_PIPELINE = 3  # cycles of a pipelined multiplier (DSP with its registers)
AXI_READ_LATENCY = 64  # cycles from a burst request to its first beat through the PS (assumed)
DEFAULT_OUTSTANDING = 16  # Vitis HLS m_axi defaults (UG1399): num_read_outstanding
DEFAULT_BURST = 16  # max_read_burst_length


def operand_bits(width: int, signed: bool) -> int:
    """A DSP port is signed: an unsigned operand needs one more bit."""
    return width if signed else width + 1


def dsp_per_mult(a_bits: int, b_bits: int, family: str) -> int:
    """DSP slices for one a x b product: 0 if an operand is narrow enough for LUTs,
    else the wider operand on the A port and the other on B, tiled."""
    if min(a_bits, b_bits) <= LUT_MULT_MAX_BITS:
        return 0
    a_port, b_port = DSP_PORTS[family]
    wide, narrow = max(a_bits, b_bits), min(a_bits, b_bits)
    return math.ceil(wide / a_port) * math.ceil(narrow / b_port)


def luts_per_soft_mult(a_bits: int, b_bits: int) -> int:
    """LUT6s of a fabric multiplier: (2*ceil((a+b)/6) - 1) * (a+b), the form FINN's MVAU
    LUT estimate uses; ~400 for 18x18, as hls4ml issue 99 measured."""
    s = a_bits + b_bits
    return (2 * math.ceil(s / 6) - 1) * s


def multipliers(n_mult_call: int, n_zeros: int, reuse_factor: int, parallel: int = 1) -> int:
    """hls4ml's multiplier_limit: DIV_ROUNDUP(n, RF) - n_zeros / RF, per parallel kernel copy."""
    rf = max(1, reuse_factor)
    return max(0, -(-n_mult_call // rf) - n_zeros // rf) * parallel


def bram18_for(depth: int, width: int) -> int:
    """RAMB18s for a depth x width memory: the best of the 18 Kb aspect ratios."""
    if depth <= 0 or width <= 0:
        return 0
    return min(-(-depth // d) * -(-width // w) for d, w in BRAM18_SHAPES)


def storage(strategy: str, reuse_factor: int, n_mult_call: int, weight_bits: int, other_bits: int,
            banks: int = 1) -> dict:
    """Where a layer's weights live. Latency: partitioned completely -> registers.
    Resource: reshaped to RF words of (n/RF) weights (hls4ml's block_factor) -> RAM
    (LUTRAM when shallow); biases and other arrays partitioned -> registers.
    `banks` weight sets: a RAM `banks` times as deep (the bank is the upper address bits);
    registers `banks` times over, read through a banks:1 mux per bit (`mux_lut`)."""
    out = {"ff": 0, "bram18": 0, "lutram": 0, "mux_lut": 0}
    reg_bits = other_bits
    if strategy == "resource" and reuse_factor > 1:
        depth = reuse_factor * banks
        width = -(-n_mult_call // reuse_factor) * weight_bits
        if depth <= LUTRAM_MAX_DEPTH:  # the binding the top chooses (hwsizing.weight_storage)
            out["lutram"] = width * -(-depth // LUTRAM_BITS_PER_LUT)
        else:
            out["bram18"] = bram18_for(depth, width)
    else:
        reg_bits += n_mult_call * weight_bits
    out["ff"] = reg_bits * banks
    # a LUT6 is a 4:1 mux, so a banks:1 mux tree takes ceil((banks - 1) / 3) of them per bit
    out["mux_lut"] = reg_bits * -(-(banks - 1) // 3)
    return out


def layer_estimate(f: dict, family: str, banks: int = 1) -> dict:
    """Estimate one layer from its facts (nnaccel.layer_facts.layer_facts)."""
    if not f.get("n_mult_call"):
        cycles = f.get("stream_pixels", 1)
        return {"multipliers": 0, "dsp": 0, "lut": 0, "ff": 0, "bram18": 0, "lutram": 0,
                "latency": cycles, "interval": cycles}
    a = operand_bits(f["weight_bits"], f["weight_signed"])
    b = operand_bits(f["input_bits"], f["input_signed"])
    rf = f["reuse_factor"]
    mults = multipliers(f["n_mult_call"], f["n_zeros"], rf, f["parallel"])
    dsp_each = dsp_per_mult(a, b, family)
    soft = luts_per_soft_mult(a, b) if dsp_each == 0 else 0
    st = storage(f["strategy"], rf, f["n_mult_call"], f["weight_bits"], f["other_bits"], banks)
    # every multiplier feeds an accumulator adder of accum_bits (one LUT per bit, carry chain)
    lut = mults * (soft + f["accum_bits"]) + st["lutram"] + st["mux_lut"]
    ff = st["ff"] + mults * (a + b)  # product register per multiplier
    interval = f["sequential_calls"] * rf
    latency = interval + MULT_PIPELINE + math.ceil(math.log2(max(2, f["n_in"])))
    return {"multipliers": mults, "dsp": mults * dsp_each, "dsp_per_mult": dsp_each,
            "operand_bits": [a, b], "lut": lut, "ff": ff, "bram18": st["bram18"], "lutram": st["lutram"],
            "latency": latency, "interval": interval}


def model_estimate(layers: list[dict], family: str, banks: int = 1) -> tuple[list[dict], dict]:
    """Per-layer estimates and their totals; latency adds up, the interval is the slowest
    layer's (hls4ml pipelines io_parallel models and DATAFLOWs io_stream ones)."""
    per = [layer_estimate(f, family, banks) for f in layers]
    tot = {k: sum(e[k] for e in per) for k in ("multipliers", "dsp", "lut", "ff", "bram18", "lutram")}
    tot["latency"] = sum(e["latency"] for e in per)
    tot["interval"] = max([e["interval"] for e in per] or [1])
    return per, tot


def m_axi_buffers(bundles: dict, bus_width: int) -> list[dict]:
    """Read buffer of each m_axi adapter: outstanding x burst beats of the port width."""
    out = []
    for name, p in sorted(bundles.items()):
        outstanding = p.get("num_read_outstanding", DEFAULT_OUTSTANDING)
        burst = p.get("max_read_burst_length", DEFAULT_BURST)
        width = p.get("max_widen_bitwidth", bus_width)
        depth = outstanding * burst
        out.append({"bundle": name, "num_read_outstanding": outstanding, "max_read_burst_length": burst,
                    "width": width, "bits": depth * width, "bram18": bram18_for(depth, width)})
    return out


def reload(image_bytes: int, header_bytes: int, bus_width: int, clock_period_ns: float) -> dict:
    """Weight reload: one bus word per cycle for the payload, the header words, and the
    PS round trip to the first beat."""
    per_word = bus_width // 8
    payload = max(0, image_bytes - header_bytes)
    cycles = -(-payload // per_word) + -(-header_bytes // per_word) + AXI_READ_LATENCY
    return {"image_bytes": image_bytes, "payload_bytes": payload, "header_bytes": header_bytes,
            "bytes_per_cycle": per_word, "axi_latency_cycles": AXI_READ_LATENCY, "cycles": cycles, "us": round(cycles * clock_period_ns / 1000.0, 3)}


def over_budget(totals: dict, budget: dict | None) -> list[str]:
    """Guarded resources whose estimate exceeds the board: DSP, BRAM18, LUT."""
    if not budget:
        return []
    return [k for k in ("dsp", "bram18", "lut") if totals[k] > budget[k]]


def fitting_reuse_factor(layers: list[dict], family: str, budget: dict, banks: int = 1) -> int | None:
    """The smallest power-of-two reuse factor, Resource strategy for every layer, whose
    estimate fits the board's DSP, BRAM18 and LUT budget (None: none does)."""
    biggest = max([f.get("n_mult_call") or 0 for f in layers] or [0])
    rf = 2
    while rf <= max(2, biggest):
        trial = [dict(f, strategy="resource", reuse_factor=min(rf, f["n_mult_call"]))
                 if f.get("n_mult_call") else f for f in layers]
        _, tot = model_estimate(trial, family, banks)
        if not over_budget(tot, budget):
            return rf
        rf *= 2
    return None
