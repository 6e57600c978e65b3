"""Weight banks (`weight_banks: N`): on the C-simulated IP itself (raw starts, no host checks) two
weight sets stay on chip and each RUN uses the bank ACTIVE_BANK named at its start, bit-exact with
hls4ml's predict() of that set; a failed load invalidates only its own bank. Register offsets and
codes come from the documented table (docs/contracts.md, register map version 3)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from conftest import hls_reference, make_ip
from nnaccel.config import build_config
from nnaccel.csim import CsimAccelerator, encode_words
from nnaccel.errors import ConfigError

HLS = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
# docs/contracts.md: LAST_ERROR codes, command bits, STATUS bits, bank registers
OK, NO_WEIGHTS, BAD_COMMAND, BAD_MAGIC, BAD_CRC = 0, 5, 6, 1, 9
LOAD, RUN = 1, 2
WEIGHTS_VALID = 1
BANK_REGS = {"LOAD_BANK": 0xA0, "ACTIVE_BANK": 0xA8, "BANKS_VALID": 0xB0}
N_IN, N_OUT = 16, 5


def samples(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, N_IN)).astype(np.float32)


@pytest.fixture(scope="module")
def banked(mlp_models, ref_root, tmp_path_factory):
    from nnaccel.weights.for_model import image_for_model

    out = tmp_path_factory.mktemp("banks") / "ip"
    make_ip(mlp_models[0], out, hls=HLS, io_type="io_parallel", interface="axi_master", bus_width=64,
            weight_banks=2)
    x = samples(7, seed=11)
    img_b, _ = image_for_model(out, mlp_models[1])
    ref = {k: hls_reference(m, HLS, "io_parallel", x, ref_root) for k, m in zip("AB", mlp_models)}
    assert not np.array_equal(ref["A"], ref["B"])
    return {"ip": out, "A": (out / "weights.bin").read_bytes(), "B": img_b, "x": x, "ref": ref}


def run(acc, x, active):
    regs, raw = acc.start_banked(RUN, 0, active, len(x), encode_words(x, acc.desc["input_word"]), len(x) * N_OUT * 4)
    return regs, np.frombuffer(raw, "<f4").reshape(len(x), N_OUT)


def test_two_banks_each_bit_exact_and_a_failed_load_spares_the_other(banked):
    acc = CsimAccelerator(banked["ip"], jobs=1)
    x, ref = banked["x"], banked["ref"]
    regs, _ = run(acc, x, 0)
    assert regs["LAST_ERROR"] == NO_WEIGHTS and regs["BANKS_VALID"] == 0 and regs["SAMPLES_DONE"] == 0

    regs, _ = acc.start_banked(LOAD, 0, 0, weights=banked["A"])
    assert regs["LAST_ERROR"] == OK and regs["BANKS_VALID"] == 0b01 and regs["STATUS"] & WEIGHTS_VALID
    # a LOAD into the inactive bank: STATUS speaks of the active one
    regs, _ = acc.start_banked(LOAD, 1, 0, weights=banked["B"])
    assert regs["LAST_ERROR"] == OK and regs["BANKS_VALID"] == 0b11
    for active, name in ((0, "A"), (1, "B"), (0, "A")):
        regs, y = run(acc, x, active)
        assert regs["LAST_ERROR"] == OK and regs["SAMPLES_DONE"] == len(x)
        assert np.array_equal(y, ref[name]), (active, name)

    # bank 1 reads a payload whose CRC fails: bank 1 invalid, bank 0 untouched
    bad = bytearray(banked["B"])
    bad[40] ^= 0x04
    regs, _ = acc.start_banked(LOAD, 1, 0, weights=bytes(bad))
    assert regs["LAST_ERROR"] == BAD_CRC and regs["BANKS_VALID"] == 0b01 and regs["STATUS"] & WEIGHTS_VALID
    regs, y = run(acc, x, 0)
    assert regs["LAST_ERROR"] == OK and np.array_equal(y, ref["A"])
    regs, _ = run(acc, x, 1)
    assert regs["LAST_ERROR"] == NO_WEIGHTS and regs["SAMPLES_DONE"] == 0 and not regs["STATUS"] & WEIGHTS_VALID
    # a refused header writes nothing: bank 1 stays invalid, bank 0 valid
    regs, _ = acc.start_banked(LOAD, 0, 0, weights=b"XXXX" + banked["A"][4:])
    assert regs["LAST_ERROR"] == BAD_MAGIC and regs["BANKS_VALID"] == 0b01
    # bank indices past the last bank: BAD_COMMAND, nothing loaded or run
    regs, _ = acc.start_banked(LOAD, 2, 0, weights=banked["B"])
    assert regs["LAST_ERROR"] == BAD_COMMAND and regs["BANKS_VALID"] == 0b01
    regs, _ = run(acc, x, 2)
    assert regs["LAST_ERROR"] == BAD_COMMAND and regs["SAMPLES_DONE"] == 0 and not regs["STATUS"] & WEIGHTS_VALID

    # LOAD + RUN in one start: B goes into bank 1 while the RUN uses bank 0, then bank 1 is B again
    regs, raw = acc.start_banked(LOAD | RUN, 1, 0, len(x), encode_words(x, acc.desc["input_word"]), len(x) * N_OUT * 4,
                                 weights=banked["B"])
    assert regs["LAST_ERROR"] == OK and regs["BANKS_VALID"] == 0b11
    assert np.array_equal(np.frombuffer(raw, "<f4").reshape(len(x), N_OUT), ref["A"])
    regs, y = run(acc, x, 1)
    assert np.array_equal(y, ref["B"])
    acc.close()


def test_predict_on_several_workers_uses_the_active_bank(banked):
    """CsimAccelerator.predict splits a batch over worker processes; each must hold both banks
    and the active bank the host last wrote."""
    acc = CsimAccelerator(banked["ip"], jobs=2)
    acc.chunk_size = lambda n, jobs: 2  # several starts, so both workers run some
    acc.start_banked(LOAD, 0, 0, weights=banked["A"])
    acc.start_banked(LOAD, 1, 1, weights=banked["B"])
    assert np.array_equal(acc.predict(banked["x"]), banked["ref"]["B"])
    acc.start_banked(0, 1, 0)  # COMMAND 0 (BAD_COMMAND) only rewrites the bank registers
    assert np.array_equal(acc.predict(banked["x"]), banked["ref"]["A"])
    acc.close()


def test_banked_top_text(banked):
    """What C-simulation cannot see: the bank registers pinned at the documented offsets, bank
    storage never bound to a ROM, one bank index per start (a scalar argument)."""
    cpp = (banked["ip"] / "hls" / "nn_accel.cpp").read_text()
    for port, off in (("load_bank", 0xA0), ("active_bank", 0xA8), ("banks_valid", 0xB0)):
        assert re.search(rf"INTERFACE mode=s_axilite port={port} offset=0x{off:02X} bundle=control", cpp), port
    assert "const unsigned BANKS = 2;" in cpp
    for var in ("w2", "b2", "w4", "b4"):
        assert re.search(rf"static \w+ {var}_local\[BANKS\]\[\d+\];", cpp), var
        assert f"ARRAY_PARTITION variable={var}_local type=complete dim=0" in cpp
    assert not re.search(r"(?i)type=rom|core=rom", cpp)
    import json

    regmap = json.loads((banked["ip"] / "regmap.json").read_text())
    assert {r["name"]: r["offset"] for r in regmap["registers"] if r["name"] in BANK_REGS} == BANK_REGS
    assert regmap["weight_banks"] == 2 and regmap["version"] == 3
    assert json.loads((banked["ip"] / "nnaccel.json").read_text())["weight_banks"] == 2


def test_resource_strategy_banks_are_one_ram_per_variable(mlp_models, tmp_path):
    hls = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"}}
    make_ip(mlp_models[0], tmp_path / "ip", hls=hls, io_type="io_stream", interface="axi_stream", bus_width=64,
            weight_banks=3)
    cpp = (tmp_path / "ip" / "hls" / "nn_accel.cpp").read_text()
    assert re.search(r"static \w+ w2_local\[BANKS\]\[192\];\n#pragma HLS BIND_STORAGE variable=w2_local "
                     r"type=ram_s2p impl=(lutram|bram)", cpp)
    assert not re.search(r"(?i)type=rom|core=rom", cpp)
    report = __import__("json").loads((tmp_path / "ip" / "report.json").read_text())
    assert report["weight_banks"] == 3


@pytest.mark.parametrize("raw, fragment", [
    ({"weight_banks": 0}, "weight_banks: 0 is not an integer from 1 to 8"),
    ({"weight_banks": 9}, "weight_banks: 9 is not an integer from 1 to 8"),
    ({"weight_banks": "2"}, "weight_banks: '2' is not an integer"),
    ({"weight_banks": 2, "weights": "embedded"}, "weight_banks: 2 needs weights: external"),
])
def test_config_refuses_bad_bank_counts(raw, fragment):
    with pytest.raises(ConfigError) as e:
        build_config({"model": "m.keras", **raw})
    assert fragment in str(e.value) and "\n" not in str(e.value)


# ---- the drivers on the simulated device ----

from test_reliability import figures  # noqa: E402,F401  (the figures file docs/reliability.md quotes)


def _rows_from(y, ref):
    """How many rows of y equal hls4ml's output of A, of B, or neither (row by row)."""
    a = sum(np.array_equal(r, ra) for r, ra in zip(y, ref["A"]))
    b = sum(np.array_equal(r, rb) for r, rb in zip(y, ref["B"]))
    return a, b, len(y) - a - b


