"""Software generators and build scripts: `nnaccel header` errors, the Vitis (Python API and
XSCT) scripts run against recording stand-ins of `vitis` and XSCT, the bare-metal and Linux
sources compiled, the device-tree overlay, the FuseSoC core of the software."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from swtest import HERE, PY, REPO, SW, real_ip

NNACCEL = [PY, "-m", "nnaccel"]


def test_header_bad_input_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([*NNACCEL, "header", str(tmp_path / "nope"), "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "nnaccel.json" in proc.stderr and "nnaccel ip" in proc.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def stream_ip(mlp_models, tmp_path_factory):
    return real_ip("axi_stream", mlp_models[0], tmp_path_factory.getbasetemp())


def test_header_n_and_model_only(stream_ip, tmp_path):
    proc = subprocess.run([*NNACCEL, "header", str(stream_ip), "-o", str(tmp_path), "-n", "3", "--no-keras"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "nna_selftest_data.h").read_text()
    assert "#define NNA_SELFTEST_N 3u" in text and "nna_selftest_image[" in text
    proc = subprocess.run([*NNACCEL, "header", str(stream_ip), "-o", str(tmp_path), "-n", "999"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "-n: 999" in proc.stderr
    model_h = (tmp_path / "nn_accel_model.h").read_text()
    desc = json.loads((stream_ip / "nnaccel.json").read_text())
    assert f"0x{desc['fingerprint']:08X}u" in model_h and "NNA_IF_AXI_STREAM" in model_h


def design_summary(path, with_dma: bool, board: str = "ultra96v2"):
    """A block-design summary (<design>.json) as the block-design generator writes it."""
    control = [{"cell": "nn_accel", "segment": "nn_accel/s_axi_control/Reg", "offset": 0xA0000000,
                "range": 0x10000, "kind": "accelerator", "accelerator": "nn_accel"}]
    if with_dma:
        control.append({"cell": "nn_accel_dma", "segment": "nn_accel_dma/S_AXI_LITE/Reg", "offset": 0xA0010000,
                        "range": 0x10000, "kind": "dma", "accelerator": "nn_accel"})
    summary = {"schema": 1, "design": "demo", "board": board, "processor": "psu_cortexa53_0",
               "accelerators": [{"name": "nn_accel", "vlnv": "nnaccel:hls:nn_accel:1.0", "interrupt": 0}],
               "control": control, "dmas": [], "dma_length_bits": 26}
    path.write_text(json.dumps(summary))
    return path


RECORDING_VITIS = '''
import json, os
CALLS = []
def _rec(name):
    def f(*a, **k):
        CALLS.append([name, a, k])
        json.dump(CALLS, open(os.environ["VITIS_LOG"], "w"), default=str)
        return Obj()
    return f
class Obj:
    def __getattr__(self, name):
        return _rec(name)
def create_client():
    return Obj()
dispose = _rec("dispose")
'''

RECORDING_XSCT = '''
set log [open $env(XSCT_LOG) w]
foreach cmd {setws platform app importsources} {
    proc $cmd {args} "puts \\$::log \\"$cmd \\$args\\"; flush \\$::log"
}
'''


def test_vitis_scripts_build_the_selftest(stream_ip, tmp_path):
    from nnaccel.swgen import write_vitis_app

    out = tmp_path / "vitis"
    write_vitis_app(stream_ip, design_summary(tmp_path / "demo.json", True), out, xsa="../demo.xsa")
    src = out / "src"
    assert (src / "nna_selftest_data.h").is_file() and (src / "nn_accel_model.h").is_file()
    (tmp_path / "demo.xsa").write_text("xsa")

    # Vitis Unified Python API, against a recording `vitis` module
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "vitis.py").write_text(RECORDING_VITIS)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"), VITIS_LOG=str(tmp_path / "vitis.json"))
    proc = subprocess.run([sys.executable, str(out / "build_selftest.py")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    calls = {c[0]: c for c in json.loads((tmp_path / "vitis.json").read_text())}
    plat = calls["create_platform_component"][2]
    assert plat["cpu"] == "psu_cortexa53_0" and plat["os"] == "standalone" and plat["hw_design"].endswith("demo.xsa")
    imported = calls["import_files"][2]
    assert sorted(imported["files"]) == sorted(p.name for p in src.iterdir())
    defines = calls["append_app_config"][2]["values"]
    assert "NNA_ACCEL_BASEADDR=0xA0000000" in defines and "NNA_DMA_BASEADDR=0xA0010000" in defines
    assert "NNA_DMA_LENGTH_BITS=26" in defines, "the board build uses the block design's DMA length limit"
    assert "build" in calls and "dispose" in calls

    # XSCT, with its commands recorded by tclsh
    (tmp_path / "xsct.tcl").write_text(RECORDING_XSCT)
    wrapper = f"source {tmp_path / 'xsct.tcl'}\nset argv {{}}\nsource {out / 'build_selftest.tcl'}\n"
    (tmp_path / "run.tcl").write_text(wrapper)
    proc = subprocess.run(["tclsh", str(tmp_path / "run.tcl")], capture_output=True, text=True,
                          env=dict(os.environ, XSCT_LOG=str(tmp_path / "xsct.log")))
    assert proc.returncode == 0, proc.stderr
    log = (tmp_path / "xsct.log").read_text()
    assert "platform create -name nn_accel_platform -hw" in log and "-proc psu_cortexa53_0" in log
    assert "define-compiler-symbols NNA_ACCEL_BASEADDR=0xA0000000" in log and "app build -name" in log
    assert "define-compiler-symbols NNA_DMA_LENGTH_BITS=26" in log
    assert "-out" not in log.split("platform create", 1)[1].splitlines()[0], "setws already sets the workspace"

    # the imported sources compile as a bare-metal application (BSP headers: declarations only)
    objs = tmp_path / "obj"
    objs.mkdir()
    for c in src.glob("*.c"):
        cmd = ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", f"-I{src}", f"-I{HERE / 'xil_stubs'}",
               *[f"-D{d}" for d in defines], str(c), "-o", str(objs / (c.stem + ".o"))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_vitis_script_bad_summary_is_one_line(stream_ip, tmp_path):
    from nnaccel.errors import NnaccelError
    from nnaccel.swgen import write_vitis_app

    with pytest.raises(NnaccelError, match="no block-design summary"):
        write_vitis_app(stream_ip, tmp_path / "missing.json", tmp_path / "out")
    with pytest.raises(NnaccelError, match="--accel: 'other'"):
        write_vitis_app(stream_ip, design_summary(tmp_path / "d.json", True), tmp_path / "out", accel="other")
    assert not (tmp_path / "out").exists()


def test_device_tree_overlay(stream_ip, tmp_path):
    from nnaccel.swgen import write_dt_overlay

    zu = write_dt_overlay(stream_ip, design_summary(tmp_path / "zu.json", True), tmp_path / "zu.dtso").read_text()
    assert 'compatible = "generic-uio";' in zu and "reg = <0x0 0xa0000000 0x0 0x10000>;" in zu
    assert "interrupts = <0 89 4>;" in zu and "nn_accel_dma@a0010000" in zu and "ikwzm,u-dma-buf" in zu
    z7 = design_summary(tmp_path / "z7.json", False, board="pynq-z2")
    text = write_dt_overlay(stream_ip, z7, tmp_path / "z7.dtso").read_text()
    assert "reg = <0xa0000000 0x10000>;" in text and "interrupts = <0 29 4>;" in text and "_dma" not in text
    if shutil.which("dtc"):
        proc = subprocess.run(["dtc", "-@", "-I", "dts", "-O", "dtb", "-o", os.devnull, str(tmp_path / "zu.dtso")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_linux_hal_and_library_compile(tmp_path):
    for src in ("c/hal/linux/nna_hal_linux.c", "c/src/nna.c", "c/src/nna_image.c", "c/src/nna_words.c"):
        proc = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Wconversion", "-pedantic", "-Werror", "-c",
                               f"-I{SW / 'c' / 'include'}", str(SW / src), "-o", str(tmp_path / "x.o")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_sw_core_lists_existing_files():
    import yaml

    core = yaml.safe_load((SW / "nn_accel_sw.core").read_text())
    for fs in core["filesets"].values():
        for f in fs["files"]:
            name = next(iter(f)) if isinstance(f, dict) else f
            assert (SW / name).is_file(), name
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "fusesoc"), "core", "show", "nnaccel:sw:nn_accel_sw"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and "baremetal" in proc.stdout, proc.stdout + proc.stderr


def test_sw_core_targets_have_one_main_each():
    import yaml

    core = yaml.safe_load((SW / "nn_accel_sw.core").read_text())
    mains = {"apps/selftest/selftest.c", "apps/host/nna_host.c"}
    seen = set()
    for name, target in core["targets"].items():
        files = {next(iter(f)) if isinstance(f, dict) else f
                 for fs in target["filesets"] for f in core["filesets"][fs]["files"]}
        assert len(files & mains) <= 1, f"target {name} links {sorted(files & mains)}: two main()"
        seen |= files & mains
    assert seen == mains, "every application has a target"


@pytest.mark.parametrize("cps", [100000000, 99999001, 333333343, 32768])
def test_baremetal_timer_is_exact(tmp_path, cps):
    """nna_hal_time_us == counts * 10^6 // COUNTS_PER_SECOND for any counter frequency, also
    under 1 MHz, and without overflow near the 64-bit end of the counter."""
    exe = tmp_path / "timer"
    proc = subprocess.run(["cc", "-std=c99", "-O1", f"-DCOUNTS_PER_SECOND={cps}u", f"-I{SW / 'c' / 'include'}",
                           f"-I{SW / 'c' / 'hal' / 'baremetal'}", f"-I{HERE / 'xil_stubs'}", "-o", str(exe),
                           str(HERE / "timer_check.c"), str(SW / "c" / "hal" / "baremetal" / "nna_hal_baremetal.c")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    counts = [t for t in (0, 1, cps - 1, cps, 3 * cps + 12345, 10 ** 15 + 7, 2 ** 64 - 1)
              if t * 10 ** 6 // cps < 2 ** 64]  # the microseconds must fit the uint64_t result
    run = subprocess.run([str(exe), *map(str, counts)], capture_output=True, text=True, timeout=10)
    assert run.returncode == 0, f"crashed (status {run.returncode})"
    got = dict(tuple(map(int, ln.split())) for ln in run.stdout.splitlines())
    assert got == {t: t * 10 ** 6 // cps for t in counts}
