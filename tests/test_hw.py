"""The accelerator hardware as emitted: every LAST_ERROR code provoked on the C-simulated IP
itself (raw starts, no host checks), the in-IP CRC failing closed, and the properties
C-simulation cannot see (DATAFLOW structure, storage bindings, AXI buffer sizes, pragmas)
checked on the emitted text. Register codes come from the documented table (docs/contracts.md)."""
from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest

from conftest import hls_reference, make_ip
from nnaccel.csim import CsimAccelerator, encode_words

HLS = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
# docs/contracts.md, "Register map": LAST_ERROR codes and command bits (version 2)
OK, BAD_MAGIC, BAD_VERSION, BAD_FINGERPRINT, BAD_LENGTH = 0, 1, 2, 3, 4
NO_WEIGHTS, BAD_COMMAND, BATCH_TOO_LARGE, NOT_LOADABLE, BAD_CRC = 5, 6, 7, 8, 9
LOAD, RUN = 1, 2
WEIGHTS_VALID = 1
N_IN, N_OUT = 16, 5


def samples(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, N_IN)).astype(np.float32)


def patch32(img: bytes, word: int, value: int) -> bytes:
    b = bytearray(img)
    struct.pack_into("<I", b, 4 * word, value & 0xFFFFFFFF)
    return bytes(b)