def test_python_driver_banks(banked):
    from nnaccel_driver import BankError, WeightsCrcError
    from nnaccel_driver.sim import simulate

    x, ref = banked["x"], banked["ref"]
    acc = simulate(banked["ip"], timeout=2.0)
    assert acc.desc.weight_banks == 2
    acc.load_weights()  # the IP's own image (A), into the active bank 0
    assert acc.banks_valid == 0b01
    for bad in (1, 2, -1):
        with pytest.raises(BankError) as e:
            acc.select_bank(bad)
        assert e.value.bank == bad and acc.active_bank == 0
    with pytest.raises(BankError):
        acc.load_weights(banked["B"], bank=2)
    writes = acc.sim.counters()["reg_writes"]
    from nnaccel_driver import ImageError

    with pytest.raises(ImageError):  # refused by the driver's check: nothing reaches the device
        acc.load_weights(banked["B"][:-1], bank=1)
    assert acc.sim.counters()["reg_writes"] == writes
    acc.load_weights(banked["B"], bank=1)
    assert acc.banks_valid == 0b11 and acc.active_bank == 0
    assert acc.status()["BANKS_VALID"] == 0b11
    assert np.array_equal(acc.predict(x), ref["A"])  # loading bank 1 left bank 0 in use
    acc.select_bank(1)
    assert np.array_equal(acc.predict(x), ref["B"])
    acc.select_bank(0)
    assert np.array_equal(acc.predict(x), ref["A"])

    # DDR corrupted after the driver's check: bank 1 fails its CRC, bank 0 goes on
    acc.sim.flip_weights_on_load(8 * 40 + 3)
    with pytest.raises(WeightsCrcError, match="bank 1 only"):
        acc.load_weights(banked["B"], bank=1)
    assert acc.banks_valid == 0b01 and acc.weights_loaded
    assert np.array_equal(acc.predict(x), ref["A"])
    with pytest.raises(BankError, match="bank 1 holds no valid weights"):
        acc.select_bank(1)
    # the active bank failing its load: predict refused until a good load
    acc.sim.flip_weights_on_load(8 * 40 + 3)
    with pytest.raises(WeightsCrcError):
        acc.load_weights(bank=0)
    assert acc.banks_valid == 0 and not acc.weights_loaded
    from nnaccel_driver import NoWeightsError

    with pytest.raises(NoWeightsError):
        acc.predict(x)
    acc.load_weights(bank=0)
    assert np.array_equal(acc.predict(x), ref["A"])
    acc.close()


