"""What the driver knows about one accelerator: read from the files `nnaccel ip` writes
(nnaccel.json, regmap.json, weights_layout.json). Nothing here is hard-coded per model."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DriverError

FILES = ("nnaccel.json", "regmap.json", "weights_layout.json")


@dataclass(frozen=True)
class Word:
    """One data word: float32 or ap_[u]fixed / ap_[u]int of 8, 16 or 32 bits."""
    type: str
    bits: int
    bytes: int
    signed: bool = True
    integer: int = 0
    rounding: str = "AP_TRN"
    saturation: str = "AP_WRAP"

    @property
    def is_float(self) -> bool:
        return self.type == "float"

    @property
    def dtype(self) -> str:
        return "<f4" if self.is_float else f"<u{self.bytes}"

    @classmethod
    def from_json(cls, d: dict) -> "Word":
        # ap_int<W>(double) truncates toward zero, like a C cast: ap_fixed's AP_TRN_ZERO
        is_int = str(d["type"]).startswith(("ap_int", "ap_uint"))
        return cls(type=d["type"], bits=int(d["bits"]), bytes=int(d["bytes"]), signed=bool(d.get("signed", True)),
                   integer=int(d.get("integer", 0)),
                   rounding="AP_TRN_ZERO" if is_int else d.get("rounding", "AP_TRN"),
                   saturation=d.get("saturation", "AP_WRAP"))


@dataclass(frozen=True)
class Tensor:
    """One input or output tensor. A multi-input/multi-output IP lays its tensors end to end per
    sample (`offset`: first value within the sample's n_inputs/n_outputs values); on axi_master
    each has its own buffer (`register`), on axi_lite its own window (`lite_offset`)."""
    name: str
    shape: tuple
    n_values: int
    offset: int
    register: str | None = None
    lite_offset: int | None = None


@dataclass(frozen=True)
class Description:
    top: str
    vlnv: str
    interface: str
    external: bool
    bus_width: int
    n_inputs: int
    n_outputs: int
    input_shape: tuple
    output_shape: tuple
    in_word: Word
    out_word: Word
    lite_max_batch: int
    fingerprint: int
    ident: int
    regs: dict                  # register name -> offset
    lite_in_offset: int | None
    lite_out_offset: int | None
    address_range: int
    commands: dict
    status_bits: dict
    errors: dict                # name -> code
    payload_bytes: dict         # encoding name -> payload bytes
    n_values: int
    default_image: Path | None = field(default=None, compare=False)
    weight_banks: int = 1       # weight sets the IP holds (LOAD_BANK / ACTIVE_BANK / BANKS_VALID when > 1)
    inputs: tuple = ()          # Tensor per input; one for a single-input IP
    outputs: tuple = ()

    @property
    def multi_io(self) -> bool:
        return len(self.inputs) > 1 or len(self.outputs) > 1

    def error_name(self, code: int) -> str:
        return next((n for n, c in self.errors.items() if c == code), f"UNKNOWN({code})")


def from_dicts(desc: dict, regmap: dict, layout: dict, ip_dir: Path | None = None) -> Description:
    image = (desc.get("files") or {}).get("image")
    return Description(
        top=desc["top"], vlnv=desc["vlnv"], interface=desc["interface"], external=desc["weights"] == "external",
        bus_width=int(desc["bus_width"]), n_inputs=int(desc["n_inputs"]), n_outputs=int(desc["n_outputs"]),
        input_shape=tuple(desc["input_shape"]), output_shape=tuple(desc["output_shape"]),
        in_word=Word.from_json(desc["input_word"]), out_word=Word.from_json(desc["output_word"]),
        lite_max_batch=int(desc.get("lite_max_batch") or 0), fingerprint=int(desc["fingerprint"]),
        ident=int(regmap["ident"]), regs={r["name"]: int(r["offset"]) for r in regmap["registers"]},
        lite_in_offset=regmap.get("lite_in_offset"), lite_out_offset=regmap.get("lite_out_offset"),
        address_range=int(regmap["address_range"]), commands=dict(regmap["commands"]),
        status_bits=dict(regmap["status_bits"]), errors=dict(regmap["errors"]),
        payload_bytes={k: int(v["payload_bytes"]) for k, v in layout["encodings"].items()},
        n_values=int(layout["n_values"]),
        default_image=(Path(ip_dir) / image) if (ip_dir is not None and image) else None,
        weight_banks=int(desc.get("weight_banks") or 1),
        inputs=_tensors(desc, regmap, "inputs"), outputs=_tensors(desc, regmap, "outputs"),
    )


def _tensors(desc: dict, regmap: dict, side: str) -> tuple:
    """The description's `inputs`/`outputs`; a single-tensor IP's one tensor from input_shape etc."""
    one = {"inputs": ("input", "input_shape", "IN_ADDR", "lite_in_offset"),
           "outputs": ("output", "output_shape", "OUT_ADDR", "lite_out_offset")}[side]
    if side not in desc:
        shape = tuple(desc[one[1]])
        register = one[2] if desc["interface"] == "axi_master" else None
        return (Tensor(one[0], shape, int(desc["n_" + side]), 0, register, regmap.get(one[3])),)
    return tuple(Tensor(t["name"], tuple(t["shape"]), int(t["n_values"]), int(t["stream_offset"]),
                        t.get("register"), t.get("lite_offset")) for t in desc[side])


def load(ip_dir) -> Description:
    """The description of the IP in `ip_dir` (the directory `nnaccel ip` wrote, or a copy of
    its three JSON files and weights.bin next to the bitstream)."""
    ip_dir = Path(ip_dir)
    data = []
    for name in FILES:
        p = ip_dir / name
        try:
            data.append(json.loads(p.read_text()))
        except FileNotFoundError:
            raise DriverError(f"{ip_dir}: no {name}; copy nnaccel.json, regmap.json and weights_layout.json "
                              "from the IP directory next to the bitstream") from None
        except ValueError as e:
            raise DriverError(f"{p}: not valid JSON ({e})") from None
    return from_dicts(*data, ip_dir=ip_dir)
