"""`make demo`: the main job, end to end, without vendor tools.

1. `fusesoc run --target=csim nn_accel`: the jet tagger IP is generated, C-simulated on
   its test set and compared bit for bit with hls4ml's predict(); accuracy is reported.
2. `fusesoc run --target=csim digits`: the same for a CNN trained on scikit-learn's digits.
3. Run-time weights through the C driver: the C driver (sw/c), built for the host against
   the simulated device (sw/sim), loads weight set A, B (jet_mlp_b) and A again into the IP
   built in step 1, without rebuilding it; each time its outputs are compared bit for bit with
   hls4ml's predict() of that model.
4. The bare-metal self-test app, built for the host against the simulated device, on that IP.
5. Weight banks: the jet tagger with `weight_banks: 2`, A in bank 0 and B in bank 1, through the
   Python driver on the simulated device; select_bank(1) is requested while a batch streams (during
   its second start): that batch is all A, the next all B, each output compared with hls4ml.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .resources import CHECKOUT, checkout, sw_dir

# The demo runs the example cores through FuseSoC: it needs the repository (main() checks).
REPO = CHECKOUT
JET = REPO / "cores" / "examples" / "jet_mlp"
SW = sw_dir()


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


_REFS: dict = {}  # (model, hls config, inputs) -> hls4ml's outputs: steps 3 and 5 share them


def hls4ml_predict(model: Path, desc: dict, x: np.ndarray, work: str) -> np.ndarray:
    import hashlib
    import json

    key = (str(model), json.dumps(desc["config"]["hls"], sort_keys=True), desc["io_type"],
           hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest())
    if key not in _REFS:
        _REFS[key] = _hls4ml_predict(model, desc, x, work)
    return _REFS[key]


def _hls4ml_predict(model: Path, desc: dict, x: np.ndarray, work: str) -> np.ndarray:
    import hls4ml

    from .hls import load_keras, quiet

    with quiet():
        hm = hls4ml.converters.convert_from_keras_model(
            load_keras(model), hls_config=desc["config"]["hls"], backend="Vitis",
            io_type=desc["io_type"], part=desc["part"], output_dir=f"{work}/{model.stem}")
        hm.compile()
        return np.asarray(hm.predict(np.ascontiguousarray(x)), dtype=np.float32)


def make_sw(target: str, ip: Path, build: Path) -> None:
    subprocess.run(["make", "--no-print-directory", "-s", "-C", str(SW), target, f"IP={ip}",
                    f"BUILD={build}", f"PY={sys.executable}", "HEADER_FLAGS=-n 50"],
                   check=True, stdout=subprocess.DEVNULL)


def c_driver_demo(ip: Path) -> bool:
    import json

    from .weights.for_model import image_for_model

    step("C driver on the simulated device: weights jet_mlp -> jet_mlp_b -> jet_mlp, no rebuild")
    desc = json.loads((ip / "nnaccel.json").read_text())
    x = np.ascontiguousarray(np.load(JET / "x_test.npy"), dtype=np.float32)
    labels = np.load(JET / "y_test.npy")
    work = REPO / "build" / "demo"
    sw_build = work / "sw"
    work.mkdir(parents=True, exist_ok=True)
    images = {"jet_mlp": ip / "weights.bin", "jet_mlp_b": work / "jet_mlp_b.bin"}
    img_b, _ = image_for_model(ip, JET / "jet_mlp_b.keras")
    images["jet_mlp_b"].write_bytes(img_b)
    x.astype("<f4").tofile(work / "x.f32")
    make_sw("host", ip, sw_build)
    make_sw("csimlib", ip, sw_build)
    order = ["jet_mlp", "jet_mlp_b", "jet_mlp"]
    cmd = [str(sw_build / "nna_host"), (sw_build / "csim_lib.txt").read_text().strip()]
    for i, name in enumerate(order):
        cmd += ["load", str(images[name]), "predict-f32", str(work / "x.f32"), str(work / f"y{i}.f32")]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        refs = {name: hls4ml_predict(JET / f"{name}.keras", desc, x, tmp) for name in set(order)}
    ys = [np.fromfile(work / f"y{i}.f32", dtype="<f4").reshape(refs[name].shape) for i, name in enumerate(order)]
    for y, name in zip(ys, order):
        same = np.array_equal(y, refs[name])
        ok &= same
        print(f"load {name} ({images[name].stat().st_size} bytes), predict {len(x)} samples: accuracy "
              f"{100 * np.mean(np.argmax(y, 1) == labels):.1f} %, vs hls4ml predict: "
              f"{'bit-exact' if same else 'DIFFERENT'}")
    print(f"jet_mlp_b changed the outputs of {int(np.any(ys[0] != ys[1], axis=1).sum())} of {len(x)} samples "
          f"({int(np.sum(np.argmax(ys[0], 1) != np.argmax(ys[1], 1)))} decisions)")
    return ok


def bank_demo(ip: Path) -> bool:
    """Both weight sets on chip; a switch requested mid-batch takes effect at the next batch."""
    import json

    from .accel import generate_ip
    from .config import load_config
    from .weights.for_model import image_for_model

    sys.path.insert(0, str(SW / "python"))
    from nnaccel_driver.sim import simulate

    step("weight banks: jet_mlp in bank 0, jet_mlp_b in bank 1; select_bank(1) while a batch streams")
    work = REPO / "build" / "demo"
    banked = work / "jet_mlp_banks"
    cfg = load_config(JET / "config.yml", overrides=["weight_banks=2", "tb_samples=0"])
    generate_ip(cfg, banked, log=lambda *a: None, reference=False, force=banked.is_dir())
    desc = json.loads((ip / "nnaccel.json").read_text())
    x_all = np.ascontiguousarray(np.load(JET / "x_test.npy"), dtype=np.float32)  # step 3's inputs: its refs
    x = x_all[:96]
    with tempfile.TemporaryDirectory() as tmp:
        refs = {name: hls4ml_predict(JET / f"{name}.keras", desc, x_all, tmp)[:96] for name in ("jet_mlp", "jet_mlp_b")}
    acc = simulate(banked, timeout=10.0)
    acc.load_weights(bank=0)
    acc.load_weights(image_for_model(banked, JET / "jet_mlp_b.keras")[0], bank=1)
    acc.max_work_bytes = 64 + 32 * (desc["n_inputs"] * 4 + desc["n_outputs"] * 4)  # 32 samples per start
    acc.sim.call_on_start(2, lambda: acc.select_bank(1))
    ys, starts = [], []
    for _ in range(2):
        s0 = acc.sim.counters()["starts"]
        ys.append(acc.predict(x))
        starts.append(acc.sim.counters()["starts"] - s0)
    acc.close()
    ok = True
    for y, n_starts, label in zip(ys, starts, ("batch during whose 2nd start select_bank(1) was called",
                                               "next batch")):
        rows = {name: int(sum(np.array_equal(r, rr) for r, rr in zip(y, ref))) for name, ref in refs.items()}
        want = "jet_mlp" if label.startswith("batch during") else "jet_mlp_b"
        ok &= rows[want] == len(x)
        print(f"{label}: {len(x)} samples in {n_starts} starts; rows equal to hls4ml predict() of jet_mlp: "
              f"{rows['jet_mlp']}, of jet_mlp_b: {rows['jet_mlp_b']} -> "
              f"{'all ' + want if rows[want] == len(x) else 'MIXED'}")
    return ok


def selftest_demo(ip: Path) -> bool:
    step("self-test app (the bare-metal one, built for the host) on the simulated device")
    build = REPO / "build" / "demo" / "sw"
    proc = subprocess.run(["make", "--no-print-directory", "-s", "-C", str(SW), "run-selftest", f"IP={ip}",
                           f"BUILD={build}", f"PY={sys.executable}", "HEADER_FLAGS=-n 50 --no-keras"],
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print("\n".join(line for line in proc.stdout.splitlines()[-6:]))
    return proc.returncode == 0


def main() -> int:
    if checkout() is None:
        print("nnaccel.demo: error: the demo runs the example cores of a repository checkout "
              "(cores/, fusesoc.conf); this installed package has none", file=sys.stderr)
        return 1
    fusesoc_csim("nn_accel")
    fusesoc_csim("digits")
    ip = built_ip("nnaccel_examples_nn_accel_0.1.0", "nn_accel")
    ok = c_driver_demo(ip)
    ok &= selftest_demo(ip)
    ok &= bank_demo(ip)
    step("done: " + ("every result bit-exact with hls4ml" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
