"""Incremental board builds with stand-ins for the AMD tools (tests/fake_tools: they log
every call and write the files the real tool would, where the real tool would).

A user's core with two small accelerators is built for Ultra96-V2 four times in one
workspace: the first build calls every tool; the second, with nothing changed, calls
none; after `clock_period` of one accelerator changes, Vitis HLS runs for that one only,
then Vivado and Vitis (the bitstream holds both); after its weights change, only its
self-test application is rebuilt. Separately: a warm
`fusesoc run --setup` of the nn_accel example takes at most 20 % of a cold one."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

BIN = Path(sys.executable).parent
FAKE_TOOLS = REPO / "tests" / "fake_tools"

CORE = """CAPI=2:
name: test:incr:two:0.1.0
description: two small accelerators on Ultra96-V2

filesets:
  generators:
    depend: [nnaccel:gen:generators]

generate:
  soc:
    generator: zynq_bd
    parameters:
      board: ultra96v2
      accelerators:
        - name: a
          config: {{model: mlp_a.keras, top: acc_a, clock_period: 5, tb_input: x.npy, tb_samples: 4}}
        - name: b
          config: {{model: mlp_b.keras, top: acc_b, clock_period: {clock_b}, tb_input: x.npy, tb_samples: 4}}

targets:
  default: &default
    description: the generators only
    filesets: [generators]
    toplevel: nn_system_wrapper
  ultra96v2:
    <<: *default
    description: Ultra96-V2 bitstream, handoff and self-tests
    flow: nnaccel_zynq
    generate: [soc]
