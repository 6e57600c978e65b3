"""`nnaccel report`: labelled resource/latency estimates of an IP against its board, the
resource guard generation applies, and Vitis HLS's csynth figures beside them when present.

report.json (written with the IP) holds the layer facts and every estimate; report.md is
rendered from it by the same template `nnaccel report` prints. Formulas: nnaccel.estimate,
documented in docs/estimates.md.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from . import boards, estimate as est, render
from .errors import ConfigError, InputError

SCHEMA = 1
GUARDED = {"dsp": "DSPs", "bram18": "BRAM18s", "lut": "LUTs"}
_PRAGMA = re.compile(r"#pragma\s+HLS\s+INTERFACE\b([^\n]*\bm_axi\b[^\n]*)", re.I)
_ARG = re.compile(r"(\w+)\s*=\s*(\w+)")


def budget_for(board: str | None, part: str) -> tuple[dict | None, str | None, str]:
    """(resources, board name, note): the configured board's, else a board with the part."""
    b = boards.load_board(board) if board else boards.board_for_part(part)
    if b is None or b.resources is None:
        why = f"board {b.name} has no resources" if b is not None else f"no board in boards/ has part {part}"
        return None, None, f"{why}: reported without a budget, resource guard skipped"
    note = f"budget of board {b.name} ({b.part})" + ("" if board else f", the board with part {part}")
    return dict(b.resources), b.name, note


def dsp_family(budget: dict | None, part: str) -> str:
    if budget:
        return budget["dsp_family"]
    return "dsp48e1" if part.lower().startswith("xc7") else "dsp48e2"  # 7-series vs UltraScale(+)


def m_axi_bundles(top_cpp: str) -> dict:
    """The m_axi options per bundle as the emitted top pins them (Vitis defaults when absent)."""
    bundles: dict = {}
    for m in _PRAGMA.finditer(top_cpp):
        args = dict(_ARG.findall(m.group(1)))
        name = args.get("bundle", "gmem")
        opts = bundles.setdefault(name, {})
        for k in ("num_read_outstanding", "max_read_burst_length", "max_widen_bitwidth"):
            if k in args and args[k].isdigit():
                opts[k] = max(opts.get(k, 0), int(args[k]))
    return bundles


def m_axi_buffers_of_text(top_cpp: str, bus_width: int) -> list[dict]:
    return est.m_axi_buffers(m_axi_bundles(top_cpp), bus_width)


def build(layers: list[dict], description: dict, top_cpp: str, image_bytes: int | None, header_bytes: int) -> dict:
    """Assemble the report from layer facts, the IP description and the emitted top."""
    part, board = description["part"], description.get("board")
    budget, budget_board, note = budget_for(board, part)
    family = dsp_family(budget, part)
    banks = int(description.get("weight_banks") or 1)
    per, totals = est.model_estimate(layers, family, banks)
    buffers = m_axi_buffers_of_text(top_cpp, description["bus_width"])
    ip_total = {k: totals[k] for k in ("dsp", "lut", "ff", "lutram")}
    ip_total["bram18"] = totals["bram18"] + sum(b["bram18"] for b in buffers)
    rep = {
        "schema": SCHEMA, "estimate": True, "top": description["top"], "part": part, "board": board,
        "budget_board": budget_board, "budget_note": note, "dsp_family": family,
        "clock_period": description["clock_period"], "io_type": description["io_type"],
        "interface": description["interface"], "weights": description["weights"],
        "bus_width": description["bus_width"],
        "layers": [dict(f, estimate=e) for f, e in zip(layers, per)],
        "layer_totals": totals, "m_axi_buffers": buffers, "total": ip_total, "budget": budget,
        "utilisation": {k: round(100.0 * ip_total[k] / budget[k], 1) for k in ("dsp", "bram18", "lut", "ff", "lutram")}
        if budget else None,
        "over_budget": est.over_budget(ip_total, budget),
        "reload": est.reload(image_bytes, header_bytes, description["bus_width"], description["clock_period"])
        if image_bytes is not None else None,
        "suggested_reuse_factor": None,
    }
    if banks > 1:
        rep["weight_banks"] = banks
    if rep["over_budget"]:
        rep["suggested_reuse_factor"] = est.fitting_reuse_factor(layers, family, budget, banks)
    return rep


def basis(cfg) -> dict:
    """The description keys the estimates read, before the description exists."""
    return {"top": cfg.top, "part": cfg.part, "board": cfg.board, "bus_width": cfg.bus_width,
            "clock_period": cfg.clock_period, "io_type": cfg.io_type, "interface": cfg.interface,
            "weights": cfg.weights, "weight_banks": cfg.weight_banks}


def summary_line(rep: dict) -> str:
    t = rep["total"]
    if not rep["budget"]:
        return f"estimate {t['dsp']} DSP, {t['bram18']} BRAM18, {t['lut']} LUT; {rep['budget_note']}"
    u = rep["utilisation"]
    return (f"estimate {t['dsp']} DSP ({u['dsp']} %), {t['bram18']} BRAM18 ({u['bram18']} %), "
            f"{t['lut']} LUT ({u['lut']} %) of {rep['budget_board']}; details: report.md")


def _largest(rep: dict, key: str) -> dict | None:
    layers = [lay for lay in rep["layers"] if lay["estimate"][key]]
    return max(layers, key=lambda lay: lay["estimate"][key]) if layers else None


