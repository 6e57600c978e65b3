"""FuseSoC conventions of the generators and cores: usage lists every parameter with type
and default, every target has a description, a generator run by a Python without the
dependencies says in one line what is missing; the version is part of every cache key;
the zynq_bd output cache keys on the content of every input."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import nnaccel
from conftest import REPO
from nnaccel import gapi, gencache
from nnaccel.bd import GENERATOR_KEYS
from nnaccel.config import KEYS

BIN = Path(sys.executable).parent
GENERATORS = yaml.safe_load((REPO / "generators" / "generators.core").read_text())["generators"]
PARAM_LINE = re.compile(r"^\s+(\w+) \(([^)]*)\): \S")


def _documented(usage: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in map(PARAM_LINE.match, usage.splitlines()) if m}


@pytest.mark.parametrize("name, params", [("nn_hls", set(KEYS) | {"config"}), ("zynq_bd", set(GENERATOR_KEYS))])
def test_usage_lists_every_parameter_with_type_and_default(name, params):
    gen = GENERATORS[name]
    assert gen["description"]
    doc = _documented(gen["usage"])
    assert params <= set(doc), f"undocumented: {sorted(params - set(doc))}"
    assert set(doc) <= params, f"documented but not accepted: {sorted(set(doc) - params)}"
    for param, spec in doc.items():
        kind, _, rest = spec.partition(",")
        assert kind.strip() and ("default" in rest or "required" in rest), f"{param}: ({spec})"


def test_fusesoc_gen_show_prints_the_usage():
    p = subprocess.run([str(BIN / "fusesoc"), "gen", "show", "zynq_bd"], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "pl_clock_mhz (float MHz" in p.stdout


def _cores():
    return [p for d in ("cores", "generators", "sw") for p in (REPO / d).rglob("*.core")]


@pytest.mark.parametrize("core", _cores(), ids=lambda p: p.name)
def test_every_target_has_a_description(core):
    data = yaml.safe_load(core.read_text())
    assert data.get("description")
    for name, target in (data.get("targets") or {}).items():
        assert target.get("description"), f"{core}: target {name}"


@pytest.mark.parametrize("template", ["ip/ip.core.j2", "bd/bd.core.j2"])
def test_generated_core_templates_describe_their_target(template):
    text = (REPO / "generators" / "nnaccel" / "templates" / template).read_text()
    targets = text[text.index("\ntargets:"):]
    assert re.findall(r"^  (\w+):\n    description: \S", targets, re.M) == ["default"]


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A venv without packages (not even pip): what `interpreter: python3` finds when the
    nn_accel venv is not on PATH."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


@pytest.mark.parametrize("script", ["nn_hls_gen.py", "zynq_bd_gen.py"])
@pytest.mark.parametrize("python", ["bare venv", "isolated"])
def test_generator_in_a_python_without_dependencies_says_what_is_missing(tmp_path, script, python, bare_python):
    gapi_input = tmp_path / "in.yml"
    gapi_input.write_text("gapi: '1.0'\nfiles_root: .\nvlnv: a:b:c:1\nparameters: {board: ultra96v2}\n")
    # -I -S: no site-packages at all, and not even the script's directory on sys.path.
    argv = [str(bare_python)] if python == "bare venv" else [sys.executable, "-I", "-S"]
    p = subprocess.run(argv + [str(REPO / "generators" / script), str(gapi_input)], cwd=tmp_path,
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert lines[0].startswith(script.replace("_gen.py", "") + ": error:")
    assert "jinja2" in lines[0] and "pyyaml" in lines[0] and "hls4ml" in lines[0]
    assert "pip install" in lines[0] and "make install" in lines[0]
    assert list(tmp_path.iterdir()) == [gapi_input]  # nothing written


def test_generator_scripts_carry_the_package_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert nnaccel.__version__ == version
    for script in sorted((REPO / "generators").glob("*_gen.py")):
        found = re.findall(r'^GENERATOR_VERSION = "([^"]+)"', script.read_text(), re.M)
        assert found == [version], script.name


def test_generator_refuses_a_package_of_another_version(monkeypatch, tmp_path, capsys):
    gapi_input = tmp_path / "in.yml"
    gapi_input.write_text("parameters: {}\n")
    monkeypatch.setattr(sys, "argv", ["x", str(gapi_input)])
    called = []
    assert gapi.run("nn_hls", lambda *a: called.append(a), "0.0.1") == 1
    assert not called
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "0.0.1" in err[0] and nnaccel.__version__ in err[0]


@pytest.fixture
def inputs(tmp_path):
    """A core directory whose zynq_bd parameters name a config YAML, which names the model."""
    core = tmp_path / "core"
    (core / "cfg").mkdir(parents=True)
    (core / "cfg" / "m.json").write_text("{}")
    (core / "cfg" / "m_weights.h5").write_bytes(b"w1")
    (core / "cfg" / "acc.yml").write_text("model: m.json\nclock_period: 5\n")
    params = {"board": "ultra96v2", "accelerators": [{"config": {"config": "cfg/acc.yml", "top": "t"}}]}
    return core, params


def test_cache_key_covers_nested_files_and_the_version(inputs, monkeypatch):
    core, params = inputs
    key = gencache.key("zynq_bd", params, core, "v:l:n:1")
    assert gencache.key("zynq_bd", params, core, "v:l:n:1") == key
    (core / "cfg" / "m_weights.h5").write_bytes(b"w2")  # named by nobody: Keras 2 NAME_weights.h5
    key2 = gencache.key("zynq_bd", params, core, "v:l:n:1")
    assert key2 != key
    (core / "cfg" / "acc.yml").write_text("model: m.json\nclock_period: 4\n")
    key3 = gencache.key("zynq_bd", params, core, "v:l:n:1")
    assert key3 != key2
    monkeypatch.setattr(gencache, "__version__", "9.9.9")
    assert gencache.key("zynq_bd", params, core, "v:l:n:1") != key3


def test_cache_reuses_output_and_keeps_nothing_from_a_failed_run(inputs, tmp_path, monkeypatch):
    core, params = inputs
    monkeypatch.setenv("NNACCEL_CACHE", str(tmp_path / "cache"))
    runs = []

    def generate(out):
        def body():
            runs.append(out)
            (out / "d").mkdir()
            (out / "d" / "f.txt").write_text("generated")
            (out / "top.core").write_text("core")
        return body

    first, second = tmp_path / "o1", tmp_path / "o2"
    for d in (first, second):
        d.mkdir()
        (d / "x_input.yml").write_text("fusesoc's")
    assert not gencache.run_cached("zynq_bd", params, core, "v", first, generate(first), log=lambda m: None)
    assert gencache.run_cached("zynq_bd", params, core, "v", second, generate(second), log=lambda m: None)
    assert runs == [first]
    assert (second / "d" / "f.txt").read_text() == "generated" and (second / "top.core").is_file()
    (entry,) = (tmp_path / "cache" / "generators").iterdir()
    assert sorted(p.name for p in entry.iterdir()) == ["d", "top.core"]  # not FuseSoC's input file

    def failing():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        gencache.run_cached("zynq_bd", params, core, "other", first, failing, log=lambda m: None)
    assert len(list((tmp_path / "cache" / "generators").iterdir())) == 1


def test_cache_key_covers_an_ip_directory_and_ignores_other_directories(tmp_path):
    ip = tmp_path / "ip"
    (ip / "hls").mkdir(parents=True)
    (ip / "nnaccel.json").write_text("{}")
    (ip / "hls" / "top.cpp").write_text("a")
    (tmp_path / "ultra96v2").mkdir()  # a folder named like the board: not an input
    params = {"board": "ultra96v2", "accelerators": [{"ip": "ip"}]}
    files = gencache.input_files(params, tmp_path)
    assert sorted(f.relative_to(tmp_path).as_posix() for f in files) == ["ip/hls/top.cpp", "ip/nnaccel.json"]
    key = gencache.key("zynq_bd", params, tmp_path, "v")
    (ip / "hls" / "top.cpp").write_text("b")
    assert gencache.key("zynq_bd", params, tmp_path, "v") != key