"""


def _workspace(root: Path, models) -> Path:
    ws = root / "ws"
    core = ws / "mycores"
    core.mkdir(parents=True)
    for m in models:
        shutil.copy(m, core / m.name)
    np.save(core / "x.npy", np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32))
    (core / "two.core").write_text(CORE.format(clock_b=5))
    (ws / "fusesoc.conf").write_text(
        f"[main]\ncache_root = {ws / 'fusesoc_cache'}\n"
        f"[library.nn_accel_generators]\nlocation = {REPO / 'generators'}\nsync-type = local\nauto-sync = false\n"
        f"[library.mine]\nlocation = {core}\nsync-type = local\nauto-sync = false\n")
    return ws


def _build(ws: Path, target_args=("--target=ultra96v2", "two")):
    """One `fusesoc run`; returns the process and the tool calls it made, in order."""
    log = ws / "calls.log"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "EDALIZE_LAUNCHER"}
    env.update(PATH=f"{FAKE_TOOLS}:{BIN}:/usr/bin:/bin", NNACCEL_FAKE_LOG=str(log),
               NNACCEL_CACHE=str(ws / "nnaccel_cache"))
    p = subprocess.run([str(BIN / "fusesoc"), "--config", str(ws / "fusesoc.conf"), "run",
                        "--build-root", str(ws / "build"), *target_args],
                       cwd=ws, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return p, calls


def _work_root(ws: Path) -> Path:
    (work,) = (ws / "build").glob("*/ultra96v2")
    return work


def _hls_accels(calls) -> list[str]:
    """The accelerator (IP directory name) of every Vitis HLS call."""
    return [Path(c["argv"][1]).parent.parent.name for c in calls if c["tool"] == "vitis_hls"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory, mlp_models):
    ws = _workspace(tmp_path_factory.mktemp("incr"), mlp_models)
    runs = {"first": _build(ws)}
    work = _work_root(ws)
    component_a = work / "acc_a_prj" / "solution1" / "impl" / "ip" / "component.xml"
    stamp_a = component_a.stat().st_mtime_ns if component_a.exists() else None
    archive = work / "bundle" / "nn_system.tar.gz"
    runs["bundle_stamps"] = [archive.stat().st_mtime_ns if archive.exists() else None]
    runs["second"] = _build(ws)
    runs["bundle_stamps"].append(archive.stat().st_mtime_ns)
    core = ws / "mycores" / "two.core"
    core.write_text(CORE.format(clock_b=4))
    runs["clock"] = _build(ws)
    # New weights for `a`, same architecture: its HLS code and the bitstream stay (the weights
    # are loaded at run time); its self-test, whose expected outputs come from them, is rebuilt.
    shutil.copy(ws / "mycores" / "mlp_b.keras", ws / "mycores" / "mlp_a.keras")
    runs["weights"] = _build(ws)
    runs["bundle_stamps"].append(archive.stat().st_mtime_ns)
    return ws, runs, component_a, stamp_a


def test_first_build_calls_every_tool_with_outputs_in_the_work_root(builds):
    ws, runs, component_a, _ = builds
    _, calls = runs["first"]
    assert sorted(_hls_accels(calls)) == ["a", "b"]
    work = _work_root(ws)
    assert all(c["cwd"] == str(work) for c in calls)
    vivado = [c["argv"] for c in calls if c["tool"] == "vivado"]
    assert [next(a for a in v if a.endswith(".tcl")).rsplit("_", 1)[-1] for v in vivado] == \
        ["0.1.0.tcl", "synth.tcl", "handoff.tcl"]
    assert sum(c["tool"] == "vitis" for c in calls) == 2
    assert component_a.is_file() and (work / "acc_b_prj").is_dir()
    # Nothing the tools write lands in the exported sources, which FuseSoC prunes on every run.
    assert not list((work / "src").rglob("*_prj")) and not list((work / "src").rglob("component.xml"))
    for ext in (".bit", ".xsa", ".hwh"):
        assert (work / f"test_incr_two_0.1.0{ext}").is_file()
    assert len(list((work / "vitis").rglob("*_selftest.elf"))) == 2


def test_every_build_ends_with_the_board_bundle(builds):
    ws, runs, _, _ = builds
    work = _work_root(ws)
    b = work / "bundle" / "nn_system"
    first, second, after_weights = runs["bundle_stamps"]
    assert first is not None and second == first  # nothing changed: the bundle is not made again
    assert after_weights != first
    assert (b / "nn_system.bit").read_bytes() == (work / "test_incr_two_0.1.0.bit").read_bytes()
    assert (b / "nn_system.hwh").is_file() and (b / "nn_system.xsa").is_file()
    assert sorted(p.name for p in b.glob("*/*_selftest.elf")) == ["a_selftest.elf", "b_selftest.elf"]
    # the new weights of `a` reached the bundle
    (ip_a,) = work.glob("src/*/ip/a")
    assert (b / "a" / "weights.bin").read_bytes() == (ip_a / "weights.bin").read_bytes()
    assert (work / "bundle" / "nn_system.tar.gz").is_file()


def test_second_build_with_nothing_changed_calls_no_tool(builds):
    _, runs, _, _ = builds
    p, calls = runs["second"]
    assert calls == []
    assert "zynq_bd: inputs unchanged, reusing" in p.stdout + p.stderr


def test_clock_change_reruns_hls_of_that_accelerator_only(builds):
    ws, runs, component_a, stamp_a = builds
    _, calls = runs["clock"]
    assert _hls_accels(calls) == ["b"]
    assert component_a.stat().st_mtime_ns == stamp_a
    script_b = _work_root(ws) / [c for c in calls if c["tool"] == "vitis_hls"][0]["argv"][1]
    assert "create_clock -period 4.0 " in script_b.read_text()
    tools = [c["tool"] for c in calls]
    assert tools.count("vivado") == 3 and tools.count("vitis") == 2
    assert tools.index("vitis_hls") < tools.index("vivado")


def test_new_weights_rebuild_only_that_self_test(builds):
    ws, runs, _, _ = builds
    _, calls = runs["weights"]
    assert [c["tool"] for c in calls] == ["vitis"]
    assert calls[0]["argv"][1] == "vitis/a/build_selftest.py"


def test_generated_core_targets_have_descriptions(builds):
    import yaml

    ws, _, _, _ = builds
    cores = list((ws / "build").rglob("generator_cache/**/*.core"))
    assert cores
    for core in cores:
        targets = yaml.safe_load(core.read_text())["targets"]
        assert all(t.get("description") for t in targets.values()), core


def test_warm_setup_takes_at_most_a_fifth_of_a_cold_one(tmp_path):
    """The nn_accel example: cold = empty nnaccel cache and build root (the model is converted);
    warm = the same command again (zynq_bd's output comes from the cache, nothing is rewritten)."""
    env = {k: v for k, v in os.environ.items() if k != "EDALIZE_LAUNCHER"}
    env.update(PATH=f"{BIN}:/usr/bin:/bin", NNACCEL_CACHE=str(tmp_path / "nnaccel_cache"))
    cmd = [str(BIN / "fusesoc"), "run", "--build-root", str(tmp_path / "build"), "--setup",
           "--target=ultra96v2", "nn_accel"]
    times = []
    for _ in range(2):
        t0 = time.monotonic()
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        times.append(time.monotonic() - t0)
        assert p.returncode == 0, p.stderr[-2000:]
    cold, warm = times
    print(f"fusesoc run --setup --target=ultra96v2 nn_accel: cold {cold:.1f} s, warm {warm:.1f} s")
    assert warm <= 0.2 * cold
