"""Read what Vitis HLS reported after C synthesis (solution1/syn/report/csynth.xml).

The schema is Vitis HLS's: <profile> with UserAssignments (Part, TopModelName,
TargetClockPeriod), PerformanceEstimates (SummaryOfTimingAnalysis/EstimatedClockPeriod,
SummaryOfOverallLatency/{Best-caseLatency, Worst-caseLatency, Interval-min, Interval-max})
and AreaEstimates/Resources/{BRAM_18K, DSP (DSP48E before 2020), FF, LUT, URAM}.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .errors import InputError


def default_path(ip_dir: Path, top: str) -> Path:
    """Where Vitis HLS left csynth.xml: build_hls.tcl puts <top>_prj in the directory it runs from
    (under FuseSoC the work root, which is where `nnaccel report` is usually run; by hand, the IP
    directory or its hls/). The first that exists, else the one in the current directory."""
    rel = Path(f"{top}_prj") / "solution1" / "syn" / "report" / "csynth.xml"
    candidates = [Path.cwd() / rel, ip_dir / rel, ip_dir / "hls" / rel]
    return next((p for p in candidates if p.is_file()), candidates[0])


def parse_number(text: str):
    """An int or a float, or None for what the tools write where there is no number."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None  # "undef" / "?": a loop without a trip count


def _number(root, path: str):
    node = root.find(path)
    if node is None or node.text is None:
        return None
    return parse_number(node.text.strip())


def read_csynth(path: Path) -> dict:
    try:
        root = ET.parse(path).getroot()
    except OSError as e:
        raise InputError(f"--csynth: cannot read {path} ({e.strerror})") from None
    except ET.ParseError as e:
        raise InputError(f"--csynth: {path} is not XML ({e})") from None
    if root.tag != "profile" or root.find("AreaEstimates/Resources") is None:
        raise InputError(f"--csynth: {path} is not a Vitis HLS csynth.xml (no profile/AreaEstimates/Resources)")
    res = "AreaEstimates/Resources/"
    dsp = _number(root, res + "DSP")
    lat = "PerformanceEstimates/SummaryOfOverallLatency/"
    top = root.find("UserAssignments/TopModelName")
    return {
        "path": str(path),
        "top": top.text.strip() if top is not None and top.text else None,
        "dsp": dsp if dsp is not None else _number(root, res + "DSP48E"),
        "bram18": _number(root, res + "BRAM_18K"),
        "lut": _number(root, res + "LUT"),
        "ff": _number(root, res + "FF"),
        "uram": _number(root, res + "URAM"),
        "latency_best": _number(root, lat + "Best-caseLatency"),
        "latency_worst": _number(root, lat + "Worst-caseLatency"),
        "interval_min": _number(root, lat + "Interval-min"),
        "interval_max": _number(root, lat + "Interval-max"),
        "target_clock_ns": _number(root, "UserAssignments/TargetClockPeriod"),
        "estimated_clock_ns": _number(root, "PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
    }