def test_bank_switch_while_a_batch_streams(banked, figures):
    """A switch requested while a batch runs (several starts) takes effect for the next batch:
    every output row of the batch equals hls4ml's predict() of A, none of B."""
    from nnaccel_driver.sim import simulate

    x, ref = banked["x"], banked["ref"]
    rows = []
    for how in ("select_bank(1) by the application", "ACTIVE_BANK=1 written by another bus master"):
        acc = simulate(banked["ip"], timeout=2.0)
        acc.load_weights(bank=0)
        acc.load_weights(banked["B"], bank=1)
        acc.max_work_bytes = 64 + 3 * (16 * 4 + 5 * 4)  # 3 samples per start: 7 samples in 3 starts
        starts = acc.sim.counters()["starts"]
        if how.startswith("select_bank"):
            acc.sim.call_on_start(2, lambda: acc.select_bank(1))
        else:
            acc.sim.write_on_start(2, "ACTIVE_BANK", 1)
        y = acc.predict(x)
        assert acc.sim.counters()["starts"] - starts == 3
        a, b, neither = _rows_from(y, ref)
        assert (a, b, neither) == (len(x), 0, 0), how
        y2 = acc.predict(x)
        expect_next = "B" if how.startswith("select_bank") else "A"  # a stray register write is not a selection
        assert np.array_equal(y2, ref[expect_next]), how
        rows.append([how, "Python", f"{len(x)} samples in 3 starts, switch during start 2",
                     f"{a} A, {b} B, {neither} other", f"all {expect_next}"])
        acc.close()
    figures["banks-1-python"] = {
        "title": "Bank switch while a batch streams, Python driver (simulated device)",
        "what": "IP with weight_banks: 2, bank 0 = A, bank 1 = B. During the second start of a batch the switch "
                "to bank 1 is requested; each output row is compared with hls4ml predict() of A and of B.",
        "columns": ["switch", "driver", "batch", "rows of the batch", "next batch"], "rows": rows}


