"""A weight image of any model of the IP's architecture (`nnaccel weights`)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from .. import hls
from ..config import build_config
from ..csim import read_description
from ..errors import NnaccelError
from .image import build_image
from .layout import check_same_layout, layout_from_graph, read_layout


def image_for_model(ip_dir: Path, model: Path, model_weights: Path | None = None,
                    encoding: str | None = None) -> tuple[bytes, dict]:
    """Convert MODEL with the configuration the IP was built with, refuse it if its
    layout differs, and pack its values."""
    desc = read_description(ip_dir)
    if desc["weights"] != "external":
        raise NnaccelError(f"{ip_dir}: this IP has embedded weights; only weights: external IPs take an image")
    layout = read_layout(ip_dir)
    raw = {k: v for k, v in desc["config"].items() if v is not None}
    raw.update(model=str(Path(model).resolve()), tb_samples=0)
    raw.pop("model_weights", None)
    if model_weights is not None:
        raw["model_weights"] = str(Path(model_weights).resolve())
    raw.pop("board", None)  # the part and bus width are already resolved in the stored config
    cfg = build_config(raw)
    with tempfile.TemporaryDirectory(prefix="nnaccel-weights-") as work:
        hm = hls.convert(cfg, Path(work) / "prj")
        found = layout_from_graph(hm, layout["bus_width"])
        check_same_layout(layout, found)
        values = [hls.weight_values(v) for v in hm.get_weight_variables()]
    return build_image(layout, values, encoding or desc["weight_format"])
