"""Board facts the IP generator needs (part, bus width, clock), read from boards/<name>.yml."""
from __future__ import annotations

from .errors import ConfigError


def board_defaults(name: str) -> dict:
    from . import boards  # the board database (one YAML file per board)

    try:
        b = boards.load_board(name)
    except ConfigError:
        raise
    except Exception as e:  # an unreadable board file is a user-facing problem too
        raise ConfigError(f"board: {name!r} cannot be read ({e})") from None
    return boards.ip_defaults(b)
