"""One user of a shared simulated device (tests/test_concurrency.py): N rounds of "load weight
set A or B (seeded choice), then predict x", recorded for the test to check.

    python concurrent_worker.py IP SOCKET LOCK|- MODE N SEED A.bin B.bin X.npy OUT.npz

The test starts both users together: each waits for OUT.npz.go after printing "ready".
MODE sequence: each round inside `with acc.lock()` (the load and its predict are one unit);
MODE ops: every call locks by itself (another user may load between them). LOCK "-": the
driver gets no lock path (the control: nothing serialises the processes)."""
from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import swtest  # noqa: E402,F401  (puts the driver package on sys.path)
from swtest.shared_device import connect  # noqa: E402


def main(ip, sock, lock, mode, n, seed, img_a, img_b, x_path, out):
    images = [Path(img_a).read_bytes(), Path(img_b).read_bytes()]
    x = np.load(x_path)
    acc = connect(ip, sock, lock_path=None if lock == "-" else lock)
    rng = np.random.default_rng(int(seed))
    print("ready", flush=True)  # then wait for the test's start signal, so both users overlap
    while not Path(out + ".go").exists():
        time.sleep(0.001)
    choices, outputs, errors = [], [], []
    for _ in range(int(n)):
        c = int(rng.integers(2))
        y = np.full((len(x), acc.desc.n_outputs), np.nan, np.float32)
        try:
            with acc.lock() if mode == "sequence" else nullcontext():
                acc.load_weights(images[c])
                y = acc.predict(x).reshape(len(x), -1)
            err = ""
        except Exception as e:  # the control run may see any driver error: record it
            err = f"{type(e).__name__}: {e}"
        choices.append(c)
        outputs.append(y)
        errors.append(err)
    np.savez(out, choices=np.array(choices), outputs=np.array(outputs), errors=np.array(errors))


if __name__ == "__main__":
    main(*sys.argv[1:])
