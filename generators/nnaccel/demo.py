"""`make demo`: the main job, end to end, without vendor tools.

1. `fusesoc run --target=csim nn_accel`: the jet tagger IP is generated, C-simulated on
   its test set and compared bit for bit with hls4ml's predict(); accuracy is reported.
2. `fusesoc run --target=csim digits`: the same for a CNN trained on scikit-learn's digits.
3. Run-time weights: the jet tagger IP takes a second weight set (jet_mlp_b) without being
   rebuilt, then the first one again; each time the outputs are compared bit for bit
   with hls4ml's predict() of that model.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
JET = REPO / "cores" / "examples" / "jet_mlp"


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def fusesoc_csim(core: str) -> None:
    step(f"fusesoc run --target=csim {core}")
    proc = subprocess.run(["fusesoc", "run", "--target=csim", core], cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for line in proc.stdout.splitlines():
        if line.startswith(("nnaccel", "INFO: Generating", "ERROR")):
            print(line)
    if proc.returncode != 0:
        print(proc.stdout[-3000:])
        raise SystemExit(f"demo: fusesoc run --target=csim {core} failed")


def built_ip(core_dir: str, top: str) -> Path:
    hits = sorted((REPO / "build").glob(f"{core_dir}/csim/src/nnaccel_hls_{top}_*/nnaccel.json"))
    if not hits:
        raise SystemExit(f"demo: no generated {top} IP under build/")
    return hits[-1].parent


def reprogram_demo(ip: Path) -> bool:
    import hls4ml
    import keras

    from .csim import CsimAccelerator
    from .weights.for_model import image_for_model

    step("run-time weights: jet_mlp -> jet_mlp_b -> jet_mlp on one C-simulated IP, no rebuild")
    import json

    desc = json.loads((ip / "nnaccel.json").read_text())
    x = np.load(JET / "x_test.npy")
    labels = np.load(JET / "y_test.npy")
    acc = CsimAccelerator(ip)
    ok = True
    with tempfile.TemporaryDirectory() as work:
        for name in ("jet_mlp", "jet_mlp_b", "jet_mlp"):
            model = JET / f"{name}.keras"
            image, report = image_for_model(ip, model)
            acc.load_weights(image)
            y = acc.predict(x)
            hm = hls4ml.converters.convert_from_keras_model(
                keras.models.load_model(model, compile=False), hls_config=desc["config"]["hls"], backend="Vitis",
                io_type=desc["io_type"], part=desc["part"], output_dir=f"{work}/{name}")
            hm.compile()
            ref = np.asarray(hm.predict(np.ascontiguousarray(x)), dtype=np.float32).reshape(y.shape)
            same = np.array_equal(y, ref)
            ok &= same
            print(f"{name}: image {report['image_bytes']} bytes loaded; accuracy "
                  f"{100 * np.mean(np.argmax(y, 1) == labels):.1f} %; vs hls4ml predict: "
                  f"{'bit-exact' if same else 'DIFFERENT'}")
    return ok


def main() -> int:
    fusesoc_csim("nn_accel")
    fusesoc_csim("digits")
    ok = reprogram_demo(built_ip("nnaccel_examples_nn_accel_0.1.0", "nn_accel"))
    step("done: " + ("every result bit-exact with hls4ml" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
