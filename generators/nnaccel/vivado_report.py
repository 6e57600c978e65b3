"""Read Vivado's utilisation report of an implemented design (report_utilization, which the
implementation run writes as <project>.runs/impl_1/<top>_utilization_placed.rpt).

The report is text tables, `| Site Type | Used | Fixed | [Prohibited |] Available | Util% |`; the
names differ by family: Slice LUTs / Slice Registers (7-series), CLB LUTs / CLB Registers
(UltraScale+). Block RAM Tile counts 36 Kb blocks (halves for an 18 Kb one). The figures are the
whole design's (PS glue, DMA, interconnect and the accelerators), not one IP's."""
from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .hls_report import parse_number as _number

ROWS = {"Slice LUTs": "lut", "CLB LUTs": "lut", "Slice Registers": "ff", "CLB Registers": "ff",
        "Block RAM Tile": "bram36", "DSPs": "dsp", "URAM": "uram"}


def read_utilization(path: Path) -> dict:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise InputError(f"{path}: cannot read it ({e.strerror})") from None
    out: dict = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 4 or not line.lstrip().startswith("|"):
            continue
        key = ROWS.get(cells[1].rstrip("*").strip())
        if key and key not in out:  # the first table that names it: the summary, not a breakdown
            out[key] = _number(cells[2])
    if "lut" not in out:
        raise InputError(f"{path}: not a Vivado utilisation report (no Slice LUTs or CLB LUTs row)")
    bram36 = out.pop("bram36", None)
    out["bram18"] = None if bram36 is None else int(round(2 * bram36))
    out["path"] = str(path)
    return out
