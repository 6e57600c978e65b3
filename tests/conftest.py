"""Shared test fixtures: repository paths, small models made here, and an
independent reference: hls4ml's own convert/compile/predict, called directly."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXAMPLES = REPO / "cores" / "examples"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def shared_path(*parts) -> Path:
    """A file from ../shared (third-party models): read there, never copied. If absent the test
    skips on a developer's machine, and fails under CI=true, where a skip would hide that the
    third-party models were never tested."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        if in_ci():
            pytest.fail(f"{p} is not present, and CI is set: CI must provide ../shared (the third-party "
                        f"models) beside the repository; unset CI to skip these tests instead", pytrace=False)
        pytest.skip(f"{p} is not present")
    return p


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


def _mlp(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((16,), name="x"),
        keras.layers.Dense(12, name="fc1"), keras.layers.Activation("relu", name="relu1"),
        keras.layers.Dense(5, name="fc2"), keras.layers.Activation("softmax", name="sm"),
    ])


def _cnn(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((6, 6, 1), name="img"),
        keras.layers.Conv2D(3, (3, 3), name="conv1"), keras.layers.Activation("relu", name="relu1"),
        keras.layers.MaxPooling2D((2, 2), name="pool1"), keras.layers.Flatten(name="flat"),
        keras.layers.Dense(4, name="fc1"), keras.layers.Activation("softmax", name="sm"),
    ])


@pytest.fixture(scope="session")
def mlp_models(models_dir) -> tuple[Path, Path]:
    """Two weight sets (A, B) of one small MLP architecture."""
    paths = []
    for seed, name in ((1, "mlp_a.keras"), (2, "mlp_b.keras")):
        p = models_dir / name
        _mlp(seed).save(p)
        paths.append(p)
    return tuple(paths)


@pytest.fixture(scope="session")
def cnn_models(models_dir) -> tuple[Path, Path]:
    paths = []
    for seed, name in ((3, "cnn_a.keras"), (4, "cnn_b.keras")):
        p = models_dir / name
        _cnn(seed).save(p)
        paths.append(p)
    return tuple(paths)


_REF_CACHE: dict = {}


def hls_reference(model: Path, hls_config: dict, io_type: str, x: np.ndarray, tmp_root: Path,
                  weights_h5: Path | None = None) -> np.ndarray:
    """hls4ml's own predict() for MODEL with this hls4ml config (embedded weights):
    the reference every bit-exactness test compares against."""
    import hls4ml

    key = (str(model), str(weights_h5), json.dumps(hls_config, sort_keys=True), io_type)
    hm = _REF_CACHE.get(key)
    if hm is None:
        out = tmp_root / ("ref-" + hashlib.sha256(repr(key).encode()).hexdigest()[:12])
        cfg = json.loads(json.dumps(hls_config))
        if str(model).endswith(".json"):
            hm = hls4ml.converters.keras_v2_to_hls({
                "KerasJson": str(model), "KerasH5": str(weights_h5 or model.with_name(model.stem + "_weights.h5")),
                "OutputDir": str(out), "ProjectName": "myproject", "Backend": "Vitis", "IOType": io_type,
                "HLSConfig": cfg, "Part": "xczu3eg-sbva484-1-e",
            })
        else:
            import keras

            km = keras.models.load_model(model, compile=False)
            hm = hls4ml.converters.convert_from_keras_model(km, hls_config=cfg, backend="Vitis", io_type=io_type,
                                                             output_dir=str(out), part="xczu3eg-sbva484-1-e")
        hm.compile()
        _REF_CACHE[key] = hm
    y = hm.predict(np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32))
    return np.asarray(y, dtype=np.float32).reshape(len(x), -1)


@pytest.fixture(scope="session")
def ref_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hls4ml-ref")


def make_ip(model: Path, out: Path, **settings):
    """`nnaccel ip` through its Python API (the CLI is a thin shell over it)."""
    from nnaccel.accel import generate_ip
    from nnaccel.config import build_config

    raw = {"model": str(model), "tb_samples": 0, **settings}
    return generate_ip(build_config(raw), out, log=lambda *a: None)
