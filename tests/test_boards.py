"""The board database: every board file loads and validates, `nnaccel boards` lists
them, a bad or unknown board gives one line naming the board and the problem."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nnaccel import boards
from nnaccel.errors import ConfigError

REQUIRED_BOARDS = {"ultra96v2", "pynq-z1", "pynq-z2", "zedboard", "zcu102", "zcu104", "kv260", "aup-zu3"}


def test_every_required_board_is_there_and_valid():
    assert REQUIRED_BOARDS <= set(boards.list_boards())
    for name in boards.list_boards():
        b = boards.load_board(name)
        assert b.name == name
        assert b.control_port in b.ps.master_ports
        assert all(p in b.ps.slave_ports for p in b.hp_ports)


@pytest.mark.parametrize("name,kind,processor,width", [
    ("ultra96v2", "zynq_ultra_ps_e", "psu_cortexa53_0", 128),
    ("kv260", "zynq_ultra_ps_e", "psu_cortexa53_0", 128),
    ("pynq-z2", "processing_system7", "ps7_cortexa9_0", 64),
    ("zedboard", "processing_system7", "ps7_cortexa9_0", 64),
])
def test_board_facts(name, kind, processor, width):
    b = boards.load_board(name)
    assert (b.ps.kind, b.processor, b.hp_width) == (kind, processor, width)
    assert boards.ip_defaults(b) == {"part": b.part, "bus_width": width, "clock_period": 10.0}


def test_main_boards_lists_every_board(capsys):
    assert boards.main_boards([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[1:]] == boards.list_boards()


def test_main_boards_shows_one_board(capsys):
    assert boards.main_boards(["pynq-z1"]) == 0
    out = capsys.readouterr().out
    assert "xc7z020clg400-1" in out and "board files" in out


def test_unknown_board_is_one_line(capsys):
    with pytest.raises(ConfigError, match=r"'nosuch' is not a known board; known boards: aup-zu3, "):
        boards.load_board("nosuch")
    assert boards.main_boards(["nosuch"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuch" in err


def _write_board(tmp_path: Path, monkeypatch, name: str, **changes) -> None:
    data = yaml.safe_load((boards.REPO_BOARDS / "ultra96v2.yml").read_text())
    data["name"] = name
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    (tmp_path / f"{name}.yml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv(boards.ENV_PATH, str(tmp_path))


def test_adding_a_board_is_adding_one_file(tmp_path, monkeypatch):
    _write_board(tmp_path, monkeypatch, "myboard", title="My board")
    assert "myboard" in boards.list_boards()
    assert boards.load_board("myboard").title == "My board"


@pytest.mark.parametrize("changes,message", [
    ({"part": None}, r"board myboard .*missing part"),
    ({"colour": "red"}, r"board myboard .*unknown key 'colour'"),
    ({"ps": "zynq9000"}, r"board myboard: ps 'zynq9000' has no description"),
    ({"hp_ports": ["S_AXI_HP0"]}, r"board myboard .*hp_ports names 'S_AXI_HP0', which zynq_ultra_ps_e does not have"),
    ({"control_port": "M_AXI_GP0"}, r"board myboard .*control_port 'M_AXI_GP0' is not a master port"),
    ({"pl_clock": {"default_mhz": 400, "min_mhz": 10, "max_mhz": 333}}, r"board myboard .*pl_clock"),
    ({"hp_width": "128"}, r"board myboard .*hp_width must be a int"),
    ({"board_part": "avnet.com:ultra96v2:part0:1.2"}, r"board_part .* must be vendor:board:part"),
])
def test_bad_board_file_names_board_and_reason(tmp_path, monkeypatch, changes, message):
    _write_board(tmp_path, monkeypatch, "myboard", **changes)
    with pytest.raises(ConfigError, match=message):
        boards.load_board("myboard")


def test_name_must_match_file(tmp_path, monkeypatch):
    _write_board(tmp_path, monkeypatch, "myboard")
    (tmp_path / "other.yml").write_text((tmp_path / "myboard.yml").read_text())
    with pytest.raises(ConfigError, match=r"name is 'myboard' but the file is other.yml"):
        boards.load_board("other")
