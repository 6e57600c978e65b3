"""`nnaccel sweep collect DIR`: one table of the figures per point (results.csv, results.md) and a
plot (results.png). Points without a result are listed as missing."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .. import render
from ..staging import staged_files
from .manifest import load_manifest, read_result

FIGURES = [  # (column, where in result.json)
    ("dsp", ("estimate", "dsp")), ("bram18", ("estimate", "bram18")), ("lut", ("estimate", "lut")),
    ("ff", ("estimate", "ff")), ("latency_cycles", ("estimate", "latency_cycles")),
    ("interval_cycles", ("estimate", "interval_cycles")), ("weight_image_bytes", ("weight_image_bytes",)),
    ("csynth_dsp", ("csynth", "dsp")), ("csynth_bram18", ("csynth", "bram18")), ("csynth_lut", ("csynth", "lut")),
    ("csynth_ff", ("csynth", "ff")), ("csynth_latency_cycles", ("csynth", "latency_worst")),
    ("vivado_dsp", ("vivado", "dsp")), ("vivado_bram18", ("vivado", "bram18")), ("vivado_lut", ("vivado", "lut")),
    ("vivado_ff", ("vivado", "ff")),
    ("seconds", ("seconds",)),
]
NAMES = ["results.csv", "results.md", "results.png"]


def _get(result: dict | None, path: tuple):
    node = result
    for k in path:
        if not isinstance(node, dict):
            return None
        node = node.get(k)
    return node


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def table(bundle: Path) -> tuple[dict, list[str], list[list], list[dict | None]]:
    manifest = load_manifest(bundle)
    header = ["id", *manifest["axes"], "status", *(c for c, _ in FIGURES), "reason"]
    rows, results = [], []
    for entry in manifest["points"]:
        res = read_result(bundle, entry)
        status = res["status"] if res else "missing"
        rows.append([entry["id"], *(entry["values"].get(a) for a in manifest["axes"]), status,
                     *(_get(res, path) for _, path in FIGURES), _get(res, ("reason",))])
        results.append(res)
    return manifest, header, rows, results


def _csv(header: list, rows: list) -> list[str]:
    lines = []
    for r in [header, *rows]:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow([_cell(v) for v in r])
        lines.append(buf.getvalue())
    return lines


def _plot(manifest: dict, rows: list, header: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    col = {h: i for i, h in enumerate(header)}
    ids = [r[0] + ("" if r[col["status"]] == "ok" else f"\n({r[col['status']]})") for r in rows]
    xs = list(range(len(rows)))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6, 0.9 * len(rows) + 2), 6), sharex=True)
    keys = ("dsp", "bram18", "lut", "ff")
    width = 0.8 / len(keys)
    for k, key in enumerate(keys):
        vals = [r[col[key]] or 0 for r in rows]
        top.bar([x - 0.4 + width * (k + 0.5) for x in xs], vals, width, label=f"{key.upper()} (estimate)")
        for source, marker in (("csynth", "kx"), ("vivado", "ko")):
            got = [(x, r[col[f"{source}_{key}"]]) for x, r in zip(xs, rows) if r[col[f"{source}_{key}"]] is not None]
            if got:
                top.plot([x - 0.4 + width * (k + 0.5) for x, _ in got], [v for _, v in got], marker, markersize=4)
    top.set_yscale("symlog")
    highest = max([r[col[k]] or 0 for r in rows for k in keys] + [1])
    top.set_ylim(0, highest * 30)  # room for the legend above the bars
    top.set_ylabel("resources")
    top.legend(fontsize=7, ncol=4)
    top.set_title(f"sweep {manifest['name']} ({manifest['stage']}): x = Vitis HLS csynth, o = Vivado placed (whole design)", fontsize=9)
    bottom.bar(xs, [r[col["latency_cycles"]] or 0 for r in rows], 0.6, label="latency (estimate)")
    bottom.bar(xs, [r[col["interval_cycles"]] or 0 for r in rows], 0.3, label="interval (estimate)")
    bottom.set_ylabel("cycles")
    bottom.legend(fontsize=7)
    bottom.set_xticks(xs, ids, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def collect(bundle: Path, out: Path | None, log) -> dict:
    bundle = Path(bundle)
    manifest, header, rows, _ = table(bundle)
    out = Path(out) if out is not None else bundle
    status_col = header.index("status")
    missing = [r[0] for r in rows if r[status_col] == "missing"]
    counts = {s: sum(1 for r in rows if r[status_col] == s) for s in ("ok", "failed", "missing")}
    numeric = {c for c, _ in FIGURES}
    md_rows = [[_cell(v).replace("|", "\\|") for v in r] for r in rows]
    with staged_files(out, NAMES) as stage:
        render.write(stage / "results.csv", "sweep/lines.j2", lines=_csv(header, rows))
        render.write(stage / "results.md", "sweep/results.md.j2", name=manifest["name"], stage=manifest["stage"],
                     header=header, rows=md_rows, numeric=numeric, missing=missing, ok=counts["ok"],
                     failed=counts["failed"])
        _plot(manifest, rows, header, stage / "results.png")
    log(f"{len(rows)} points: {counts['ok']} ok, {counts['failed']} failed, {counts['missing']} missing"
        + (f" ({', '.join(missing)})" if missing else ""))
    log(f"wrote {', '.join(str(out / n) for n in NAMES)}")
    return counts