def test_c_driver_banks_and_switch_while_a_batch_streams(banked, tmp_path, figures):
    from swtest import make, run_host
    from test_reliability import _c_status_names

    names = _c_status_names()
    code = {n: i for i, n in enumerate(names)}
    x, ref = banked["x"], banked["ref"]
    build = tmp_path / "build"
    make("host", "csimlib", ip=banked["ip"], build=build)
    tools = {"nna_host": build / "nna_host", "csim": Path((build / "csim_lib.txt").read_text().strip())}
    (tmp_path / "b.bin").write_bytes(banked["B"])
    x.astype("<f4").tofile(tmp_path / "x.f32")
    a_img, b_img = banked["ip"] / "weights.bin", tmp_path / "b.bin"
    ys = [tmp_path / f"y{i}.f32" for i in range(4)]
    rc, out = run_host(
        tools,
        "load", a_img, "load-bank", 1, b_img, "status",                        # 0 1 2
        "predict-f32", tmp_path / "x.f32", ys[0],                              # 3: bank 0 = A
        "select-bank", 1, "predict-f32", tmp_path / "x.f32", ys[1],            # 4 5: B
        "select-bank", 0, "flip-weights", 8 * 40 + 3, "load-bank", 1, b_img,   # 6 7 8: CRC fails in bank 1
        "status", "select-bank", 1, "select-bank", 2, "load-bank", 2, b_img,   # 9 10 11 12
        "load-bank", 1, b_img, "work-bytes", 64 + 3 * 84,                      # 13 14
        "switch-on-start", 2, 1, "predict-f32", tmp_path / "x.f32", ys[2],     # 15 16: ACTIVE_BANK written mid-batch
        "predict-f32", tmp_path / "x.f32", ys[3])                              # 17
    assert rc == 1  # the refusals below
    rcs = [o["rc"] for o in out]
    assert rcs[:8] == [0] * 8
    assert out[2]["banks_valid"] == "0x3" and out[2]["active_bank"] == "0"
    assert rcs[8] == code["NNA_ERR_DEVICE_CRC"], out[8]["line"]
    assert out[9]["banks_valid"] == "0x1" and out[9]["weights_loaded"] == "1"
    assert rcs[10:13] == [code["NNA_ERR_BANK"]] * 3
    assert rcs[13:] == [0] * 5
    assert out[16]["starts"] == "3"
    y = [np.fromfile(p, "<f4").reshape(len(x), N_OUT) for p in ys]
    assert np.array_equal(y[0], ref["A"]) and np.array_equal(y[1], ref["B"])
    a, b, neither = _rows_from(y[2], ref)
    assert (a, b, neither) == (len(x), 0, 0)
    assert np.array_equal(y[3], ref["A"])  # a stray register write is not a selection
    figures["banks-2-c"] = {
        "title": "Bank switch while a batch streams, C driver (simulated device)",
        "what": "As for the Python driver: IP with weight_banks: 2, bank 0 = A, bank 1 = B; while the second "
                "start of a batch runs, another bus master writes ACTIVE_BANK = 1.",
        "columns": ["switch", "driver", "batch", "rows of the batch", "next batch"],
        "rows": [["ACTIVE_BANK=1 written by another bus master", "C", f"{len(x)} samples in 3 starts, switch "
                  "during start 2", f"{a} A, {b} B, {neither} other", "all A"]]}


def test_estimates_count_weight_storage_per_bank():
    """docs/estimates.md: N banks hold every weight N times; registers read through an N:1 mux."""
    from nnaccel.estimate import storage

    one = storage("latency", 1, 192, 16, 12 * 16)
    four = storage("latency", 1, 192, 16, 12 * 16, banks=4)
    assert one == {"ff": 192 * 16 + 192, "bram18": 0, "lutram": 0, "mux_lut": 0}
    assert four == {"ff": 4 * (192 * 16 + 192), "bram18": 0, "lutram": 0, "mux_lut": (192 * 16 + 192) * 1}
    # Resource, RF 32: one bank 32 rows of 6 x 16 bits (LUTRAM); 4 banks: 128 rows -> RAMB18 (2Kx9 x ... )
    r1 = storage("resource", 32, 192, 16, 0)
    r4 = storage("resource", 32, 192, 16, 0, banks=4)
    assert r1["lutram"] == 96 and r1["bram18"] == 0
    assert r4["lutram"] == 0 and r4["bram18"] == 3  # 128 x 96 bits: best shape 512x36 -> 3 RAMB18
