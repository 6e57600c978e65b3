"""Read a sweep spec and expand it into validated design points.

Every point's configuration goes through the same validation as `nnaccel ip` before anything is
written, so an invalid axis stops the sweep with one line naming the axis and the value."""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import KEYS, build_config, deep_merge, read_yaml
from ..errors import ConfigError

STAGES = ("csim", "setup", "build")
SPEC_KEYS = {
    "name": "the sweep's name (letters, digits, _): part of every point's core name (default: the spec file's name)",
    "config": "a configuration file (as for `nnaccel ip --config`) the points start from; paths relative to it",
    "base": "configuration keys over `config`, the same for every point; paths relative to the spec",
    "axes": "{key: [values]}: the points are the cartesian product; dotted keys reach into hls",
    "points": "[{key: value}]: an explicit list of points instead of the product of axes",
    "stage": "csim | setup | build: what `sweep run-point` does by default",
}
PATH_KEYS = ("model", "model_weights", "tb_input", "tb_labels")
MAX_POINTS = 10000


@dataclass(frozen=True)
class Point:
    index: int
    values: dict       # {axis: value} as written in the spec
    raw: dict          # the full configuration, paths absolute
    config: Any        # the validated nnaccel.config.Config

    @property
    def id(self) -> str:
        return point_id(self.index)


@dataclass(frozen=True)
class Sweep:
    name: str
    stage: str
    axes: list
    points: list


def point_id(index: int) -> str:
    return f"p{index:04d}"


def _absolute(raw: dict, base: Path) -> dict:
    out = dict(raw)
    for key in PATH_KEYS:
        if isinstance(out.get(key), str) and out[key] and not Path(out[key]).is_absolute():
            out[key] = str((base / out[key]).resolve())
    return out


def _nest(key: str, value) -> dict:
    node: dict = {}
    parts = key.split(".")
    cur = node
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return node


def _show(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _check_axis_name(axis: Any) -> str:
    if not isinstance(axis, str) or not axis:
        raise ConfigError(f"axes: {axis!r} is not a configuration key")
    parts = axis.split(".")
    if parts[0] not in KEYS:
        raise ConfigError(f"axis {axis}: unknown configuration key {parts[0]!r}; valid keys: {', '.join(KEYS)}")
    if len(parts) > 1 and parts[0] != "hls":
        raise ConfigError(f"axis {axis}: only hls takes dotted keys (e.g. hls.Model.ReuseFactor)")
    if any(not p for p in parts):
        raise ConfigError(f"axis {axis}: empty part in the dotted key")
    return axis


def _point_raw(base: dict, values: dict, spec_dir: Path) -> dict:
    raw = base
    for axis, value in values.items():
        raw = deep_merge(raw, _absolute(_nest(axis, value), spec_dir))
    return raw


def _validate(raw: dict, spec_dir: Path, stage: str):
    cfg = build_config(raw, spec_dir)
    for key in PATH_KEYS:
        p = getattr(cfg, key)
        if p is not None and not p.exists():
            raise ConfigError(f"{key}: {p} does not exist")
    if stage == "csim" and cfg.tb_samples == 0:
        raise ConfigError("stage csim compares the IP's test vectors with hls4ml: tb_samples must be at least 1")
    if stage != "csim" and cfg.board is None:
        raise ConfigError(f"stage {stage} runs a board target: set board (in the base or as an axis)")
    return cfg


def _combinations(spec: dict) -> tuple[list, list[dict]]:
    axes, points = spec.get("axes"), spec.get("points")
    if axes is not None and points is not None:
        raise ConfigError("sweep spec: give axes (their product is the points) or points (an explicit list), not both")
    if axes is None and points is None:
        raise ConfigError("sweep spec: no axes and no points; give axes: {key: [values]} or points: [{key: value}]")
    if axes is not None:
        if not isinstance(axes, dict) or not axes:
            raise ConfigError("axes: expected a mapping {key: [values]} with at least one key")
        for axis, vals in axes.items():
            _check_axis_name(axis)
            if not isinstance(vals, list) or not vals:
                raise ConfigError(f"axis {axis}: expected a non-empty list of values, got {vals!r}")
        names = list(axes)
        combos = [dict(zip(names, vs)) for vs in itertools.product(*(axes[n] for n in names))]
        return names, combos
    if not isinstance(points, list) or not points or not all(isinstance(p, dict) and p for p in points):
        raise ConfigError("points: expected a non-empty list of mappings {key: value}")
    names: list = []
    for p in points:
        for axis in p:
            if axis not in names:
                names.append(_check_axis_name(axis))
    return names, [dict(p) for p in points]


def load_spec(path: Path) -> Sweep:
    spec_path = Path(path)
    spec = read_yaml(spec_path)
    spec_dir = spec_path.resolve().parent
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"sweep spec: unknown key {unknown[0]!r}; valid keys: {', '.join(SPEC_KEYS)}")
    name = spec.get("name", re.sub(r"\W", "_", spec_path.stem))
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,40}", name):
        raise ConfigError(f"name: {name!r} is not a sweep name (1 to 40 letters, digits or _)")
    stage = spec.get("stage", "csim")
    if stage not in STAGES:
        raise ConfigError(f"stage: {stage!r} is not valid; choose one of {', '.join(STAGES)}")

    base: dict = {}
    if spec.get("config") is not None:
        if not isinstance(spec["config"], str):
            raise ConfigError(f"config: {spec['config']!r} is not a path")
        cfg_path = (spec_dir / spec["config"]).resolve()
        base = _absolute(read_yaml(cfg_path), cfg_path.parent)
    inline = spec.get("base") or {}
    if not isinstance(inline, dict):
        raise ConfigError("base: expected a mapping of configuration keys")
    base = deep_merge(base, _absolute(inline, spec_dir))

    axes, combos = _combinations(spec)
    if len(combos) > MAX_POINTS:
        raise ConfigError(f"sweep spec: {len(combos)} points; at most {MAX_POINTS} in one bundle")
    points, errors = [], []
    for i, values in enumerate(combos):
        try:
            points.append(Point(i, values, *_checked(base, values, spec_dir, stage)))
        except ConfigError as e:
            errors.append((i, values, e))
    if errors:
        raise _blame(errors[0], [p.values for p in points], base, spec_dir, stage)
    return Sweep(name=name, stage=stage, axes=axes, points=points)


def _checked(base: dict, values: dict, spec_dir: Path, stage: str) -> tuple[dict, object]:
    raw = _point_raw(base, values, spec_dir)
    return raw, _validate(raw, spec_dir, stage)


def _blame(error, valid: list[dict], base: dict, spec_dir: Path, stage: str) -> ConfigError:
    """Name the axis and value when one value alone breaks a point that is otherwise valid
    (the same point with that value put into a valid point fails); else name the whole point."""
    index, values, e = error
    for ref in valid[:1]:
        for axis, value in values.items():
            if ref.get(axis) == value and axis in ref:
                continue
            try:
                _checked(base, {**ref, axis: value}, spec_dir, stage)
            except ConfigError as alone:
                return ConfigError(f"axis {axis}, value {_show(value)}: {alone}")
    if len(values) == 1:
        ((axis, value),) = values.items()
        return ConfigError(f"axis {axis}, value {_show(value)}: {e}")
    shown = ", ".join(f"{a}={_show(v)}" for a, v in values.items())
    return ConfigError(f"point {point_id(index)} ({shown}): {e}")
