"""Run scripts through model.tcl (and project.tcl) in tclsh. The IP definitions come from
ipdefs.yml; accelerator IPs are described from their nnaccel.json."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model.tcl"


class ModelError(AssertionError):
    """A script did something Vivado / Vitis HLS would reject (message from the model)."""


def _atom(x) -> str:
    s = str(int(x)) if isinstance(x, bool) else str(x)
    if s == "":
        return "{}"
    if re.fullmatch(r"[A-Za-z0-9_.:/%*+-]+", s):
        return s
    if "\\" in s or s.count("{") != s.count("}"):
        raise ValueError(f"cannot quote {s!r} for Tcl")
    return "{" + s + "}"


def to_tcl(obj) -> str:
    """A Python value as a Tcl list/dict literal."""
    if isinstance(obj, dict):
        return " ".join(f"{_atom(k)} {{{to_tcl(v)}}}" if isinstance(v, (dict, list)) else f"{_atom(k)} {_atom(v)}"
                        for k, v in obj.items())
    if isinstance(obj, list):
        return " ".join(f"{{{to_tcl(v)}}}" if isinstance(v, (dict, list)) else _atom(v) for v in obj)
    return _atom(obj)


def ipdefs() -> dict:
    return yaml.safe_load((HERE / "ipdefs.yml").read_text())


def accel_def(desc: dict) -> dict:
    """The model's definition of an exported accelerator: exactly the ports nnaccel.json declares."""
    clk = desc["clock"]
    pins = {clk: {"dir": "I", "type": "clk"}, desc["reset"]: {"dir": "I", "type": "rst"},
            desc["interrupt"]: {"dir": "O", "type": "intr", "required": 1}}
    intfs = {}
    for p in desc["ports"]:
        kind = p["kind"]
        if kind == "s_axilite":
            intfs[p["name"]] = {"mode": "Slave", "bus": "aximm", "clock": clk, "segment": "Reg"}
        elif kind == "m_axi":
            intfs[p["name"]] = {"mode": "Master", "bus": "aximm", "clock": clk, "space": f"Data_{p['name']}"}
        elif kind in ("axis_slave", "axis_master"):
            intfs[p["name"]] = {"mode": "Slave" if kind == "axis_slave" else "Master", "bus": "axis",
                                "clock": clk, "width": p["width"]}
        else:
            raise ValueError(f"unknown port kind {kind}")
    return {"top": desc["top"], "part": desc["part"], "config": {}, "pins": pins, "intfs": intfs}


@dataclass
class Design:
    records: list = field(default_factory=list)

    def _all(self, kind):
        return [r[1:] for r in self.records if r[0] == kind]

    @property
    def cells(self) -> dict:
        return {name: vlnv for name, vlnv in self._all("cell")}

    @property
    def intf_nets(self) -> list:
        return self._all("intf")

    @property
    def nets(self) -> list:
        return [r[0] for r in self._all("net")]

    @property
    def addresses(self) -> list:
        return [(sp, sg, int(off), int(rng)) for sp, sg, off, rng in self._all("addr")]

    @property
    def project(self) -> dict:
        return {k: v for k, v in self._all("project")}

    @property
    def config(self) -> dict:
        return {c: _tcl_dict(v) for c, v in self._all("config")}

    @property
    def exports(self) -> list:
        return [v for v, _ in self._all("export")]

    @property
    def platforms(self) -> list:
        """Every .xsa write_hw_platform wrote: {file, fixed, include_bit, bit, hwh}."""
        return [{"file": f, "fixed": fx == "1", "include_bit": ib == "1", "bit": bit, "hwh": hwh}
                for f, fx, ib, bit, hwh in self._all("xsa")]

    @property
    def runs(self) -> dict:
        return {name: (status, progress) for name, status, progress in self._all("run")}

    def value(self, kind):
        got = self._all(kind)
        return got[0][0] if got else None

    def connected(self, a: str, b: str) -> bool:
        return [a, b] in self.intf_nets or [b, a] in self.intf_nets

    def same_net(self, *pins) -> bool:
        return any(all(p in net for p in pins) for net in self._nets_merged())

    def _nets_merged(self):
        merged: list[set] = []
        for net in self.nets:
            s = set(net)
            for m in [m for m in merged if m & s]:
                s |= m
                merged.remove(m)
            merged.append(s)
        return merged


def _tcl_list(text: str) -> list:
    """Parse one level of a Tcl list (the model prints simple, brace-quoted lists)."""
    out, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] == "{":
            depth, j = 1, i + 1
            while depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            out.append(text[i + 1:j - 1])
            i = j
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _tcl_dict(text: str) -> dict:
    items = _tcl_list(text)
    return dict(zip(items[::2], items[1::2]))


def _parse_record(text: str) -> list:
    items = _tcl_list(text)
    if items and items[0] == "net":
        return ["net", _tcl_list(items[1])]
    return items


def _driver(steps, ip_descs, board_parts) -> str:
    defs = ipdefs()
    lines = [f"source {{{MODEL}}}", f"nnm::load {{{to_tcl(defs)}}} {{{to_tcl(list(board_parts))}}}"]
    for d in ip_descs:
        lines.append(f"nnm::hls_ip {_atom(d['vlnv'])} {{{to_tcl(accel_def(d))}}}")
    lines += steps
    lines.append("nnm::dump")
    return "if {[catch {\n" + "\n".join(lines) + "\n} msg]} {\n    puts stderr \"MODEL-ERROR: $msg\"\n    exit 1\n}\n"


def _execute(driver: str, cwd, timeout) -> Design:
    p = subprocess.run(["tclsh"], input=driver, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    if p.returncode != 0:
        err = p.stderr.strip()
        m = re.search(r"MODEL-ERROR: (.*)", err, re.S)
        raise ModelError(m.group(1).strip() if m else err or f"tclsh exited with {p.returncode}")
    design = Design()
    for line in p.stdout.splitlines():
        if line.startswith("REC "):
            design.records.append(_parse_record(line[4:]))
    return design


def run(vivado_scripts=(), hls_scripts=(), ip_descs=(), board_parts=(), cwd: Path | None = None,
        timeout: float = 60) -> Design:
    """Source each HLS script, then each Vivado script, in one tclsh, with a project open as the
    project script would leave it (the test stands in for that script); return the recorded design."""
    steps = [f"nnm::run_hls {{{Path(s).resolve()}}}" for s in hls_scripts]
    steps.append("nnm::implicit_project")
    steps += [f"nnm::run_vivado {{{Path(s).resolve()}}}" for s in vivado_scripts]
    return _execute(_driver(steps, ip_descs, board_parts), cwd, timeout)


def run_flow(steps, ip_descs=(), board_parts=(), cwd: Path | None = None, timeout: float = 60) -> Design:
    """Run a tool sequence as the flow's Makefile would: steps are ("hls", script) for one Vitis HLS
    call and ("vivado", [scripts], xpr or None) for one `vivado -mode batch -source ... [xpr]` session.
    Relative paths are relative to cwd (the work root)."""
    lines = []
    for step in steps:
        if step[0] == "hls":
            lines.append(f"nnm::run_hls {{{step[1]}}}")
        elif step[0] == "vivado":
            _, scripts, xpr = step
            lines.append(f"nnm::vivado_session {{{xpr or ''}}} {{{to_tcl([str(s) for s in scripts])}}}")
        else:
            raise ValueError(f"unknown step {step!r}")
    return _execute(_driver(lines, ip_descs, board_parts), cwd, timeout)
