"""The nn_hls generator: its parameters are the configuration keys (paths relative
to the calling core), plus `config`, a YAML file of defaults (paths relative to it)."""
from __future__ import annotations

from pathlib import Path

from .accel import generate_ip
from .config import build_config, read_yaml
from .errors import ConfigError


def _absolute(raw: dict, base: Path) -> dict:
    out = dict(raw)
    for key in ("model", "model_weights", "tb_input", "tb_labels"):
        if isinstance(out.get(key), str) and not Path(out[key]).is_absolute():
            out[key] = str((base / out[key]).resolve())
    return out


def generate(params: dict, files_root: Path, vlnv: str, out_root: Path = Path("."), reference: bool = True) -> Path:
    params = dict(params)
    raw: dict = {}
    cfg_file = params.pop("config", None)
    if cfg_file is not None and (not isinstance(cfg_file, str) or not cfg_file):
        raise ConfigError(f"config: {cfg_file!r:.80} is not the path of a YAML file (relative to the core)")
    if cfg_file is not None:
        path = (files_root / cfg_file).resolve()
        raw = _absolute(read_yaml(path), path.parent)
    raw.update(_absolute(params, files_root))
    if "model" not in raw:
        raise ConfigError("nn_hls: parameter model is missing (the .keras/.h5/.json file, relative to the core)")
    cfg = build_config(raw, files_root)
    out = out_root / cfg.top
    generate_ip(cfg, out, reference=reference)
    return out
