"""The PYNQ driver on the host: a board build of two accelerators (axi_master `acc`, axi_stream
`strm`, VLNVs other than the default) is bundled with `nnaccel bundle`, and the bundle is used
the way a board user would, through tests/fakepynq (PYNQ's documented API over the simulated
device running each IP's C-simulation). Outputs are compared bit for bit with hls4ml's own
predict(); the .hwh checks, interrupts, DMA channels, throughput_test and close are observed
on the stand-in."""
from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, hls_reference, make_ip
from pynqboard import hls_registers, write_bitstream, write_hwh
from swtest import HLS, IP_SETTINGS, samples

FAKEPYNQ = REPO / "tests" / "fakepynq"
CORE, DESIGN = "me_demo_mysoc_0.1.0", "mysoc"
ACCELS = {"acc": "axi_master", "strm": "axi_stream"}
NOTEBOOK = REPO / "sw" / "python" / "examples" / "pynq_quickstart.ipynb"


@pytest.fixture(scope="module")
def board(tmp_path_factory, mlp_models):
    """(bundle dir, ip dirs, build work root): a board build bundled by `nnaccel bundle`."""
    from nnaccel.bd import generate
    from nnaccel.bundle import make_bundle
    from nnaccel.csim import build_csim_library
    from nnaccel_driver.sim import sim_library

    root = tmp_path_factory.mktemp("pynq")
    ips = {}
    for name, kind in ACCELS.items():
        ips[name] = root / "ips" / name
        make_ip(mlp_models[0], ips[name], hls=HLS, top=f"{name}_top", board="ultra96v2",
                **{**IP_SETTINGS[kind], "bus_width": 128})
    work = root / "build"
    summary = generate({"board": "ultra96v2", "design": DESIGN,
                        "accelerators": [{"ip": str(d), "name": n} for n, d in ips.items()]}, work / "src" / CORE)
    write_hwh(work / f"{CORE}.hwh", summary, ips)
    write_bitstream(work / f"{CORE}.bit", {n: {"ip_dir": d, "csim_library": build_csim_library(d),
                                               "sim_library": sim_library(),
                                               "dma_length_bits": summary["dma_length_bits"]}
                                           for n, d in ips.items()})
    (work / f"{CORE}.xsa").write_text("fake xsa\n")
    final, _, _ = make_bundle(work, root / "deploy", log=lambda *a: None)
    return final, ips, work


@pytest.fixture
def pynq(monkeypatch):
    """The stand-in `pynq` importable, and the driver module imported fresh against it."""
    monkeypatch.syspath_prepend(str(FAKEPYNQ))
    for m in [m for m in sys.modules if m == "pynq" or m.startswith(("pynq.", "nnaccel_driver.pynq_driver"))]:
        monkeypatch.delitem(sys.modules, m)
    import pynq as stub

    yield stub
    from pynq import _board

    for d in _board.DEVICES:
        d.close()
    _board.DEVICES.clear()
    for m in [m for m in sys.modules if m == "pynq" or m.startswith(("pynq.", "nnaccel_driver.pynq_driver"))]:
        del sys.modules[m]  # the stand-in leaves no trace for the tests that follow in this process


def _refs(mlp_models, ref_root, x):
    return hls_reference(mlp_models[0], HLS, "io_stream", x, ref_root), \
        hls_reference(mlp_models[1], HLS, "io_stream", x, ref_root)


