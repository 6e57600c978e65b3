"""`nnaccel check`: C-simulate an IP's stored test vectors and compare them bit
for bit with hls4ml's own predict() outputs stored beside them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .csim import open_csim, read_description, simulate_batch
from .errors import CsimCrash, NnaccelError


def differing_samples(a: np.ndarray, b: np.ndarray) -> int:
    """Samples whose outputs differ in any bit (NaN == NaN here: this compares runs, not values)."""
    a, b = np.ascontiguousarray(a).reshape(len(a), -1), np.ascontiguousarray(b).reshape(len(b), -1)
    return int(np.sum(np.any(a.view(np.uint8).reshape(len(a), -1) != b.view(np.uint8).reshape(len(b), -1), axis=1)))


def refuse_nondeterministic(what: str, first: np.ndarray, second: np.ndarray) -> None:
    n = differing_samples(first, second)
    if n:
        raise CsimCrash(f"{what}: two runs of the same {len(first)} test vectors gave different outputs for {n} "
                        f"samples; the model's C++ is not deterministic (uninitialised state?) and its outputs "
                        f"cannot be trusted")


def check_ip(ip_dir: Path, log=print, progress=None, jobs=None, timeout=None) -> bool:
    """`log`: the result lines; `progress`: a progress log for the build and the samples (nnaccel.progress).
    The vectors run twice on the same simulated device: C++ that keeps state between calls, or reads
    memory nobody wrote, shows up as differing runs and is refused (CsimCrash)."""
    desc = read_description(ip_dir)
    files = desc["files"]
    if not files.get("tb_input") or not files.get("tb_expected"):
        raise NnaccelError(f"{ip_dir}: no stored test vectors with hls4ml's outputs (tb_samples: 0, or "
                           "generated for a block design); generate the IP with tb_samples > 0")
    x = np.load(Path(ip_dir) / files["tb_input"])
    expected = np.load(Path(ip_dir) / files["tb_expected"])
    acc = open_csim(ip_dir, log=progress, jobs=jobs, timeout=timeout)
    try:
        y = simulate_batch(acc, x, progress).reshape(expected.shape)
        again = simulate_batch(acc, x[::-1], progress)[::-1].reshape(expected.shape)
    finally:
        acc.close()
    refuse_nondeterministic(f"C-simulation of {desc['top']}", y, again)
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
