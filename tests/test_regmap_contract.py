"""The register map as generated and as driven, checked against the documented table.

The oracle is docs/contracts.md: its register table (offset, name, dir, meaning) and its
error-code table, parsed here. For every interface x weights combination an IP of the small
MLP is generated, and then
  - <top>_regs.h is compiled into a tiny C program that prints its macros (the C compiler's
    reading of the header, not a Python parse of it);
  - regmap.json is compared entry by entry;
  - <top>_model.h (the C driver's nna_model_t) is compiled and printed the same way, together
    with the driver library's own NNA_REGMAP_VERSION;
  - the Python driver runs probe / load / predict / a device-side BAD_CRC against a register
    file built from the documented table alone, which records every offset the driver touches.
Changing any offset or code in nnaccel.regmap (or in the doc) makes these tests fail."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from swtest import HLS, IP_SETTINGS, REPO, SW
from conftest import make_ip

DOC = REPO / "docs" / "contracts.md"
COMBOS = [(i, w) for i in ("axi_stream", "axi_lite", "axi_master") for w in ("external", "embedded")]


# ---- the documented tables ----

def _md_rows(lines: list[str], header: tuple[str, ...]) -> list[list[str]]:
    """Cells of the markdown table whose header row starts with `header`."""
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if tuple(cells[:len(header)]) == header:
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"{DOC}: no table with header {header}")


def _bits(meaning: str) -> dict[str, int]:
    return {name: 1 << int(bit) for bit, name in re.findall(r"bit(\d+) ([A-Z][A-Z_]+)", meaning)}


def parse_doc() -> dict:
    text = DOC.read_text()
    section = text[text.index("## Register map"):]
    section = section[:section.index("\n## ", 1)]
    lines = section.splitlines()
    version = int(re.search(r"map version (\d+)", lines[0]).group(1))
    regs = {}
    for offset, name, access, meaning in _md_rows(lines, ("offset", "name", "dir", "meaning")):
        when = {"axi_master", "axi_lite", "axi_stream"} & set(re.findall(r"`(axi_\w+)` only", meaning))
        regs[name] = {
            "offset": int(offset, 16) if offset.startswith("0x") else offset.strip("`"),
            "access": access, "meaning": meaning, "width": 64 if "64-bit" in meaning else 32,
            "interfaces": when or None, "external_only": "external weights only" in meaning,
        }
    errors = {name: int(code) for code, name, *_ in _md_rows(lines, ("code", "name"))}
    ident = int(re.search(r"0x[0-9A-Fa-f]{8}", regs["IDENT"]["meaning"]).group(0), 16)
    return {"version": version, "ident": ident, "regs": regs, "errors": errors,
            "commands": _bits(regs["COMMAND"]["meaning"]), "status_bits": _bits(regs["STATUS"]["meaning"])}


DOCMAP = parse_doc()


def doc_registers(interface: str, external: bool) -> dict:
    """name -> documented entry, for the registers an IP of this kind has."""
    return {n: r for n, r in DOCMAP["regs"].items()
            if (r["interfaces"] is None or interface in r["interfaces"]) and (external or not r["external_only"])}


def test_documented_tables_are_complete():
    d = DOCMAP
    assert d["version"] == 3 and d["ident"] == 0x4E4E4100 | d["version"], "IDENT is 'NNA' + map version"
    assert len(d["regs"]) == 16
    fixed = [r["offset"] for r in d["regs"].values() if isinstance(r["offset"], int)]
    assert len(fixed) == len(set(fixed)) == 14
    assert d["errors"]["OK"] == 0 and d["errors"]["BAD_CRC"] == 9 and d["errors"]["NO_WEIGHTS"] == 5
    assert sorted(d["errors"].values()) == list(range(len(d["errors"]))), "codes 0..n-1, each once"
    assert d["commands"] == {"LOAD_WEIGHTS": 1, "RUN": 2}
    assert d["status_bits"] == {"WEIGHTS_VALID": 1, "WEIGHTS_EXTERNAL": 2}
    assert doc_registers("axi_stream", False).keys() == {
        "CTRL", "GIE", "IER", "ISR", "COMMAND", "N_SAMPLES", "STATUS", "LAST_ERROR", "FINGERPRINT", "IDENT",
        "SAMPLES_DONE"}


# ---- one IP per combination ----

_IPS: dict = {}


@pytest.fixture(scope="module", params=COMBOS, ids=[f"{i}-{w}" for i, w in COMBOS])
def ip(request, mlp_models, tmp_path_factory):
    interface, weights = request.param
    if request.param not in _IPS:
        out = tmp_path_factory.mktemp(f"regmap-{interface}-{weights}") / "ip"
        settings = dict(IP_SETTINGS[interface])
        if weights == "embedded":
            settings.pop("weight_format", None)  # embedded weights have no image
        make_ip(mlp_models[0], out, hls=HLS, weights=weights, **settings)
        _IPS[request.param] = out
    d = _IPS[request.param]
    desc = json.loads((d / "nnaccel.json").read_text())
    return d, desc, doc_registers(interface, weights == "external")


def _run_c(tmp_path: Path, name: str, source: str, *includes: Path) -> dict[str, int]:
    """Compile and run a C program printing `KEY VALUE` lines; returns them as a dict."""
    src, exe = tmp_path / f"{name}.c", tmp_path / name
    src.write_text(source)
    proc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", *(f"-I{p}" for p in includes), "-o", str(exe),
                           str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return {k: int(v, 0) for k, v in (ln.split() for ln in out.splitlines())}


def _print_macro(key: str, macro: str) -> str:
    return f'#ifdef {macro}\n    printf("{key} %lu\\n", (unsigned long)({macro}));\n#endif\n'


def test_regs_header_matches_the_documented_table(ip, tmp_path):
    d, desc, regs = ip
    g, top = desc["top"].upper(), desc["top"]
    regmap = json.loads((d / "regmap.json").read_text())
    body = _print_macro("VERSION", f"{g}_REGMAP_VERSION") + _print_macro("IDENT", f"{g}_IDENT")
    body += "".join(_print_macro(f"REG_{n}", f"{g}_REG_{n}") for n in DOCMAP["regs"])
    body += "".join(_print_macro(f"ERR_{n}", f"{g}_ERR_{n}") for n in DOCMAP["errors"])
    body += "".join(_print_macro(f"CMD_{n}", f"{g}_CMD_{n}") for n in DOCMAP["commands"])
    body += "".join(_print_macro(f"STATUS_{n}", f"{g}_STATUS_{n}") for n in DOCMAP["status_bits"])
    got = _run_c(tmp_path, "regs", f'#include <stdio.h>\n#include "{top}_regs.h"\nint main(void) {{\n{body}'
                 "    return 0;\n}\n", d)

    assert got.pop("VERSION") == DOCMAP["version"] and got.pop("IDENT") == DOCMAP["ident"]
    want = {}
    for n, r in regs.items():  # symbolic offsets (the axi_lite windows) are regmap.json's to choose
        want[f"REG_{n}"] = r["offset"] if isinstance(r["offset"], int) else regmap[r["offset"]]
    want.update({f"ERR_{n}": c for n, c in DOCMAP["errors"].items()})
    want.update({f"CMD_{n}": v for n, v in DOCMAP["commands"].items()})
    want.update({f"STATUS_{n}": v for n, v in DOCMAP["status_bits"].items()})
    assert got == want
    # and nothing the table does not document
    text = (d / f"{top}_regs.h").read_text()
    assert set(re.findall(rf"#define {g}_REG_(\w+)", text)) == set(regs)
    assert set(re.findall(rf"#define {g}_ERR_(\w+)", text)) == set(DOCMAP["errors"])


def test_regmap_json_matches_the_documented_table(ip):
    d, desc, regs = ip
    rm = json.loads((d / "regmap.json").read_text())
    assert rm["version"] == DOCMAP["version"] and rm["ident"] == DOCMAP["ident"]
    fixed = {n: r for n, r in regs.items() if isinstance(r["offset"], int)}
    assert {r["name"]: (r["offset"], r["access"], r["width"]) for r in rm["registers"]} == \
        {n: (r["offset"], r["access"], r["width"]) for n, r in fixed.items()}
    assert rm["errors"] == DOCMAP["errors"]
    assert rm["commands"] == DOCMAP["commands"] and rm["status_bits"] == DOCMAP["status_bits"]
    lite = desc["interface"] == "axi_lite"
    assert (rm["lite_in_offset"] is not None, rm["lite_out_offset"] is not None) == (lite, lite)
    if lite:  # the windows lie above every fixed register and inside the address range
        assert min(rm["lite_in_offset"], rm["lite_out_offset"]) > max(r["offset"] for r in fixed.values()) + 4
        assert max(rm["lite_in_offset"], rm["lite_out_offset"]) < rm["address_range"]


def test_model_header_matches_the_documented_table(ip, tmp_path):
    d, desc, regs = ip
    top = desc["top"]
    m = f"{top}_model"
    lines = [f'    printf("REG_{n} %lu\\n", (unsigned long){m}.regs.{n.lower()});' for n in DOCMAP["regs"]]
    lines += [f'    printf("{k} %lu\\n", (unsigned long){m}.{f});' for k, f in (
        ("IDENT", "ident"), ("CMD_LOAD_WEIGHTS", "cmd_load_weights"), ("CMD_RUN", "cmd_run"),
        ("STATUS_WEIGHTS_VALID", "status_weights_valid"), ("STATUS_WEIGHTS_EXTERNAL", "status_weights_external"),
        ("ERR_NO_WEIGHTS", "err_no_weights"), ("ERR_BAD_CRC", "err_bad_crc"), ("N_ERRORS", "n_device_errors"))]
    lines += ['    printf("LIB_VERSION %lu\\n", (unsigned long)NNA_REGMAP_VERSION);',
              f'    printf("MODEL_VERSION %lu\\n", (unsigned long){top.upper()}_REGMAP_VERSION);',
              f'    for (i = 0; i < {m}.n_device_errors; i++) printf("NAME_%s %u\\n", {m}.device_errors[i], i);']
    src = (f'#include <stdio.h>\n#include "nna.h"\n#include "{top}_model.h"\n'
           "int main(void) {\n    unsigned i;\n" + "\n".join(lines) + "\n    return 0;\n}\n")
    got = _run_c(tmp_path, "model", src, SW / "c" / "include", d)

    regmap = json.loads((d / "regmap.json").read_text())
    absent = 0xFFFFFFFF
    for n, r in DOCMAP["regs"].items():
        want = absent if n not in regs else r["offset"] if isinstance(r["offset"], int) else regmap[r["offset"]]
        assert got[f"REG_{n}"] == want, n
    assert got["LIB_VERSION"] == got["MODEL_VERSION"] == DOCMAP["version"]
    assert got["IDENT"] == DOCMAP["ident"]
    assert (got["CMD_LOAD_WEIGHTS"], got["CMD_RUN"]) == (DOCMAP["commands"]["LOAD_WEIGHTS"], DOCMAP["commands"]["RUN"])
    assert got["STATUS_WEIGHTS_VALID"] == DOCMAP["status_bits"]["WEIGHTS_VALID"]
    assert got["STATUS_WEIGHTS_EXTERNAL"] == DOCMAP["status_bits"]["WEIGHTS_EXTERNAL"]
    assert got["ERR_NO_WEIGHTS"] == DOCMAP["errors"]["NO_WEIGHTS"] and got["ERR_BAD_CRC"] == DOCMAP["errors"]["BAD_CRC"]
    assert got["N_ERRORS"] == len(DOCMAP["errors"])
    assert {k[5:]: v for k, v in got.items() if k.startswith("NAME_")} == DOCMAP["errors"]


def test_model_header_refuses_another_register_map_version(ip, tmp_path):
    """<top>_model.h stops a build against a driver library of another map version."""
    d, desc, _ = ip
    src = tmp_path / "v.c"
    src.write_text(f'#include "nna.h"\n#include "{desc["top"]}_model.h"\nint main(void) {{ return 0; }}\n')
    inc = tmp_path / "include"
    inc.mkdir()
    for h in (SW / "c" / "include").glob("*.h"):
        (inc / h.name).write_text(h.read_text())

    def build(version: int) -> subprocess.CompletedProcess:
        nna_h = (SW / "c" / "include" / "nna.h").read_text()
        (inc / "nna.h").write_text(re.sub(r"#define NNA_REGMAP_VERSION \d+u", f"#define NNA_REGMAP_VERSION {version}u",
                                          nna_h))
        return subprocess.run(["gcc", "-std=c99", "-fsyntax-only", f"-I{inc}", f"-I{d}", str(src)],
                              capture_output=True, text=True)

    assert build(DOCMAP["version"]).returncode == 0
    proc = build(DOCMAP["version"] + 1)
    assert proc.returncode != 0 and "register map version" in proc.stderr


# ---- the Python driver's register accesses ----

AP_DONE, AP_IDLE = 0x2, 0x4  # docs/contracts.md CTRL: bit1 ap_done, bit2 ap_idle


class DocRegisterFile:
    """A register file made from the documented table alone: it answers like an IP that does
    what it is told and records every access; anything off the table is a violation."""

    def __init__(self, desc: dict, regs: dict, regmap: dict):
        self.regs, self.desc, self.violations, self.log = regs, desc, [], []
        self.by_offset = {}
        for n, r in regs.items():
            if not isinstance(r["offset"], int):
                continue
            self.by_offset[r["offset"]] = n
            if r["width"] == 64:
                self.by_offset[r["offset"] + 4] = n + ".hi"
        self.windows = {}
        if desc["interface"] == "axi_lite":
            for n, key, word, count in (("IN_BUF", "lite_in_offset", "input_word", "n_inputs"),
                                        ("OUT_BUF", "lite_out_offset", "output_word", "n_outputs")):
                nbytes = desc["lite_max_batch"] * desc[count] * desc[word]["bytes"]
                self.windows[n] = (regmap[key], regmap[key] + (nbytes + 3) // 4 * 4)
        self.external = desc["weights"] == "external"
        self.valid = not self.external
        self.command = self.n_samples = 0
        self.commands = []
        self.next_load_error = 0
        self.last_error = 0

    def name(self, off: int) -> str | None:
        for n, (lo, hi) in self.windows.items():
            if lo <= off < hi and off % 4 == 0:
                return n
        return self.by_offset.get(off)

    def _access(self, kind: str, off: int) -> str | None:
        n = self.name(off)
        self.log.append((kind, n, off))
        access = self.regs.get((n or "").removesuffix(".hi"), {}).get("access", "")
        if n is None or kind not in access:
            self.violations.append(f"{kind} 0x{off:X} ({n or 'not in the table'}, dir {access or '-'})")
        return n

    def read(self, off: int) -> int:
        n = self._access("r", off)
        st = DOCMAP["status_bits"]
        return {
            "CTRL": AP_IDLE | AP_DONE,
            "STATUS": (st["WEIGHTS_VALID"] if self.valid else 0) | (st["WEIGHTS_EXTERNAL"] if self.external else 0),
            "LAST_ERROR": self.last_error, "IDENT": DOCMAP["ident"], "FINGERPRINT": self.desc["fingerprint"],
            "SAMPLES_DONE": self.n_samples if self.last_error == 0 else 0,
        }.get(n, 0)

    def write(self, off: int, value: int) -> None:
        n = self._access("w", off)
        if n == "COMMAND":
            self.command = value
            self.commands.append(value)
        elif n == "N_SAMPLES":
            self.n_samples = value
        elif n == "CTRL" and value & 1:  # one start, finished at once
            cmd, e = self.command, DOCMAP["errors"]
            if cmd == 0 or cmd & ~(DOCMAP["commands"]["LOAD_WEIGHTS"] | DOCMAP["commands"]["RUN"]):
                self.last_error = e["BAD_COMMAND"]
            elif cmd & DOCMAP["commands"]["LOAD_WEIGHTS"]:
                self.last_error, self.next_load_error = self.next_load_error, 0
                self.valid = self.last_error == 0
            else:
                self.last_error = 0 if self.valid else e["NO_WEIGHTS"]


class _Dma:
    """AXI DMA registers (PG021): reset done, running, idle."""

    def read(self, off: int) -> int:
        return 0x2 if off in (0x04, 0x34) else 0

    def write(self, off: int, value: int) -> None:
        pass


def test_python_driver_uses_the_documented_registers(ip):
    from nnaccel_driver import Accelerator, Buffer, NoWeightsError, WeightsCrcError, load_description

    d, desc, regs = ip
    dev = DocRegisterFile(desc, regs, json.loads((d / "regmap.json").read_text()))

    def allocate(n):
        return Buffer(np.zeros(n, np.uint8), 0x10000000, lambda: None, lambda: None)

    acc = Accelerator(load_description(d), dev, allocate, dma=_Dma() if desc["interface"] == "axi_stream" else None)
    x = np.zeros((2, desc["n_inputs"]), np.float32)
    external = desc["weights"] == "external"
    if external:
        acc.load_weights()
    acc.predict(x)
    assert dev.violations == []
    written = {n for k, n, _ in dev.log if k == "w"}
    read = {n for k, n, _ in dev.log if k == "r"}
    want_w = {"CTRL", "COMMAND", "N_SAMPLES"} | ({"WEIGHTS_ADDR", "WEIGHTS_ADDR.hi"} if external else set())
    want_w |= {"axi_master": {"IN_ADDR", "IN_ADDR.hi", "OUT_ADDR", "OUT_ADDR.hi"}, "axi_lite": {"IN_BUF"},
               "axi_stream": set()}[desc["interface"]]
    assert written == want_w
    assert read == {"CTRL", "IDENT", "FINGERPRINT", "STATUS", "LAST_ERROR", "SAMPLES_DONE"} | (
        {"OUT_BUF"} if desc["interface"] == "axi_lite" else set())
    c = DOCMAP["commands"]
    assert dev.commands == [0] + ([c["LOAD_WEIGHTS"]] if external else []) + [c["RUN"]], \
        "probe with COMMAND 0, then the documented LOAD_WEIGHTS and RUN bits"

    if not external:
        return
    # a device-side BAD_CRC, by the documented code: the specific error, then no RUN goes out
    dev.next_load_error = DOCMAP["errors"]["BAD_CRC"]
    with pytest.raises(WeightsCrcError) as e:
        acc.load_weights()
    assert e.value.code == DOCMAP["errors"]["BAD_CRC"] and e.value.name == "BAD_CRC"
    n_log = len(dev.log)
    with pytest.raises(NoWeightsError):
        acc.predict(x)
    assert not [a for a in dev.log[n_log:] if a[0] == "w"], "predict without weights starts nothing"
    acc.load_weights()
    acc.predict(x)
    # a device that lost its weights behind the driver's back answers NO_WEIGHTS, by its code
    dev.valid = False
    with pytest.raises(NoWeightsError) as e:
        acc.predict(x)
    assert e.value.code == DOCMAP["errors"]["NO_WEIGHTS"] and not acc.weights_loaded
    assert dev.violations == []
