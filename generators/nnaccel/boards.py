"""The board database: one YAML file per board in boards/, plus one file per
processing-system kind in boards/ps/ (how that PS names and enables its ports).

Boards are found in the directories of $NNACCEL_BOARD_PATH (os.pathsep
separated, searched first, so a user can add or override a board without
touching the repository) and then in the repository's boards/ directory
(installed with the package: nnaccel.resources).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import ConfigError, NnaccelError
from .resources import boards_dir

REPO_BOARDS = boards_dir()
ENV_PATH = "NNACCEL_BOARD_PATH"

# key -> (type(s), required, what it means); the schema the docs show.
BOARD_KEYS = {
    "name": (str, True, "board name, equal to the file name without .yml"),
    "title": (str, True, "human-readable board name"),
    "part": (str, True, "FPGA part, e.g. xczu3eg-sbva484-1-e"),
    "board_part": (str, True, "vendor:board:part of the board files (the newest installed version is used)"),
    "board_connections": (dict, False, "connector -> board part of a carrier card (Kria SOMs)"),
    "board_files": (str, True, "where to get the board files when Vivado lacks them"),
    "ps": (str, True, "processing-system kind: a file in boards/ps/"),
    "processor": (str, True, "processor name for Vitis, e.g. psu_cortexa53_0"),
    "uart": (str, True, "console UART instance, e.g. psu_uart_1"),
    "pl_clock": (dict, True, "{default_mhz, min_mhz, max_mhz} of the PL clock the PS makes"),
    "hp_ports": (list, True, "PS slave ports to DDR the PL may use, in order of preference"),
    "hp_width": (int, True, "data width in bits of those ports"),
    "control_port": (str, True, "PS master port that reaches the PL registers"),
    "ddr": (dict, True, "{base, size} of the DDR the accelerators may address"),
    "pynq": (bool, False, "whether a PYNQ image exists for the board"),
    "resources": (dict, False, "{dsp_family, dsp, bram18, lut, ff, lutram} of the part (budget of `nnaccel report`)"),
}
DSP_FAMILIES = ("dsp48e1", "dsp48e2")  # Zynq-7000: 25x18 multiplier; UltraScale+: 27x18
RESOURCE_COUNTS = ("dsp", "bram18", "lut", "ff", "lutram")
PS_KEYS = ("kind", "family", "vlnv", "automation_rule", "automation_config", "address_space", "clock",
           "reset", "interrupt", "slave_ports", "master_ports", "external_interfaces")
HP_WIDTHS = (32, 64, 128)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class PsKind:
    kind: str
    family: str
    vlnv: str
    automation_rule: str
    automation_config: dict
    address_space: str
    clock: dict
    reset: dict
    interrupt: dict
    slave_ports: dict
    master_ports: dict
    external_interfaces: list


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    part: str
    board_part: str
    board_files: str
    ps: PsKind
    processor: str
    uart: str
    pl_clock: dict
    hp_ports: tuple
    hp_width: int
    control_port: str
    ddr: dict
    board_connections: dict
    pynq: bool
    path: Path
    resources: dict | None = None  # None: a user board without a budget; reports skip the guard

    @property
    def family(self) -> str:
        return self.ps.family


def board_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p]
    return extra + [REPO_BOARDS]


def _board_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in board_dirs():
        for f in sorted(d.glob("*.yml")) if d.is_dir() else []:
            found.setdefault(f.stem, f)
    return found


def list_boards() -> list[str]:
    return sorted(_board_files())


def _read(path: Path, what: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path} ({e.strerror})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"{what}: {path} is not valid YAML" + (f" (line {mark.line + 1})" if mark else "")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: {path} must hold a mapping of keys")
    return data


def load_ps_kind(kind: str, board: str = "?") -> PsKind:
    for d in board_dirs():
        f = d / "ps" / f"{kind}.yml"
        if f.is_file():
            break
    else:
        raise ConfigError(f"board {board}: ps {kind!r} has no description in boards/ps/ "
                          f"(known: {', '.join(sorted(p.stem for p in (REPO_BOARDS / 'ps').glob('*.yml')))})")
    data = _read(f, f"board {board}")
    missing = [k for k in PS_KEYS if k not in data]
    if missing:
        raise ConfigError(f"board {board}: {f} lacks {', '.join(missing)}")
    return PsKind(**{k: data[k] for k in PS_KEYS})


def load_board(name: str) -> Board:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"board: {name!r} is not a board name (lower-case letters, digits, -); "
                          f"known boards: {', '.join(list_boards())}")
    files = _board_files()
    if name not in files:
        raise ConfigError(f"board: {name!r} is not a known board; known boards: {', '.join(sorted(files))}")
    return validate(_read(files[name], f"board {name}"), files[name])


def validate(data: dict, path: Path) -> Board:
    """Check every key of a board file; one line naming the board and the problem."""
    name = path.stem
    where = f"board {name} ({path})"
    unknown = sorted(set(data) - set(BOARD_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(BOARD_KEYS)}")
    for key, (typ, required, what) in BOARD_KEYS.items():
        if key not in data:
            if required:
                raise ConfigError(f"{where}: missing {key} ({what})")
            continue
        if typ is int and isinstance(data[key], bool) or not isinstance(data[key], typ):
            raise ConfigError(f"{where}: {key} must be a {typ.__name__} ({what}), got {data[key]!r}")
    if data["name"] != name:
        raise ConfigError(f"{where}: name is {data['name']!r} but the file is {path.name}; they must agree")
    if not re.fullmatch(r"x[A-Za-z0-9-]+", data["part"]):
        raise ConfigError(f"{where}: part {data['part']!r} is not an AMD part name such as xczu3eg-sbva484-1-e")
    if len(data["board_part"].split(":")) != 3:
        raise ConfigError(f"{where}: board_part {data['board_part']!r} must be vendor:board:part (no version)")
    ps = load_ps_kind(data["ps"], name)
    clk = data["pl_clock"]
    if set(clk) != {"default_mhz", "min_mhz", "max_mhz"} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in clk.values()) \
            or not clk["min_mhz"] <= clk["default_mhz"] <= clk["max_mhz"]:
        raise ConfigError(f"{where}: pl_clock must be {{default_mhz, min_mhz, max_mhz}} with min <= default <= max")
    if not data["hp_ports"] or len(set(data["hp_ports"])) != len(data["hp_ports"]):
        raise ConfigError(f"{where}: hp_ports must list distinct ports")
    for p in data["hp_ports"]:
        if p not in ps.slave_ports:
            raise ConfigError(f"{where}: hp_ports names {p!r}, which {ps.kind} does not have "
                              f"(it has {', '.join(ps.slave_ports)})")
    if data["control_port"] not in ps.master_ports:
        raise ConfigError(f"{where}: control_port {data['control_port']!r} is not a master port of {ps.kind} "
                          f"(it has {', '.join(ps.master_ports)})")
    if data["hp_width"] not in HP_WIDTHS:
        raise ConfigError(f"{where}: hp_width {data['hp_width']} is not one of {', '.join(map(str, HP_WIDTHS))}")
    ddr = data["ddr"]
    if set(ddr) != {"base", "size"} or not all(isinstance(v, int) and v >= 0 for v in ddr.values()) \
            or ddr["size"] == 0:
        raise ConfigError(f"{where}: ddr must be {{base, size}} with integer byte addresses")
    resources = _check_resources(data.get("resources"), where)
    return Board(
        name=name, title=data["title"], part=data["part"], board_part=data["board_part"],
        board_files=data["board_files"], ps=ps, processor=data["processor"], uart=data["uart"],
        pl_clock=dict(clk), hp_ports=tuple(data["hp_ports"]), hp_width=data["hp_width"],
        control_port=data["control_port"], ddr=dict(ddr), board_connections=dict(data.get("board_connections", {})),
        pynq=bool(data.get("pynq", False)), path=path, resources=resources,
    )


def _check_resources(res: dict | None, where: str) -> dict | None:
    if res is None:
        return None
    want = {"dsp_family", *RESOURCE_COUNTS}
    if set(res) != want:
        raise ConfigError(f"{where}: resources must have exactly {', '.join(sorted(want))}")
    if res["dsp_family"] not in DSP_FAMILIES:
        raise ConfigError(f"{where}: resources.dsp_family {res['dsp_family']!r} is not one of {', '.join(DSP_FAMILIES)}")
    for k in RESOURCE_COUNTS:
        if isinstance(res[k], bool) or not isinstance(res[k], int) or res[k] <= 0:
            raise ConfigError(f"{where}: resources.{k} must be a positive integer, got {res[k]!r}")
    return dict(res)


def device_of(part: str) -> str:
    """xczu3eg-sbva484-1-e -> xczu3eg; xc7z020clg400-1 -> xc7z020 (the die, whatever the package)."""
    m = re.match(r"(xc7[a-z]\d+|x[a-z]+\d+[a-z]*?)(?=clg|-|$)", part.lower())
    return m.group(1) if m else part.lower().split("-")[0]


def board_for_part(part: str) -> Board | None:
    """A board with exactly this part, else the first (by name) with the same die: the budget
    when only a part is given (the resources belong to the die, not the package)."""
    found = []
    for name in list_boards():
        try:
            found.append(load_board(name))
        except NnaccelError:
            continue
    exact = [b for b in found if b.part.lower() == part.lower()]
    same_die = [b for b in found if device_of(b.part) == device_of(part)]
    return (exact + same_die + [None])[0]


def ip_defaults(board: Board) -> dict:
    """What the IP generator takes from a board: part, bus width of the memory ports, clock."""
    return {"part": board.part, "bus_width": board.hp_width,
            "clock_period": round(1000.0 / board.pl_clock["default_mhz"], 6)}


def add_boards_arguments(p) -> None:
    p.add_argument("board", nargs="?", help="show the facts of this one board instead of the list")


def run_boards(args) -> int:
    """List the boards (one line each), or show one board's facts. NnaccelError for an unknown board."""
    if args.board:
        b = load_board(args.board)
        rows = [("board", b.name), ("title", b.title), ("part", b.part), ("board part", b.board_part),
                ("PS", f"{b.ps.kind} ({b.family})"), ("processor", b.processor), ("uart", b.uart),
                ("PL clock", f"default {b.pl_clock['default_mhz']} MHz, "
                             f"{b.pl_clock['min_mhz']}-{b.pl_clock['max_mhz']} MHz"),
                ("HP ports", f"{', '.join(b.hp_ports)} ({b.hp_width} bit)"), ("control", b.control_port),
                ("DDR", f"0x{b.ddr['base']:08X} + 0x{b.ddr['size']:08X}"), ("PYNQ", "yes" if b.pynq else "no"),
                ("resources", ", ".join(f"{k} {v}" for k, v in b.resources.items()) if b.resources else "-"),
                ("board files", b.board_files), ("file", str(b.path))]
        for k, v in rows:
            print(f"{k:12} {v}")
        return 0
    boards = [load_board(n) for n in list_boards()]
    print(f"{'board':10} {'part':22} {'PS':18} {'HP':>4}  title")
    for b in boards:
        print(f"{b.name:10} {b.part:22} {b.ps.kind:18} {b.hp_width:>4}  {b.title}")
    return 0


def main_boards(argv: list[str] | None = None) -> int:
    """`nnaccel boards` on its own (the `nnaccel` command registers the same arguments)."""
    ap = argparse.ArgumentParser(prog="nnaccel boards", description="List the boards nn_accel can target.")
    add_boards_arguments(ap)
    args = ap.parse_args(argv)
    try:
        return run_boards(args)
    except NnaccelError as e:
        print(f"nnaccel boards: error: {e}", file=sys.stderr)
        return 1
