"""The `hls` dict is checked before hls4ml sees it (hls4ml ignores unknown keys, turns an unknown
Strategy into Latency and fails with Python errors on bad precisions); bus_width against the
board; hls4ml's own warnings reach the user."""
from __future__ import annotations

import pytest
import yaml

from conftest import EXAMPLES
from nnaccel.cli import main
from nnaccel.config import build_config, read_yaml
from nnaccel.errors import ConfigError
from nnaccel.hls_config import check_hls


def run_ip(capsys, tmp_path, model, *sets, config=None):
    argv = ["ip", str(model), "-o", str(tmp_path / "out"), "--set", "tb_samples=0"]
    if config is not None:
        argv += ["--config", str(config)]
    for s in sets:
        argv += ["--set", s]
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err.strip()


def assert_refused(rc, err, tmp_path, *needles):
    assert rc != 0
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sets,needles", [
    (["hls.Model.ReuseFactr=4"], ["hls.Model.ReuseFactr: unknown key; did you mean ReuseFactor?"]),
    (["hls.Model.Strategy=Foo"], ["hls.Model.Strategy", "'Foo'", "Latency, Resource"]),
    (["hls.Model.Precision=ap_fixd<16,6>"], ["hls.Model.Precision", "ap_fixd<16,6>", "ap_fixed<W,I"]),
    (["hls.Model.Precision=ap_fixed<16,6,AP_FOO>"], ["hls.Model.Precision", "AP_RND_CONV"]),
    (["hls.Model.Precision=float"], ["hls.Model.Precision", "'float'"]),
    (["hls.Model.Precision=ap_fixed<16,6"], ["hls.Model.Precision", "lacks its closing '>'"]),
    (["hls.Model.ReuseFactor=0"], ["hls.Model.ReuseFactor", "positive integer"]),
    (["hls.Model.ReuseFactor=true"], ["hls.Model.ReuseFactor", "positive integer"]),
    (["hls.Modle.ReuseFactor=4"], ["hls.Modle: unknown key; did you mean Model?"]),
    (["hls.LayerName.fc1.ReuseFactr=4"], ["hls.LayerName.fc1.ReuseFactr: unknown key; did you mean ReuseFactor?"]),
    (["hls.LayerName.fc1.Precision.weight=ap_fixed<8>"], ["hls.LayerName.fc1.Precision.weight", "ap_fixed<8>"]),
    (["hls.LayerType.Dens.ReuseFactor=4"], ["hls.LayerType.Dens: unknown layer type; did you mean Dense?"]),
    (["hls.LayerType.Dense.Strateg=Resource"], ["hls.LayerType.Dense.Strateg", "did you mean Strategy?"]),
    (["hls.LayerName.sm.TableSize=0"], ["hls.LayerName.sm.TableSize", "positive integer"]),
    (["hls.Flows=[vivado:optimise]"], ["hls.Flows[0]", "did you mean vivado:optimize?"]),
    (["hls.LayerName.fc1="], ["hls.LayerName.fc1", "expected a mapping"]),
    (["board=pynq-z2", "bus_width=128"], ["bus_width: 128", "pynq-z2", "64 bits"]),
])
def test_bad_hls_config_through_cli(capsys, tmp_path, mlp_models, sets, needles):
    rc, _, err = run_ip(capsys, tmp_path, mlp_models[0], *sets)
    assert_refused(rc, err, tmp_path, *needles)


@pytest.mark.parametrize("text,key_path,quoted", [
    ("hls: {Model: {Precision: ap_fixed<16,6>}}\n", "hls.Model.Precision", "'ap_fixed<16,6>'"),
    ("hls: {Model: {Precision: ap_fixed<16,6,AP_RND,AP_SAT>, ReuseFactor: 2}}\n", "hls.Model.Precision",
     "'ap_fixed<16,6,AP_RND,AP_SAT>'"),
    ("hls:\n  LayerName:\n    fc1: {Precision: {weight: ap_fixed<8,3>, bias: 'ap_fixed<8,3>'}}\n",
     "hls.LayerName.fc1.Precision.weight", "'ap_fixed<8,3>'"),
])
def test_unquoted_type_in_yaml_flow_style(capsys, tmp_path, mlp_models, text, key_path, quoted):
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(text)
    # what YAML makes of it: the type cut at the first comma, the rest turned into keys
    node = yaml.safe_load(text)["hls"]
    for k in key_path.split(".")[1:]:
        node = node[k]
    assert node.startswith("ap_fixed<") and ">" not in node
    rc, _, err = run_ip(capsys, tmp_path, mlp_models[0], config=cfg)
    cfg.unlink()
    assert_refused(rc, err, tmp_path, key_path, "quote it", quoted)


