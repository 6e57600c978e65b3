"""One jinja2 environment for every emitted file."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def _pretty_json(data) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


def _tcl_text(text) -> str:
    """Text safe inside a Tcl double-quoted string."""
    return re.sub(r'([\[\]$"\\{}])', r"\\\1", str(text))


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["pretty_json"] = _pretty_json
_env.filters["tcl_text"] = _tcl_text


def render(template: str, **context) -> str:
    return _env.get_template(template).render(**context)


def write(path: Path, template: str, **context) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(template, **context))
    return path


def write_json(path: Path, data) -> Path:
    return write(path, "ip/json.j2", data=data)
