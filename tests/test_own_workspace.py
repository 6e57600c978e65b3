"""README, "Use it in your own FuseSoC workspace": the shell lines and the core printed there,
run as they are (the clone is this repository, the venv the one running the tests) in an
empty workspace with a small Keras model: `fusesoc library add` and
`fusesoc run --setup --target=ultra96v2 my_accel` pass and set up the whole flow."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

BIN = Path(sys.executable).parent


def _readme_blocks() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Use it in your own FuseSoC workspace"):]
    section = section[:section.index("\n## ", 1)]
    return dict(re.findall(r"```(sh|yaml)\n(.*?)```", section, re.S))


def test_readme_workspace_sets_up(tmp_path, mlp_models):
    blocks = _readme_blocks()
    activate = ". $NN_ACCEL/.venv/bin/activate"
    assert blocks["sh"].startswith(activate)
    if not (BIN / "activate").is_file():
        pytest.skip("the tests do not run from a venv")
    script = blocks["sh"].replace(activate, f". {BIN / 'activate'}", 1)
    ws = tmp_path / "my_workspace"
    ws.mkdir()
    (ws / "my_accel.core").write_text(blocks["yaml"])
    shutil.copy(mlp_models[0], ws / "my_model.keras")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NN_ACCEL": str(REPO),
           "NNACCEL_CACHE": str(tmp_path / "nnaccel_cache"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data")}
    for k in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND"):
        if k in os.environ:
            env[k] = os.environ[k]
    p = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    conf = (ws / "fusesoc.conf").read_text()
    assert f"location = {REPO / 'generators'}" in conf and "[library.my_cores]" in conf
    (work,) = (ws / "build").glob("me_nn_my_accel_*/ultra96v2")
    make = (work / "Makefile").read_text()
    assert "vitis_hls -f src/" in make and "_handoff.tcl" in make
    assert list(work.glob("src/*/nn_system_bd.tcl")) and list(work.glob("src/*/ip/my_accel/hls/build_hls.tcl"))
