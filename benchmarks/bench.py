"""`make bench`: hls4ml's predict() against `nnaccel csim` per engine, side by side in one run.

For each model (the jet MLP example and the digits CNN example, built with their example
configurations): write the IP (`nnaccel ip`), build hls4ml's own reference model with the same hls4ml
configuration (weights embedded), then time on the same seeded inputs, after one warm-up call each
(compilation excluded): hls4ml predict(), `nnaccel csim --engine c`, `nnaccel csim --engine numpy`.
The outputs of that same run are compared bit for bit (np.array_equal). Writes benchmarks/results.md
(from benchmarks/results.md.j2) with the machine and the versions; ratios are the result, absolute
times are printed, never asserted. Exit 1 if any engine is not bit-exact with predict().

Usage: python benchmarks/bench.py [--jet-samples 100000] [--cnn-samples 10000] [-o results.md] [--work DIR]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXAMPLES = REPO / "cores" / "examples"
MODELS = [("jet MLP (16-64-32-32-5, 6-bit, softmax)", "jet_mlp", "jet_mlp.keras", "jet_samples"),
          ("digits CNN (Conv2D 3x3x8, max pool, dense, softmax)", "digits", "digits.keras", "cnn_samples")]


def _example_model(example: str, filename: str) -> Path:
    """The example's model; `python train.py` writes it when absent (as the examples document)."""
    path = EXAMPLES / example / filename
    if not path.is_file():
        subprocess.run([sys.executable, "train.py"], cwd=path.parent, check=True)
    return path


def _timed(fn, repeat: int = 1):
    best, out = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, out


def bench_model(title, example, filename, n, work: Path, log) -> dict:
    import hls4ml
    import yaml

    from nnaccel import hls
    from nnaccel.accel import generate_ip
    from nnaccel.config import load_config
    from nnaccel.csim import run_csim
    from nnaccel.npsim import model as npsim

    model = _example_model(example, filename)
    cfg = load_config(EXAMPLES / example / "config.yml", None, ["tb_samples=0"])
    ip = work / example
    log(f"{example}: writing the IP")
    generate_ip(cfg, ip, log=lambda *a: None, reference=False, force=True)
    log(f"{example}: compiling hls4ml's reference model (weights embedded, same hls4ml configuration)")
    with hls.quiet():
        ref = hls4ml.converters.convert_from_keras_model(
            hls.load_keras(model), hls_config=yaml.safe_load(yaml.safe_dump(cfg.hls)), backend="Vitis",
            io_type=cfg.io_type, part=cfg.part, output_dir=str(work / f"{example}-hls4ml"))
        ref.compile()
    shape = tuple(ref.get_input_variables()[0].shape)
    x = np.random.default_rng(2026).standard_normal((n, *shape)).astype(np.float32)
    flat = np.ascontiguousarray(x.reshape(n, -1))

    def predict():
        with hls.quiet():
            return np.asarray(ref.predict(flat), dtype=np.float32).reshape(n, -1)

    # warm-up: hls4ml's first call loads its library; ours builds (or finds) the g++ library and tables
    with hls.quiet():
        ref.predict(flat[:2])
    run_csim(ip, x[:2], engine="c")
    run_csim(ip, x[:2], engine="numpy")
    log(f"{example}: timing {n} samples")
    t_ref, y_ref = _timed(predict)
    t_c, y_c = _timed(lambda: run_csim(ip, x, engine="c").reshape(n, -1))
    t_np, y_np = _timed(lambda: run_csim(ip, x, engine="numpy").reshape(n, -1))
    return {
        "title": title, "example": example, "n": n, "covered": npsim.coverage(ip) is None,
        "t_predict": t_ref, "t_c": t_c, "t_numpy": t_np,
        "ratio_c": t_ref / t_c, "ratio_numpy": t_ref / t_np,
        "exact_c": bool(np.array_equal(y_c, y_ref)), "exact_numpy": bool(np.array_equal(y_np, y_ref)),
        "n_diff_c": int(np.count_nonzero(np.any(y_c != y_ref, axis=1))),
        "n_diff_numpy": int(np.count_nonzero(np.any(y_np != y_ref, axis=1))),
    }


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cores": os.cpu_count(), "cpu": cpu, "load": load, "python": platform.python_version(),
            "os": platform.platform()}


def versions() -> dict:
    import hls4ml
    import keras

    import nnaccel

    from nnaccel.csim import _compiler_version

    return {"nnaccel": nnaccel.__version__, "hls4ml": hls4ml.__version__, "numpy": np.__version__,
            "keras": keras.__version__, "g++": _compiler_version()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jet-samples", type=int, default=100_000)
    p.add_argument("--cnn-samples", type=int, default=10_000)
    p.add_argument("-o", "--output", type=Path, default=HERE / "results.md")
    p.add_argument("--work", type=Path, help="directory for the IPs and hls4ml projects (default: a temporary one)")
    args = p.parse_args(argv)
    if args.jet_samples < 1 or args.cnn_samples < 1:
        p.error("--jet-samples and --cnn-samples must be at least 1")

    import jinja2

    def log(msg):
        print(f"bench: {msg}", flush=True)

    with tempfile.TemporaryDirectory(prefix="nnaccel-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = [bench_model(title, ex, fn, getattr(args, key), work, log) for title, ex, fn, key in MODELS]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    text = env.get_template("results.md.j2").render(
        results=results, machine=machine(), versions=versions(),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command=" ".join(["python benchmarks/bench.py", f"--jet-samples {args.jet_samples}",
                          f"--cnn-samples {args.cnn_samples}"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    for r in results:
        log(f"{r['example']}: predict {r['t_predict']:.2f} s, c {r['t_c']:.2f} s ({r['ratio_c']:.2f}x), "
            f"numpy {r['t_numpy']:.2f} s ({r['ratio_numpy']:.2f}x); "
            f"bit-exact c {r['exact_c']}, numpy {r['exact_numpy']}")
    log(f"wrote {args.output}")
    return 0 if all(r["exact_c"] and r["exact_numpy"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