def guard(rep: dict, external: bool, allowed: bool) -> None:
    """Refuse an IP whose estimate exceeds the board, in one line that says what to change."""
    if not rep["over_budget"] or allowed:
        return
    key = rep["over_budget"][0]
    total, budget = rep["total"][key], rep["budget"][key]
    msg = (f"resource guard: estimated {total:,} {GUARDED[key]} exceed the {budget:,} of board "
           f"{rep['budget_board']} ({rep['part']})")
    lay = _largest(rep, key)
    if lay is not None:
        e = lay["estimate"]
        msg += (f"; largest: layer {lay['name']}, {e[key]:,} {GUARDED[key]} ({e['multipliers']:,} multipliers = "
                f"{lay['n_mult_call']:,} multiplications / reuse factor {lay['reuse_factor']}, "
                f"{e['operand_bits'][0]}x{e['operand_bits'][1]}-bit products, {lay['strategy']} strategy)")
        if external and lay["strategy"] == "latency":
            msg += ("; with external weights no multiplier can fold a constant weight, so the Latency strategy "
                    "needs one multiplier per multiplication")
    buffers = sum(b["bram18"] for b in rep["m_axi_buffers"])
    if key == "bram18" and buffers:
        msg += f"; the m_axi read buffers take {buffers:,} of them (num_read_outstanding x max_read_burst_length)"
    rf = rep["suggested_reuse_factor"]
    if rf:
        msg += f"; try --set hls.Model.Strategy=Resource --set hls.Model.ReuseFactor={rf} (estimated to fit)"
    else:
        msg += "; no reuse factor fits: use narrower types or a bigger board"
    raise ConfigError(msg + ", or --set allow_over_budget=true to generate anyway (docs/estimates.md)")


def render_md(rep: dict, csynth: dict | None = None) -> str:
    return render.render("report/report.md.j2", r=rep, csynth=csynth)


def write(stage: Path, rep: dict) -> None:
    render.write_json(stage / "report.json", rep)
    render.write(stage / "report.md", "report/report.md.j2", r=rep, csynth=None)


def load(ip_dir: Path) -> tuple[dict, dict]:
    try:
        description = json.loads((ip_dir / "nnaccel.json").read_text())
        rep = json.loads((ip_dir / "report.json").read_text())
    except FileNotFoundError as e:
        raise InputError(f"{ip_dir}: no {Path(e.filename).name}; not an IP directory written by this "
                         "`nnaccel ip` (regenerate it)") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{ip_dir}: cannot read the IP's report ({e})") from None
    if rep.get("schema") != SCHEMA:
        raise InputError(f"{ip_dir}/report.json: schema {rep.get('schema')!r}, this nnaccel reads {SCHEMA}")
    return description, rep


def write_png(rep: dict, csynth: dict | None, out: Path) -> None:
    """Bar chart: estimated (and synthesized) DSP, BRAM18, LUT, FF as % of the board."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .staging import staged_file

    if not rep["budget"]:
        raise InputError(f"--png: {rep['budget_note']}; there is no budget to chart against")
    keys = ("dsp", "bram18", "lut", "ff")
    labels = ["DSP", "BRAM18", "LUT", "FF"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(len(keys))
    width = 0.38 if csynth else 0.6
    ax.bar([x - (width / 2 if csynth else 0) for x in xs], [rep["utilisation"][k] for k in keys], width,
           label="estimate (pre-synthesis)")
    if csynth:
        ax.bar([x + width / 2 for x in xs], [100.0 * (csynth[k] or 0) / rep["budget"][k] for k in keys], width,
               label="Vitis HLS csynth")
    ax.axhline(100, color="red", linewidth=1)
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel(f"% of {rep['budget_board']}")
    ax.set_title(f"{rep['top']}: estimated resources vs {rep['budget_board']} ({rep['part']})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with staged_file(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def register(sub) -> None:
    """Add `nnaccel report` to the CLI's subcommands."""
    p = sub.add_parser("report", help="estimated resources and latency of an IP against its board",
                       description="Print the IP's labelled estimates (docs/estimates.md) against the board, "
                                   "and Vitis HLS's csynth.xml figures beside them when C synthesis has run.")
    p.add_argument("dir", help="IP directory written by `nnaccel ip`")
    p.add_argument("--png", metavar="FILE", help="also write a bar chart of resource use as %% of the board")
    p.add_argument("--csynth", metavar="FILE", help="csynth.xml to compare with (default, when present: "
                                                    "<top>_prj/solution1/syn/report/csynth.xml in the current "
                                                    "directory, DIR or DIR/hls)")
    p.set_defaults(func=run)


def run(args) -> int:
    from .hls_report import default_path, read_csynth

    ip_dir = Path(args.dir)
    if not ip_dir.is_dir():
        raise InputError(f"{ip_dir}: not a directory; give an IP directory written by `nnaccel ip`")
    description, rep = load(ip_dir)
    path = Path(args.csynth) if args.csynth else default_path(ip_dir, description["top"])
    csynth = read_csynth(path) if args.csynth or path.is_file() else None
    if args.png:
        write_png(rep, csynth, Path(args.png))
    print(render_md(rep, csynth), end="")
    if args.png:
        print(f"nnaccel: wrote {args.png}")
    return 0
