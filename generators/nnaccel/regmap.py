"""The fixed register map (version 3: weight banks, LOAD_BANK / ACTIVE_BANK / BANKS_VALID when an IP
has more than one; extra tensors' address registers in 0x100..0x1FF; version 2 added the in-IP image
CRC check, BAD_CRC): data, not code. Offsets are the same for
every model; the top pins them with `offset=` and drivers read them from the
generated header or JSON."""
from __future__ import annotations

VERSION = 3
IDENT = 0x4E4E4100 | VERSION  # "NNA" + map version

# name, offset, width (bits), access, description, present when (None: always)
REGISTERS = [
    ("CTRL", 0x00, 32, "rw", "bit0 ap_start, bit1 ap_done (clear on read), bit2 ap_idle, bit3 ap_ready, bit7 auto_restart", None),
    ("GIE", 0x04, 32, "rw", "global interrupt enable (bit0)", None),
    ("IER", 0x08, 32, "rw", "interrupt enable: bit0 ap_done, bit1 ap_ready", None),
    ("ISR", 0x0C, 32, "rw", "interrupt status, toggle on write: bit0 ap_done, bit1 ap_ready", None),
    ("COMMAND", 0x10, 32, "w", "bit0 LOAD_WEIGHTS, bit1 RUN (both: load, then run)", None),
    ("N_SAMPLES", 0x18, 32, "w", "samples processed by one RUN", None),
    ("IN_ADDR", 0x20, 64, "w", "input buffer address (lo, hi)", "axi_master"),
    ("OUT_ADDR", 0x30, 64, "w", "output buffer address (lo, hi)", "axi_master"),
    ("WEIGHTS_ADDR", 0x40, 64, "w", "weight image address (lo, hi)", "external"),
    ("STATUS", 0x50, 32, "r", "bit0 WEIGHTS_VALID, bit1 WEIGHTS_EXTERNAL", None),
    ("LAST_ERROR", 0x60, 32, "r", "error code of the last start", None),
    ("FINGERPRINT", 0x70, 32, "r", "weight layout fingerprint the IP was built for", None),
    ("IDENT", 0x80, 32, "r", f"0x{IDENT:08X}: 'NNA' + register map version", None),
    ("SAMPLES_DONE", 0x90, 32, "r", "samples processed by the last start", None),
    # weight banks (weight_banks > 1 only); a bank index >= weight_banks is BAD_COMMAND
    ("LOAD_BANK", 0xA0, 32, "w", "bank a LOAD_WEIGHTS writes (its valid bit is cleared first)", "banks"),
    ("ACTIVE_BANK", 0xA8, 32, "w", "bank a RUN uses, sampled at ap_start", "banks"),
    ("BANKS_VALID", 0xB0, 32, "r", "bit b: bank b holds weights whose CRC matched", "banks"),
]
MAX_BANKS = 8  # BANKS_VALID bits a driver reads; also the config limit
COMMANDS = {"LOAD_WEIGHTS": 1, "RUN": 2}
STATUS_BITS = {"WEIGHTS_VALID": 1, "WEIGHTS_EXTERNAL": 2}
ERRORS = {
    "OK": 0, "BAD_MAGIC": 1, "BAD_VERSION": 2, "BAD_FINGERPRINT": 3, "BAD_LENGTH": 4,
    "NO_WEIGHTS": 5, "BAD_COMMAND": 6, "BATCH_TOO_LARGE": 7, "NOT_LOADABLE": 8,
    # the payload read from memory does not give the header's CRC-32; WEIGHTS_VALID is then clear
    "BAD_CRC": 9,
}
# Tensors 1.. of a multi-input/multi-output model on axi_master: one 64-bit address register each
# (lo, hi and the word Vitis HLS reserves after them fit in 0x10), inputs from 0x100, outputs from
# 0x180, so an offset depends only on the tensor's index, never on how many tensors the other side has.
EXTRA_IN_BASE, EXTRA_OUT_BASE, EXTRA_STRIDE, EXTRA_PER_SIDE = 0x100, 0x180, 0x10, 8
LITE_REGION_MIN = 0x1000  # register-mapped buffers start above the fixed registers


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def extra_address_registers(n_in: int, n_out: int) -> list[dict]:
    """IN_ADDR_<i> / OUT_ADDR_<j> for tensors 1.. (tensor 0 keeps IN_ADDR / OUT_ADDR)."""
    if max(n_in, n_out) - 1 > EXTRA_PER_SIDE:
        raise ValueError(f"at most {EXTRA_PER_SIDE + 1} input and output tensors")
    regs = [{"name": f"IN_ADDR_{i}", "offset": EXTRA_IN_BASE + EXTRA_STRIDE * (i - 1), "width": 64, "access": "w",
             "description": f"input tensor {i} buffer address (lo, hi)"} for i in range(1, n_in)]
    regs += [{"name": f"OUT_ADDR_{j}", "offset": EXTRA_OUT_BASE + EXTRA_STRIDE * (j - 1), "width": 64, "access": "w",
              "description": f"output tensor {j} buffer address (lo, hi)"} for j in range(1, n_out)]
    return regs


def build_regmap(interface: str, external: bool, in_bytes, out_bytes, banks: int = 1) -> dict:
    """The register map of one IP: the fixed registers it has, plus axi_lite buffer windows.
    Vitis HLS aligns an array window to its power-of-two size, so every window gets one
    power-of-two region size. `in_bytes`/`out_bytes`: one window's bytes, or a list of them, one
    per tensor (a multi-input/multi-output model; its extra registers and windows follow tensor 0's).
    `banks` > 1 adds the bank registers and `weight_banks`."""
    ins = list(in_bytes) if isinstance(in_bytes, (list, tuple)) else [in_bytes]
    outs = list(out_bytes) if isinstance(out_bytes, (list, tuple)) else [out_bytes]
    multi = len(ins) > 1 or len(outs) > 1
    present = {None, interface} | ({"external"} if external else set()) | ({"banks"} if banks > 1 else set())
    regs = [
        {"name": n, "offset": off, "width": w, "access": acc, "description": desc}
        for n, off, w, acc, desc, when in REGISTERS if when in present
    ]
    out = {"version": VERSION, "ident": IDENT, "registers": regs, "commands": COMMANDS,
           "status_bits": STATUS_BITS, "errors": ERRORS,
           "lite_in_offset": None, "lite_out_offset": None, "address_range": 0x100}
    if interface == "axi_master" and multi:
        regs += extra_address_registers(len(ins), len(outs))
        out.update(address_range=0x200)
    if interface == "axi_lite":
        region = max([LITE_REGION_MIN] + [_pow2(b) for b in ins + outs])
        # windows one region apart: inputs 0.., then outputs 0.. (one tensor each: in at 1, out at 2 regions)
        in_offsets = [region * (1 + i) for i in range(len(ins))]
        out_offsets = [region * (1 + len(ins) + j) for j in range(len(outs))]
        out.update(lite_in_offset=in_offsets[0], lite_out_offset=out_offsets[0],
                   address_range=_pow2((1 + len(ins) + len(outs)) * region))
        if multi:
            out.update(lite_in_offsets=in_offsets, lite_out_offsets=out_offsets)
    if banks > 1:
        out["weight_banks"] = banks
    return out
