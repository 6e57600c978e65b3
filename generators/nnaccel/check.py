"""`nnaccel check`: C-simulate an IP's stored test vectors and compare them bit
for bit with hls4ml's own predict() outputs stored beside them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .csim import read_description, run_csim
from .errors import NnaccelError


def check_ip(ip_dir: Path, log=print, progress=None) -> bool:
    """`log`: the result lines; `progress`: a progress log for the build and the samples (nnaccel.progress)."""
    desc = read_description(ip_dir)
    files = desc["files"]
    if not files.get("tb_input") or not files.get("tb_expected"):
        raise NnaccelError(f"{ip_dir}: no stored test vectors with hls4ml's outputs (tb_samples: 0, or "
                           "generated for a block design); generate the IP with tb_samples > 0")
    x = np.load(Path(ip_dir) / files["tb_input"])
    expected = np.load(Path(ip_dir) / files["tb_expected"])
    y = run_csim(ip_dir, x, log=progress).reshape(expected.shape)
    mismatches = int(np.sum(np.any(y != expected, axis=1)))
    same = np.array_equal(y, expected)
    log(f"nnaccel check {desc['top']}: {len(x)} samples, C-simulation vs hls4ml predict: "
        f"{'bit-exact' if same else f'{mismatches} samples DIFFER'}")
    if files.get("tb_labels"):
        labels = np.load(Path(ip_dir) / files["tb_labels"])
        acc = float(np.mean(np.argmax(y.reshape(len(y), -1), axis=1) == labels))
        log(f"nnaccel check {desc['top']}: accuracy of the C-simulated accelerator on {len(labels)} labelled "
            f"samples: {100 * acc:.1f} %")
    return same