@pytest.mark.parametrize("strategy", ["RESOURCE", "DA", "Foo"])
def test_refused_strategies_are_ones_hls4ml_silently_reads_as_latency(tmp_path, strategy):
    """The refusal's claim, checked against hls4ml itself: these spellings give a latency layer."""
    import hls4ml
    import keras

    with pytest.raises(ConfigError, match="would quietly use Latency"):
        check_hls({"Model": {"Strategy": strategy}})
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc1")])
    hm = hls4ml.converters.convert_from_keras_model(
        m, hls_config={"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": strategy}},
        backend="Vitis", output_dir=str(tmp_path / "prj"))
    assert hm.graph["fc1"].get_attr("strategy") == "latency"


@pytest.mark.parametrize("hls", [
    {"Model": {"Precision": "fixed<16,6,RND,SAT>", "ReuseFactor": 4, "Strategy": "resource"}},
    {"Model": {"Precision": {"default": "ap_fixed<16,6>", "accum": "auto"}, "Strategy": "ResourceUnrolled"}},
    {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency", "BramFactor": 1000000000,
               "TraceOutput": False}},  # what hls4ml.utils.config_from_keras_model writes
    {"LayerName": {"sm": {"Implementation": "stable", "TableSize": 1024, "Precision": {"exp_table": "ap_fixed<18,8>"}},
                   "fc1": {"Trace": True, "ReuseFactor": 2}},
     "LayerType": {"Dense": {"Precision": {"weight": "ap_int<4>", "result": "ap_uint<8>"}}, "Softmax": {}}},
    {"Flows": ["vivado:optimize"], "SkipOptimizers": ["fuse_batch_normalization"]},
])
def test_valid_configs(hls):
    check_hls(hls)


def test_config_from_keras_model_validates(tmp_path, mlp_models):
    """hls4ml's own generated configuration (name granularity) is accepted as it is."""
    import hls4ml
    import keras

    m = keras.models.load_model(mlp_models[0], compile=False)
    for granularity in ("model", "type", "name"):
        check_hls(hls4ml.utils.config_from_keras_model(m, granularity=granularity, backend="Vitis"))


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if (p / "config.yml").is_file()))
def test_example_configs_validate(example):
    raw = read_yaml(EXAMPLES / example / "config.yml")
    cfg = build_config(raw, EXAMPLES / example)
    assert cfg.hls["Model"]["Precision"] == raw["hls"]["Model"]["Precision"]


def test_bus_width_up_to_the_board(mlp_models):
    assert build_config({"model": str(mlp_models[0]), "board": "pynq-z2", "bus_width": 64}).bus_width == 64
    assert build_config({"model": str(mlp_models[0]), "board": "pynq-z2", "bus_width": 32}).bus_width == 32
    assert build_config({"model": str(mlp_models[0]), "board": "ultra96v2", "bus_width": 128}).bus_width == 128
    assert build_config({"model": str(mlp_models[0]), "bus_width": 256}).bus_width == 256  # no board: no limit


def test_hls4ml_warning_is_shown(capsys, tmp_path, mlp_models):
    """fc1 is 16x12: hls4ml refuses reuse factor 7 for the Resource strategy and says so
    (a WARNING line it prints on stdout, where nnaccel hides hls4ml's output)."""
    rc, out, err = run_ip(capsys, tmp_path, mlp_models[0], "hls.Model.Strategy=Resource", "hls.Model.ReuseFactor=7")
    assert rc == 0, err
    lines = err.splitlines()
    assert any(line.startswith("nnaccel: hls4ml warning: Invalid ReuseFactor=7 in layer \"fc1\"") for line in lines), err
    assert all(line.startswith("nnaccel: hls4ml warning: ") for line in lines), err
    assert len(lines) == len(set(lines))
    assert all(line.startswith(("nnaccel: ", "nnaccel ip: ")) for line in out.splitlines()), out  # the rest stays hidden