def test_plain_overlay_after_installing_the_bundle_wheel(board, mlp_models, ref_root, tmp_path):
    """The three lines of the bundle's README: untar, pip install the wheel, Overlay(...).<cell>.predict."""
    bundle, _, _ = board
    (wheel,) = bundle.glob("*.whl")
    site = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                        "--disable-pip-version-check", "--target", str(site), str(wheel)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    x = samples(7, seed=31)
    np.save(tmp_path / "x.npy", x)
    script = ("import sys, numpy as np\nfrom pynq import Overlay\n"
              f"ol = Overlay('{DESIGN}.bit')\nx = np.load(sys.argv[1])\n"
              "import nnaccel_driver\nprint(nnaccel_driver.__file__)\n"
              "np.save(sys.argv[2], ol.acc.predict(x))\nnp.save(sys.argv[3], ol.strm.predict(x))\n")
    p = subprocess.run([sys.executable, "-c", script, str(tmp_path / "x.npy"), str(tmp_path / "a.npy"),
                        str(tmp_path / "s.npy")], cwd=bundle, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": f"{site}:{FAKEPYNQ}"})
    assert p.returncode == 0, p.stderr[-3000:]
    assert Path(p.stdout.splitlines()[-1]).parent == site / "nnaccel_driver"  # the wheel's driver, not the checkout's
    ref_a, _ = _refs(mlp_models, ref_root, x)
    assert np.array_equal(np.load(tmp_path / "a.npy"), ref_a)
    assert np.array_equal(np.load(tmp_path / "s.npy"), ref_a)
    # the README's last line, as typed
    lines = (bundle / "README.md").read_text().splitlines()
    line = lines[lines.index(f"pip install {wheel.name}") + 1]
    p = subprocess.run(shlex.split(line.replace("python3", sys.executable, 1)), cwd=bundle, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": f"{site}:{FAKEPYNQ}"})
    assert p.returncode == 0, p.stderr[-3000:]
    zero = _refs(mlp_models, ref_root, np.zeros((1, 16), np.float32))[0]
    assert p.stdout.strip() == str(zero)


def test_overlay_binds_every_accelerator_and_reprograms(board, pynq, mlp_models, ref_root, tmp_path):
    from nnaccel.weights.for_model import image_for_model
    from nnaccel_driver.pynq_driver import ChannelDma, NnAccelOverlay

    bundle, ips, _ = board
    x = samples(9, seed=32)
    ref_a, ref_b = _refs(mlp_models, ref_root, x)
    assert not np.array_equal(ref_a, ref_b)
    img_b, _ = image_for_model(ips["acc"], mlp_models[1])
    with NnAccelOverlay(str(bundle / f"{DESIGN}.bit")) as ol:
        assert sorted(ol.accelerators) == ["acc", "strm"]
        assert type(ol.acc).bindto == ["nnaccel:hls:acc_top:1.0"]
        for name in ("acc", "strm"):
            assert np.array_equal(getattr(ol, name).predict(x), ref_a), name
        assert isinstance(ol.strm.accelerator._dma, ChannelDma)
        dma = ol.strm.accelerator._dma.dma  # pynq.lib.dma's driver of the cell strm_dma
        assert dma is ol.strm_dma and type(dma).__module__ == "pynq.lib.dma"
        assert dma.sendchannel.transferred == 9 * 16 * 4 and dma.recvchannel.transferred == 9 * 5 * 4
        assert ol.strm.accelerator.dma_max_bytes == (1 << 26) - 1  # C_SG_LENGTH_WIDTH from the .hwh
        ol.acc.load_weights(img_b)
        assert np.array_equal(ol.acc.predict(x), ref_b)
        assert np.array_equal(ol.strm.predict(x), ref_a)  # the other accelerator kept its weights
        acc = ol.acc.accelerator
        assert acc._work is not None
    assert acc._work is None  # closed with the overlay


def test_predict_async_waits_on_the_interrupt(board, pynq, mlp_models, ref_root):
    from nnaccel_driver.pynq_driver import NnAccelOverlay

    bundle, _, _ = board
    x = samples(5, seed=33)
    ref_a, _ = _refs(mlp_models, ref_root, x)
    ol = NnAccelOverlay(str(bundle / f"{DESIGN}.bit"))
    assert ol.acc.interrupt_wired and ol.acc.status()["interrupt_wired"]

    async def both():
        return await asyncio.gather(ol.acc.predict_async(x), ol.strm.predict_async(x))

    ya, ys = asyncio.run(both())
    assert np.array_equal(ya, ref_a) and np.array_equal(ys, ref_a)
    assert ol.acc.interrupt.waits >= 1 and ol.strm.interrupt.waits >= 1
    assert ol.acc.read(0x0C) == 0, "the driver acknowledged the interrupt (ISR clear)"
    assert np.array_equal(ol.acc.predict(x), ref_a)  # the synchronous path still polls


def test_a_stalled_core_times_out_on_both_paths(board, pynq):
    from nnaccel_driver import AccelTimeoutError, BusyError
    from nnaccel_driver.pynq_driver import NnAccelOverlay
    from pynq import _board

    bundle, _, _ = board
    ol = NnAccelOverlay(str(bundle / f"{DESIGN}.bit"), timeout=0.3)
    (dev,) = [d for d in _board.DEVICES if d.desc.interface == "axi_master"]
    dev.stall(True)
    x = samples(2, seed=36)
    with pytest.raises(AccelTimeoutError, match="no interrupt from the core within 0.3 s"):
        asyncio.run(ol.acc.predict_async(x))
    with pytest.raises(BusyError, match="an earlier start never finished"):  # the stalled start is still running
        ol.acc.predict(x)
    (sdev,) = [d for d in _board.DEVICES if d.desc.interface == "axi_stream"]
    sdev.stall(True)
    with pytest.raises(AccelTimeoutError, match="the core did not finish within 0.3 s"):
        ol.strm.predict(x)  # polling, bounded


def _copy_bundle(board, tmp_path) -> Path:
    bundle, _, _ = board
    dst = tmp_path / DESIGN
    shutil.copytree(bundle, dst)
    return dst


def test_without_a_wired_interrupt_predict_async_polls(board, pynq, mlp_models, ref_root, tmp_path):
    from nnaccel_driver.pynq_driver import NnAccelOverlay

    b = _copy_bundle(board, tmp_path)
    summary = json.loads((b / f"{DESIGN}.json").read_text())
    write_hwh(b / f"{DESIGN}.hwh", summary, board[1], interrupts=False)
    x = samples(3, seed=34)
    ol = NnAccelOverlay(str(b / f"{DESIGN}.bit"))
    assert not ol.acc.interrupt_wired and getattr(ol.acc, "interrupt", None) is None
    assert np.array_equal(asyncio.run(ol.acc.predict_async(x)), _refs(mlp_models, ref_root, x)[0])


def test_hwh_register_offsets_are_checked(board, pynq, tmp_path):
    from nnaccel_driver import IdentError
    from nnaccel_driver.pynq_driver import NnAccelOverlay

    b = _copy_bundle(board, tmp_path)
    summary = json.loads((b / f"{DESIGN}.json").read_text())
    from nnaccel_driver import load_description
    from nnaccel_driver.hwh import HLS_REGISTER

    for cell in ("acc", "strm"):  # the driver's names are the ones the emitted top's pragmas give
        regs = hls_registers(board[1][cell])
        desc = load_description(board[1][cell])
        checked = {n: o for n, o in desc.regs.items() if n not in ("GIE", "IER", "ISR")}
        assert {n: regs[HLS_REGISTER[n]] for n in checked} == checked
    regs = hls_registers(board[1]["acc"])
    assert regs["weights_1"] == 0x40 and regs["in_data_1"] == 0x20 and regs["ident"] == 0x80
    regs["fingerprint"] = 0x74
    write_hwh(b / f"{DESIGN}.hwh", summary, board[1], registers={"acc": regs})
    with pytest.raises(IdentError, match=r"register fingerprint at 0x74, the description's register map puts "
                                         r"FINGERPRINT at 0x70"):
        NnAccelOverlay(str(b / f"{DESIGN}.bit"))


def test_description_for_another_ip_is_refused(board, pynq, tmp_path):
    from nnaccel_driver import IdentError
    from pynq import Overlay

    b = _copy_bundle(board, tmp_path)
    for f in ("nnaccel.json", "regmap.json", "weights_layout.json", "weights.bin"):
        shutil.copy(b / "strm" / f, b / "acc" / f)
    import nnaccel_driver.pynq_driver  # noqa: F401  (the checkout's driver: no entry point here)
    from nnaccel_driver.pynq_driver import driver_for

    driver_for("nnaccel:hls:acc_top:1.0")
    ol = Overlay(str(b / f"{DESIGN}.bit"))
    with pytest.raises(IdentError, match=r"describes nnaccel:hls:strm_top:1.0, the overlay's cell acc is "
                                         r"nnaccel:hls:acc_top:1.0"):
        ol.acc.predict(np.zeros(16, np.float32))


def test_dma_error_is_reported_and_the_channels_recover(board, pynq, mlp_models, ref_root):
    from nnaccel_driver import DmaError
    from nnaccel_driver.pynq_driver import NnAccelOverlay
    from pynq import _board

    bundle, _, _ = board
    x = samples(4, seed=35)
    ol = NnAccelOverlay(str(bundle / f"{DESIGN}.bit"), timeout=0.5)
    (dev,) = [d for d in _board.DEVICES if d.desc.interface == "axi_stream"]
    dev.dma_error(0x40, "s2mm")  # DMA decode error on the receive side
    with pytest.raises(DmaError):
        ol.strm.predict(x)
    assert np.array_equal(ol.strm.predict(x), _refs(mlp_models, ref_root, x)[0])


def test_throughput_test_times_whole_batches(board, pynq):
    from nnaccel_driver.pynq_driver import NnAccelOverlay
    from pynq import _board

    bundle, _, _ = board
    ol = NnAccelOverlay(str(bundle / f"{DESIGN}.bit"))
    (dev,) = [d for d in _board.DEVICES if d.desc.interface == "axi_master"]
    starts = dev.counters()["starts"]
    r = ol.acc.throughput_test(50, batch=16)
    assert r["samples"] == 50 and r["batch"] == 16 and r["samples_per_s"] > 0
    assert dev.counters()["starts"] - starts == 4  # 16 + 16 + 16 + 2
    assert r["in_MB_per_s"] == pytest.approx(50 * 16 * 4 / r["seconds"] / 1e6)


def test_example_notebook_runs_against_the_bundle(board, pynq, mlp_models, ref_root, monkeypatch):
    """Every code cell of the example notebook, in order, in the bundle directory."""
    bundle, _, _ = board
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["nbformat"] == 4
    monkeypatch.chdir(bundle)
    ns: dict = {}
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(cells) >= 4
    for i, cell in enumerate(cells):  # top-level await allowed, as in Jupyter
        code = compile("".join(cell["source"]), f"{NOTEBOOK.name}[{i}]", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, ns)  # noqa: S307
        if inspect.iscoroutine(result):
            asyncio.run(result)
    ref_a, _ = _refs(mlp_models, ref_root, ns["x"])
    assert np.array_equal(ns["y"], ref_a) and np.array_equal(ns["y_async"], ref_a)
    assert ns["report"]["samples"] == 1000