@pytest.fixture(scope="module")
def ext_ip(mlp_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("hw") / "ip"
    make_ip(mlp_models[0], out, hls=HLS, io_type="io_parallel", interface="axi_master", bus_width=64)
    return out


def run(acc, x):
    regs, raw = acc.start(RUN, len(x), encode_words(x, acc.desc["input_word"]), len(x) * N_OUT * 4)
    return regs, np.frombuffer(raw, "<f4").reshape(len(x), N_OUT)


def header_refusals(good: bytes, float32_payload: int):
    """(name, image, code): images whose header the IP must refuse before writing a weight."""
    native_payload = len(good) - 32
    yield "magic", patch32(good, 0, 0x12345678), BAD_MAGIC
    yield "version", patch32(good, 1, 2), BAD_VERSION
    yield "encoding", patch32(good, 1, 1 | 7 << 16), BAD_VERSION
    yield "reserved word", patch32(good, 7, 1), BAD_VERSION  # a format revision this IP does not read
    yield "fingerprint", patch32(good, 2, struct.unpack_from("<I", good, 8)[0] ^ 1), BAD_FINGERPRINT
    yield "bus width", patch32(good, 3, 32 | 32 << 16), BAD_LENGTH
    yield "header bytes", patch32(good, 3, 64 | 64 << 16), BAD_LENGTH
    # a float32-sized payload in a native image: the CRC still matches the first native words,
    # so only the payload-length check stands between this image and a successful load
    longer = patch32(good, 4, float32_payload) + bytes(float32_payload - native_payload)
    yield "payload length", longer, BAD_LENGTH
    # one value more than the layout: CRC and lengths are intact, only the value count differs
    yield "value count", patch32(good, 5, struct.unpack_from("<I", good, 20)[0] + 1), BAD_LENGTH


def test_every_load_error_on_the_ip(mlp_models, ext_ip, ref_root):
    acc = CsimAccelerator(ext_ip)
    good = (ext_ip / "weights.bin").read_bytes()
    x = samples(6, seed=1)
    ref = hls_reference(mlp_models[0], HLS, "io_parallel", x, ref_root)

    regs, _ = run(acc, x)
    assert regs["LAST_ERROR"] == NO_WEIGHTS and regs["SAMPLES_DONE"] == 0
    for cmd, n in ((0, 0), (4, 1), (RUN | 8, 1), (RUN, 0)):
        regs, _ = acc.start(cmd, n)
        assert regs["LAST_ERROR"] == BAD_COMMAND, (cmd, n)

    regs, _ = acc.start(LOAD, weights=good)
    assert regs["LAST_ERROR"] == OK and regs["STATUS"] & WEIGHTS_VALID
    regs, y = run(acc, x)
    assert regs["LAST_ERROR"] == OK and regs["SAMPLES_DONE"] == len(x) and np.array_equal(y, ref)

    float32_payload = acc.desc["n_weight_values"] * 4
    float32_payload = -(-float32_payload // 8) * 8
    for name, img, code in header_refusals(good, float32_payload):
        regs, _ = acc.start(LOAD, weights=img)
        assert regs["LAST_ERROR"] == code, name
        assert regs["STATUS"] & WEIGHTS_VALID, f"{name}: a refused header must keep the loaded weights"
        regs, y = run(acc, x)
        assert regs["LAST_ERROR"] == OK and np.array_equal(y, ref), name


def test_payload_altered_after_the_host_check_fails_closed(mlp_models, ext_ip, ref_root):
    """A DDR fault: the header's CRC is right for the payload the host checked, but the IP reads
    another one. The IP computes the CRC itself: BAD_CRC, weights invalid, RUN refused; a good
    load afterwards is bit-exact again."""
    acc = CsimAccelerator(ext_ip)
    good = (ext_ip / "weights.bin").read_bytes()
    x = samples(5, seed=2)
    ref = hls_reference(mlp_models[0], HLS, "io_parallel", x, ref_root)
    assert struct.unpack_from("<I", good, 24)[0] == zlib.crc32(good[32:])  # the header holds zlib's CRC
    acc.start(LOAD, weights=good)
    for pos in (32, len(good) - 1, 32 + (len(good) - 32) // 2):
        bad = bytearray(good)
        bad[pos] ^= 0x10
        regs, _ = acc.start(LOAD, weights=bytes(bad))
        assert regs["LAST_ERROR"] == BAD_CRC, pos
        assert not regs["STATUS"] & WEIGHTS_VALID, pos
        regs, _ = run(acc, x)
        assert regs["LAST_ERROR"] == NO_WEIGHTS and regs["SAMPLES_DONE"] == 0
        regs, _ = acc.start(LOAD, weights=good)
        assert regs["LAST_ERROR"] == OK and regs["STATUS"] & WEIGHTS_VALID
        regs, y = run(acc, x)
        assert np.array_equal(y, ref)
    # LOAD+RUN in one start: a bad CRC stops the RUN
    bad = bytearray(good)
    bad[40] ^= 1
    regs, _ = acc.start(LOAD | RUN, len(x), encode_words(x, acc.desc["input_word"]), len(x) * N_OUT * 4,
                        weights=bytes(bad))
    assert regs["LAST_ERROR"] == BAD_CRC and regs["SAMPLES_DONE"] == 0


def test_embedded_lite_ip_refuses_load_and_large_batch(mlp_models, tmp_path, ref_root):
    make_ip(mlp_models[0], tmp_path / "ip", hls=HLS, interface="axi_lite", weights="embedded", lite_max_batch=4)
    acc = CsimAccelerator(tmp_path / "ip")
    regs, _ = acc.start(LOAD, weights=bytes(64))
    assert regs["LAST_ERROR"] == NOT_LOADABLE
    x = samples(5, seed=3)
    regs, _ = run(acc, x)
    assert regs["LAST_ERROR"] == BATCH_TOO_LARGE and regs["SAMPLES_DONE"] == 0
    regs, y = run(acc, x[:4])
    assert regs["LAST_ERROR"] == OK
    assert np.array_equal(y, hls_reference(mlp_models[0], HLS, "io_parallel", x[:4], ref_root))


# ---- the emitted text: what C-simulation cannot see ----

def functions(cpp: str) -> dict:
    """{name: body} for every function definition at top level or in the anonymous namespace."""
    out = {}
    for m in re.finditer(r"^(?:static\s+)?[\w:<>, ]+?\b(\w+)\s*\(([^;{]*?)\)\s*\{", cpp, re.M):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(cpp[i], 0)
            i += 1
        out[m.group(1)] = (m.group(2), cpp[m.end():i - 1])
    return out


def calls(body: str) -> list[tuple[str, list[str]]]:
    return [(m.group(1), [a.strip() for a in m.group(2).split(",")])
            for m in re.finditer(r"^\s*(\w+)\((.*)\);\s*$", body, re.M)]


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("interface", ["axi_stream", "axi_lite", "axi_master"])
def test_sample_pipeline_is_one_canonical_dataflow_region(mlp_models, tmp_path, io_type, interface):
    make_ip(mlp_models[0], tmp_path / "ip", hls=HLS, io_type=io_type, interface=interface)
    cpp = (tmp_path / "ip" / "hls" / "nn_accel.cpp").read_text()
    fns = functions(cpp)
    regions = [n for n, (_, body) in fns.items() if "#pragma HLS DATAFLOW" in body
               and {"read_samples", "run_model", "write_samples"} <= {c for c, _ in calls(body)}]
    assert len(regions) == 1, regions
    params, body = fns[regions[0]]
    assert not re.search(r"\b(if|else|switch|for|while)\b|\?", body), "control flow in the DATAFLOW region"
    tasks = calls(body)
    assert [c for c, _ in tasks] == ["read_samples", "run_model", "write_samples"]
    assert all("n_samples" in args for _, args in tasks)
    assert "unsigned n_samples" in params
    # every task loops over the samples
    for task, _ in tasks:
        assert re.search(r"for \(unsigned s = 0; s < n_samples; s\+\+\)", fns[task][1]), task
    # each local stream: one writer task, one reader task, in that order
    streams = re.findall(r"hls::stream<[^;]+>\s+(\w+)\(", body)
    assert streams
    for st in streams:
        users = [i for i, (_, args) in enumerate(tasks) if st in args]
        assert len(users) == 2, st
        w_task, r_task = tasks[users[0]][0], tasks[users[1]][0]
        # run_model hands its streams on to myproject (io_stream) or take/give helpers (io_parallel)
        if w_task != "run_model":
            assert f"{st}.write(" in fns[w_task][1] and f"{st}.read(" not in fns[w_task][1], st
        if r_task != "run_model":
            assert f"{st}.read(" in fns[r_task][1] and f"{st}.write(" not in fns[r_task][1], st
    # the model task overlaps samples: the sample loop is itself a dataflow loop
    assert re.search(r"MODEL:\s*for[^{]*\{\s*#pragma HLS LOOP_TRIPCOUNT[^\n]*\n\s*#pragma HLS DATAFLOW",
                     fns["run_model"][1])
    # the top calls the region only for an accepted RUN, and the region is not inside a loop
    top = fns["nn_accel"][1]
    assert top.count(f"{regions[0]}(") == 1
    assert "for (" not in top[:top.index(f"{regions[0]}(")]


def test_pragmas_ug1399(mlp_models, tmp_path):
    """ap_ctrl_hs pinned, a LOOP_TRIPCOUNT on every data-dependent loop, no INTERFACE pragma left
    in hls4ml's myproject, and AXI buffers within one BRAM36 by the documented formula."""
    make_ip(mlp_models[0], tmp_path / "ip", hls=HLS, interface="axi_master", bus_width=128)
    ip = tmp_path / "ip"
    cpp = (ip / "hls" / "nn_accel.cpp").read_text()
    assert "#pragma HLS INTERFACE mode=ap_ctrl_hs port=return" in cpp
    assert "#pragma HLS INTERFACE mode=s_axilite port=return bundle=control" in cpp
    for m in re.finditer(r"for \(unsigned \w+ = 0; \w+ < ([^;]+);[^{]*\{", cpp):
        bound = m.group(1)
        if re.fullmatch(r"[A-Z_0-9 /*+]+|\d+", bound.strip()):
            continue  # a compile-time constant
        head = cpp[m.end():m.end() + 200]
        assert "#pragma HLS LOOP_TRIPCOUNT" in head.split("\n    for")[0], f"loop over {bound} has no LOOP_TRIPCOUNT"
    assert "HLS INTERFACE" not in (ip / "hls" / "firmware" / "myproject.cpp").read_text()

    def buffered(kind):
        m = re.search(rf"port=weights[^\n]*num_{kind}_outstanding=(\d+) max_{kind}_burst_length=(\d+)", cpp)
        return int(m.group(1)), int(m.group(2))

    out, burst = buffered("read")
    words = -(-(32 * (16 * 12 + 12 + 12 * 5 + 5)) // 128)  # float32 payload in 128-bit words
    assert out * burst * 128 <= 36 * 1024 and burst >= 2
    # the documented choice: 4 outstanding, the longest power-of-two burst within one BRAM36's data bits
    assert (out, burst) == (4, min(256, 4096 // 16, 32768 // (4 * 128), 1 << (words - 1).bit_length()))
    m = re.search(r"port=in_data[^\n]*max_widen_bitwidth=128 num_read_outstanding=(\d+) max_read_burst_length=(\d+)",
                  cpp)
    assert m and int(m.group(1)) * int(m.group(2)) * 128 <= 36 * 1024
    data = next(p for p in __import__("json").loads((ip / "nnaccel.json").read_text())["ports"] if p["role"] == "data")
    assert data["width"] == 32 and data["max_widen_bitwidth"] == 128  # float words, widened at most to the bus


def test_loader_shifter_is_narrow(mlp_models, tmp_path):
    make_ip(mlp_models[0], tmp_path / "ip", hls=HLS, io_type="io_parallel", interface="axi_master", bus_width=64)
    cpp = (tmp_path / "ip" / "hls" / "nn_accel.cpp").read_text()
    assert "2 * BUS" not in cpp
    assert re.search(r"ap_uint<BUS \+ 16> buf", cpp)  # native values are 16 bits wide
    assert re.search(r"ap_uint<\d> at = avail;", cpp)  # insertion offset below 64: a few shifter stages


RESOURCE = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"}}


def test_resource_strategy_weights_live_in_ram(mlp_models, tmp_path, ref_root):
    """hls4ml binds Resource-strategy weights to ROM (RF > 1); the loader writes them, so the IP's
    copy of the kernels has no ROM binding on them and the top binds them to a dual-port RAM."""
    import json

    make_ip(mlp_models[0], tmp_path / "ip", hls=RESOURCE, io_type="io_parallel", interface="axi_master")
    ip = tmp_path / "ip"
    names = [v["name"] for v in json.loads((ip / "weights_layout.json").read_text())["variables"]]
    rom = re.compile(r"#pragma HLS (?:RESOURCE\b.*core=ROM|BIND_STORAGE\b.*type=rom)[^\n]*", re.I)
    written = set(names) | {f"{n}_local" for n in names} | {"weights", "biases"}
    for f in (ip / "hls").rglob("*"):
        if f.suffix in (".h", ".cpp"):
            for line in rom.findall(f.read_text()):
                var = re.search(r"variable=(\w+)", line).group(1)
                assert var not in written, f"{f.name}: {line.strip()}"
    cpp = (ip / "hls" / "nn_accel.cpp").read_text()
    for n in names:
        ram = re.search(rf"BIND_STORAGE variable={n}_local type=(\w+) impl=(\w+)", cpp)
        part = re.search(rf"ARRAY_PARTITION variable={n}_local type=complete", cpp)
        assert bool(ram) != bool(part), n  # RAM or registers, never both
        if ram:
            assert ram.group(1) in ("ram_2p", "ram_s2p") and ram.group(2) == "lutram"  # 4 rows deep
    assert any(f"BIND_STORAGE variable={n}_local" in cpp for n in names)
    x = samples(7, seed=4)
    acc = CsimAccelerator(ip)
    acc.load_weights((ip / "weights.bin").read_bytes())
    assert np.array_equal(acc.predict(x), hls_reference(mlp_models[0], RESOURCE, "io_parallel", x, ref_root))


def test_firmware_patch_drops_rom_bindings_and_interfaces(tmp_path):
    """Both spellings of a ROM binding go (hls4ml 1.3 uses RESOURCE; newer kernels BIND_STORAGE);
    other pragmas stay; embedded weights keep their ROMs."""
    from nnaccel.hls import patch_firmware_for_ip

    kernel = ("  #pragma HLS ARRAY_RESHAPE variable=weights block factor=4\n"
              "        #pragma HLS RESOURCE variable=weights core=ROM_nP_BRAM\n"
              "    #pragma HLS bind_storage variable=biases type=rom_2p impl=bram\n"
              "    #pragma HLS BIND_STORAGE variable=acc type=ram_2p impl=lutram\n")
    top = ("void myproject(input_t x[4], result_t y[2]) {\n"
           "    #pragma HLS INTERFACE ap_vld port=x,y \n    #pragma HLS PIPELINE\n}\n")
    for external in (True, False):
        fw = tmp_path / str(external)
        (fw / "nnet_utils").mkdir(parents=True)
        (fw / "nnet_utils" / "nnet_dense_resource.h").write_text(kernel)
        (fw / "myproject.cpp").write_text(top)
        patch_firmware_for_ip(fw, external)
        k = (fw / "nnet_utils" / "nnet_dense_resource.h").read_text()
        assert ("ROM_nP_BRAM" in k, "rom_2p" in k) == (not external, not external)
        assert "ARRAY_RESHAPE variable=weights" in k and "type=ram_2p" in k
        m = (fw / "myproject.cpp").read_text()
        assert "INTERFACE" not in m and "#pragma HLS PIPELINE" in m
