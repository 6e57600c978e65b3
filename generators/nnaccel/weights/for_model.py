"""A weight image of any model of the IP's architecture (`nnaccel weights`)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from .. import hls
from ..config import build_config
from ..csim import read_description
from ..errors import LayoutError, NnaccelError
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
        check_same_arithmetic(ip_dir, hm)
        values = [hls.weight_values(v) for v in hm.get_weight_variables()]
    return build_image(layout, values, encoding or desc["weight_format"])


def check_same_arithmetic(ip_dir: Path, hm) -> None:
    """The IP computes with the layer types it was built with. With the IP's configuration a
    model gets the same ones, unless the model file sets them itself (an HGQ2 model's activation
    quantisers): refuse a weight set whose model would compute differently."""
    import json

    from ..npsim.describe import describe_layers

    built = Path(ip_dir) / "layers.json"
    if not built.is_file():  # an IP from before layers.json
        return
    ip_layers = {d["name"]: d for d in json.loads(built.read_text())["layers"]}
    for mine in json.loads(json.dumps(describe_layers(hm)))["layers"]:  # as stored: tuples become lists
        theirs = ip_layers.get(mine["name"], {})
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                raise LayoutError(f"the model does not compute like this IP: layer {mine['name']}: {key} is "
                                  f"{mine.get(key)} in the model, {theirs.get(key)} in the IP (an HGQ2 model must keep "
                                  "the quantiser configuration the IP was built with)")
