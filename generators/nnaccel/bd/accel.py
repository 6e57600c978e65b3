"""The accelerators a block design holds: their IP descriptions (nnaccel.json,
docs/contracts.md), read from an IP directory or generated from a configuration."""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

REQUIRED = ("schema", "top", "vlnv", "interface", "weights", "bus_width", "part", "clock_period", "ports",
            "clock", "reset", "interrupt")
DEFAULT_RANGE = 0x10000  # a 64 KiB window per control port: the register map fits many times over
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,40}")


@dataclass(frozen=True)
class Accel:
    """One accelerator instance: its cell name in the block design and its IP description."""
    name: str
    desc: dict
    ip_dir: Path
    address_range: int

    @property
    def vlnv(self) -> str:
        return self.desc["vlnv"]

    def port(self, role: str) -> dict | None:
        return next((p for p in self.desc["ports"] if p["role"] == role), None)


def _check_description(d: dict, where: str) -> dict:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: not an IP description (expected a JSON object)")
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise ConfigError(f"{where}: IP description lacks {', '.join(missing)} (see docs/contracts.md)")
    if d["schema"] != 1:
        raise ConfigError(f"{where}: IP description schema {d['schema']!r} is not supported (this tool reads 1)")
    if len(str(d["vlnv"]).split(":")) != 4:
        raise ConfigError(f"{where}: vlnv {d['vlnv']!r} is not vendor:library:name:version")
    roles = [p.get("role") for p in d["ports"]]
    if "control" not in roles:
        raise ConfigError(f"{where}: the IP has no control (s_axilite) port")
    return d


def read_ip_dir(path: Path, where: str) -> tuple[dict, int]:
    """An IP directory written by `nnaccel ip` (or its nnaccel.json): description and control range."""
    path = Path(path)
    f = path / "nnaccel.json" if path.is_dir() else path
    try:
        d = json.loads(f.read_text())
    except OSError:
        raise ConfigError(f"{where}: {f} does not exist; give an IP directory written by `nnaccel ip`") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}: {f} is not valid JSON (line {e.lineno})") from None
    _check_description(d, where)
    rng = DEFAULT_RANGE
    regmap = f.parent / d.get("files", {}).get("regmap", "regmap.json")
    if regmap.is_file():
        rng = max(DEFAULT_RANGE, int(json.loads(regmap.read_text()).get("address_range", 0)))
    return d, 1 << (rng - 1).bit_length()


def collect(items, board: str, files_root: Path, ip_root: Path, log=print) -> list[Accel]:
    """Resolve the `accelerators` parameter: each item is {ip: DIR} (an existing IP
    directory, copied in) or {config: {...}} (the nn_hls parameters: generated here),
    with an optional instance `name`. IP directories end up under ip_root/<name>."""
    if not isinstance(items, list) or not items:
        raise ConfigError("accelerators: give a list of {ip: DIR} or {config: {...}} entries (at least one)")
    accels: list[Accel] = []
    for i, item in enumerate(items):
        where = f"accelerators[{i}]"
        if not isinstance(item, dict) or len({"ip", "config"} & set(item)) != 1:
            raise ConfigError(f"{where}: expected exactly one of ip: DIR or config: {{...}}, plus an optional name")
        unknown = sorted(set(item) - {"ip", "config", "name"}, key=repr)
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: ip, config, name")
        if "ip" in item:
            if not isinstance(item["ip"], str) or not item["ip"]:
                raise ConfigError(f"{where}: ip: {item['ip']!r:.80} is not the path of an IP directory")
            src = Path(item["ip"])
            src = src if src.is_absolute() else Path(files_root) / src
            desc, rng = read_ip_dir(src, where)
            name = item.get("name", desc["top"])
            _check_name(name, where, accels)
            dst = ip_root / name
            shutil.copytree(src if src.is_dir() else src.parent, dst,
                            ignore=shutil.ignore_patterns("*_prj", "*.so", "*.o", "__pycache__", "*.core"))
        else:
            desc, rng, dst, name = _from_config(item, board, files_root, ip_root, where, accels, log)
        if desc.get("board") not in (None, board):
            raise ConfigError(f"{where}: IP {desc['vlnv']} was built for board {desc['board']}, "
                              f"the block design is for {board}")
        accels.append(Accel(name=name, desc=desc, ip_dir=dst, address_range=rng))
    vlnvs = [a.vlnv for a in accels]
    dup = next((v for v in vlnvs if vlnvs.count(v) > 1), None)
    if dup:
        raise ConfigError(f"accelerators: two accelerators share the VLNV {dup}; give them different `top` names "
                          "(one IP per VLNV in the catalog)")
    return accels


def _check_name(name, where: str, accels: list[Accel]) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: name {name!r} is not a block-design cell name (letter, then letters, digits, _)")
    if any(a.name == name for a in accels):
        raise ConfigError(f"{where}: name {name!r} is used twice; give each accelerator its own name")


def _from_config(item, board, files_root, ip_root, where, accels, log):
    """Generate the IP with the nn_hls generator's own code, for this board."""
    from ..nn_hls import generate as nn_hls_generate

    params = item["config"]
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: config must be a mapping of nn_hls parameters (nnaccel configuration keys)")
    if params.get("board", board) != board:
        raise ConfigError(f"{where}: config has board {params['board']!r}, the block design is for {board}")
    # The IP keeps its test vectors: the Vitis self-test application (vitis_app) is built from
    # them, with expected outputs from the C-simulation, so hls4ml's reference build is skipped.
    params = dict(params, board=board)
    log(f"nnaccel: generating the accelerator IP of {where} for {board}")
    try:
        dst = nn_hls_generate(params, Path(files_root), "", out_root=ip_root, reference=False)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    # FuseSoC takes every .core a generator leaves as a generated core: the IP's own core
    # would build the accelerator a second time. Its files are listed in the block-design core.
    for core in dst.glob("*.core"):
        core.unlink()
    name = item.get("name", dst.name)
    _check_name(name, where, accels)
    if dst.name != name:
        dst = dst.rename(ip_root / name)
    desc, rng = read_ip_dir(dst, where)
    return desc, rng, dst, name
