"""The `nnaccel` command line: a thin shell over the same functions the FuseSoC generators call."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import NnaccelError

USAGE = """nnaccel: Keras model -> Vitis HLS accelerator IP with run-time programmable weights

  nnaccel ip MODEL -o DIR [--config CFG.yml] [--set KEY=VALUE ...]
  nnaccel weights MODEL --layout DIR -o IMAGE.bin [--format native|float32]
  nnaccel csim DIR --input X.npy --output Y.npy [--weights IMAGE.bin]
  nnaccel check DIR           run the stored test vectors, compare bit for bit
  nnaccel boards              list the boards
  nnaccel report DIR [--png FILE] [--csynth FILE]   estimated resources/latency vs the board
  nnaccel header DIR -o OUT   C headers for the drivers and the self-test app
  nnaccel port-qkeras ARCH.json WEIGHTS.h5 -o OUT.keras   QKeras MLP -> Keras 3 + hls config
"""


def _cmd_ip(args) -> int:
    from .accel import generate_ip
    from .config import load_config

    cfg = load_config(args.config, args.model, args.set)
    res = generate_ip(cfg, Path(args.output))
    d = res.description
    print(f"nnaccel: wrote {d['vlnv']} to {args.output} ({d['interface']}, {d['weights']} weights, "
          f"{d['io_type']}, {res.report['n_values']} weight values, fingerprint 0x{d['fingerprint']:08x})")
    _print_image_report(res.report.get("image"))
    return 0


def _print_image_report(rep) -> None:
    if not rep:
        return
    print(f"nnaccel: weight image {rep['image_bytes']} bytes, {rep['n_values']} values; "
          f"{rep['n_saturated']} saturated, {rep['n_wrapped']} wrapped")


def _cmd_weights(args) -> int:
    from .staging import staged_file
    from .weights.for_model import image_for_model

    img, rep = image_for_model(Path(args.layout), Path(args.model), args.model_weights, args.format)
    with staged_file(Path(args.output)) as tmp:
        tmp.write_bytes(img)
    print(f"nnaccel: wrote {args.output}")
    _print_image_report(rep)
    return 0


def _cmd_csim(args) -> int:
    import numpy as np

    from .csim import load_npy, run_csim
    from .staging import staged_file

    x = load_npy(args.input, "--input")
    image = None
    if args.weights:
        try:
            image = Path(args.weights).read_bytes()
        except OSError as e:
            raise NnaccelError(f"--weights: cannot read {args.weights} ({e.strerror})") from None
    y = run_csim(Path(args.dir), x, image)
    with staged_file(Path(args.output)) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, y.astype(np.float32))
    print(f"nnaccel: {len(y)} samples -> {args.output}")
    return 0


def _cmd_check(args) -> int:
    from .check import check_ip

    return 0 if check_ip(Path(args.dir)) else 1


def _cmd_boards(args) -> int:
    from .boards import main_boards

    return main_boards(args.rest)


def _cmd_header(args) -> int:
    from .swgen import main_header

    return main_header(args.rest)


def _cmd_port_qkeras(args) -> int:
    from .port_qkeras import main as port_main

    return port_main(args.rest)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnaccel", usage=USAGE)
    sub = p.add_subparsers(dest="cmd", required=True)
    ip = sub.add_parser("ip", help="write the IP project for MODEL")
    ip.add_argument("model")
    ip.add_argument("-o", "--output", required=True)
    ip.add_argument("--config")
    ip.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ip.set_defaults(func=_cmd_ip)
    w = sub.add_parser("weights", help="weight image of MODEL for the IP in --layout DIR")
    w.add_argument("model")
    w.add_argument("--layout", required=True)
    w.add_argument("-o", "--output", required=True)
    w.add_argument("--format", choices=["native", "float32"])
    w.add_argument("--model-weights", help="weights .h5 of a Keras 2 .json model")
    w.set_defaults(func=_cmd_weights)
    c = sub.add_parser("csim", help="C-simulate the IP in DIR on a batch")
    c.add_argument("dir")
    c.add_argument("--input", required=True)
    c.add_argument("--output", required=True)
    c.add_argument("--weights")
    c.set_defaults(func=_cmd_csim)
    k = sub.add_parser("check", help="C-simulate the stored test vectors and compare bit for bit")
    k.add_argument("dir")
    k.set_defaults(func=_cmd_check)
    b = sub.add_parser("boards", help="list the boards", add_help=False)
    b.add_argument("rest", nargs=argparse.REMAINDER)
    b.set_defaults(func=_cmd_boards)
    h = sub.add_parser("header", help="driver and self-test headers", add_help=False)
    h.add_argument("rest", nargs=argparse.REMAINDER)
    h.set_defaults(func=_cmd_header)
    q = sub.add_parser("port-qkeras", help="port a QKeras MLP to Keras 3", add_help=False)
    q.add_argument("rest", nargs=argparse.REMAINDER)
    q.set_defaults(func=_cmd_port_qkeras)
    from .report import register as register_report

    register_report(sub)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except NnaccelError as e:
        print(f"nnaccel {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
