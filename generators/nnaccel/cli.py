"""The `nnaccel` command line: a thin shell over the same functions the FuseSoC generators call.

Each subcommand is one `add_<name>(sub)` function registering its parser (with `func`, the code
that runs it); adding a subcommand is one such function and one entry in SUBCOMMANDS.
Exit codes: 0 success, 1 runtime or validation error, 2 usage error, 128+N killed by signal N."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from . import __version__
from .errors import NnaccelError, one_line
from .interrupts import Terminated, exit_status, signals_raise
from .progress import Progress

DESCRIPTION = "Keras model -> Vitis HLS accelerator IP with run-time programmable weights."
EPILOG = ("Exit status: 0 success, 1 runtime or validation error, 2 usage error, 130/143 interrupted. "
          "`nnaccel COMMAND --help` describes one command.")


def _fingerprint(value: int) -> str:
    return f"0x{int(value):08X}"


def _print_image_report(rep) -> None:
    if rep:
        print(f"nnaccel: weight image {rep['image_bytes']} bytes, {rep['n_values']} values; "
              f"{rep['n_saturated']} saturated, {rep['n_wrapped']} wrapped")


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive {'integer' if kind is int else 'number'}")
        return value
    return parse


def _csim_options(p) -> None:
    p.add_argument("--jobs", "-j", type=_positive(int), metavar="N",
                   help="worker processes that share the samples (default: the number of cores)")
    p.add_argument("--timeout", type=_positive(float), metavar="SECONDS",
                   help="time a start may take per 1000 samples before the C++ is taken for an endless loop "
                        "and stopped (default: $NNACCEL_CSIM_TIMEOUT, else 60)")


def _quiet_option(p) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines (results and errors still appear)")


# -- subcommands ------------------------------------------------------------------------------

def _run_ip(args) -> int:
    from .accel import generate_ip
    from .config import load_config

    cfg = load_config(args.config, args.model, args.set)
    res = generate_ip(cfg, Path(args.output), log=args.progress, force=args.force,
                      inputs=[args.config] if args.config else [])
    d = res.description
    print(f"nnaccel: wrote {d['vlnv']} to {args.output} ({d['interface']}, {d['weights']} weights, "
          f"{d['io_type']}, {res.report['n_values']} weight values, fingerprint {_fingerprint(d['fingerprint'])})")
    _print_image_report(res.report.get("image"))
    return 0


def add_ip(sub) -> None:
    p = sub.add_parser("ip", help="write the accelerator IP directory for MODEL",
                       description="Convert MODEL with hls4ml and write the accelerator IP directory "
                                   "(HLS sources, register map, weight image, FuseSoC core) to DIR.")
    p.add_argument("model", help="a .keras model, a legacy .h5, or a Keras 2 NAME.json (+ NAME_weights.h5)")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="the IP directory to write: new, empty, or an IP directory nnaccel wrote before")
    p.add_argument("--config", metavar="CFG.yml", help="YAML configuration (docs/configuration.md); "
                   "paths in it are relative to the file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration key (repeatable), e.g. --set interface=axi_stream")
    p.add_argument("--force", action="store_true",
                   help="replace DIR even if it holds files nnaccel did not write (never the current "
                        "directory or one holding the inputs)")
    _quiet_option(p)
    p.set_defaults(func=_run_ip)


def _run_weights(args) -> int:
    from .staging import check_file_target, staged_file
    from .weights.for_model import image_for_model

    inputs = [args.model, args.model_weights]
    check_file_target(Path(args.output), inputs=inputs)  # before the conversion, not after
    with args.progress.step("converting with hls4ml and packing the weights"):
        img, rep = image_for_model(Path(args.layout), Path(args.model), args.model_weights, args.format)
    with staged_file(Path(args.output), inputs=inputs) as tmp:
        tmp.write_bytes(img)
    print(f"nnaccel: wrote {args.output}")
    _print_image_report(rep)
    return 0


def add_weights(sub) -> None:
    p = sub.add_parser("weights", help="weight image of MODEL for an IP",
                       description="Write the weight image of MODEL (same architecture as the IP) in the "
                                   "layout of the IP directory given with --layout.")
    p.add_argument("model", help="the model whose weights to pack (.keras, .h5, or Keras 2 .json)")
    p.add_argument("--layout", required=True, metavar="DIR", help="IP directory written by `nnaccel ip`")
    p.add_argument("-o", "--output", required=True, metavar="IMAGE.bin",
                   help="the weight image file to write (an existing file is replaced)")
    p.add_argument("--format", choices=["native", "float32"],
                   help="value encoding in the image (default: the IP's weight_format)")
    p.add_argument("--model-weights", metavar="WEIGHTS.h5", help="weights .h5 of a Keras 2 .json model")
    _quiet_option(p)
    p.set_defaults(func=_run_weights)


def _run_csim(args) -> int:
    import numpy as np

    from .csim import load_npy, run_csim
    from .staging import check_file_target, staged_file

    check_file_target(Path(args.output), inputs=[args.input, args.weights])  # before minutes of simulation
    x = load_npy(args.input, "--input")
    image = None
    if args.weights:
        try:
            image = Path(args.weights).read_bytes()
        except OSError as e:
            raise NnaccelError(f"--weights: cannot read {args.weights} ({e.strerror})") from None
    y = run_csim(Path(args.dir), x, image, log=args.progress, jobs=args.jobs, timeout=args.timeout,
                 engine=args.engine)
    with staged_file(Path(args.output), inputs=[args.input, args.weights]) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, y.astype(np.float32))
    print(f"nnaccel: {len(y)} samples -> {args.output}")
    return 0


def add_csim(sub) -> None:
    p = sub.add_parser("csim", help="C-simulate an IP on a batch of inputs",
                       description="Load the IP's weight image and run the inputs through the IP, bit-exact: "
                                   "its HLS C++ built with g++ (cached), or the vectorised numpy engine "
                                   "(--engine).")
    p.add_argument("dir", help="IP directory written by `nnaccel ip`")
    p.add_argument("--input", required=True, metavar="X.npy", help="inputs, shape (N, *input_shape) or (N, n_inputs)")
    p.add_argument("--output", required=True, metavar="Y.npy",
                   help="the outputs to write as float32 .npy (an existing file is replaced)")
    p.add_argument("--weights", metavar="IMAGE.bin", help="weight image to load (default: the IP's weights.bin)")
    _csim_options(p)
    p.add_argument("--engine", choices=["c", "numpy", "auto"], default="auto",
                   help="c: the HLS C++ compiled with g++; numpy: the vectorised bit-exact engine (an error if a "
                        "layer is not covered); auto (default): numpy when it covers every layer, else c")
    _quiet_option(p)
    p.set_defaults(func=_run_csim)


def _run_check(args) -> int:
    from .check import check_ip

    return 0 if check_ip(Path(args.dir), progress=args.progress, jobs=args.jobs, timeout=args.timeout) else 1


def add_check(sub) -> None:
    p = sub.add_parser("check", help="C-simulate the stored test vectors and compare bit for bit",
                       description="C-simulate the IP's stored test vectors and compare the outputs bit for "
                                   "bit with hls4ml's predict(), twice (differing runs mean the C++ is not deterministic); "
                                   "exit 1 on any difference.")
    p.add_argument("dir", help="IP directory written by `nnaccel ip` with tb_samples > 0")
    _csim_options(p)
    _quiet_option(p)
    p.set_defaults(func=_run_check)


def add_boards(sub) -> None:
    from .boards import add_boards_arguments, run_boards

    p = sub.add_parser("boards", help="list the boards, or show one board's facts",
                       description="List the boards nn_accel can target, or show the facts of one.")
    add_boards_arguments(p)
    p.set_defaults(func=run_boards)


def add_header(sub) -> None:
    from .swgen import add_header_arguments, run_header

    p = sub.add_parser("header", help="C headers for the drivers and the self-test app",
                       description="Write <top>_model.h and nna_selftest_data.h for an IP into a directory; "
                                   "other files in that directory are left alone.")
    add_header_arguments(p)
    p.set_defaults(func=run_header)


def add_port_qkeras(sub) -> None:
    from .port_qkeras import DESCRIPTION as PORT_DESCRIPTION, add_port_arguments, run_port

    p = sub.add_parser("port-qkeras", help="port a QKeras MLP to Keras 3 + hls4ml configuration",
                       description=PORT_DESCRIPTION)
    add_port_arguments(p)
    p.set_defaults(func=run_port)


def _run_bundle(args) -> int:
    from .bundle import make_bundle

    final, archive, manifest = make_bundle(Path(args.build_dir), Path(args.output), force=args.force,
                                           log=args.progress)
    accels = ", ".join(a["name"] for a in manifest["accelerators"])
    print(f"nnaccel: wrote {final} ({len(manifest['files'])} files: {manifest['design']}.bit/.hwh/.xsa, "
          f"{accels}, {manifest['wheel']}) and {archive}")
    return 0


def add_bundle(sub) -> None:
    p = sub.add_parser("bundle", help="collect what a board needs from a board build",
                       description="Collect the bitstream, hardware handoff, self-test, each accelerator's "
                                   "description, register map, weight layout and images, device-tree overlay "
                                   "and the Python driver wheel of a finished board build into DIR/<design>/ "
                                   "and DIR/<design>.tar.gz, with a README saying how to install and run.")
    p.add_argument("build_dir", metavar="BUILD_DIR",
                   help="the work root of a board build (build/<core>/<board>/ after fusesoc run --target=<board>)")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="directory to write <design>/ and <design>.tar.gz into (other files in it are left alone)")
    p.add_argument("--force", action="store_true",
                   help="replace DIR/<design> and DIR/<design>.tar.gz even if nnaccel bundle did not write them")
    _quiet_option(p)
    p.set_defaults(func=_run_bundle)


def add_sweep(sub) -> None:
    from .sweep.cli import register

    register(sub)


def add_help(sub) -> None:
    p = sub.add_parser("help", help="show the help of a command", description="Show the help of COMMAND.")
    p.add_argument("command", nargs="?", help="the command to describe (default: all commands)")
    p.set_defaults(func=None)


def add_report(sub) -> None:
    from .report import register

    register(sub)


SUBCOMMANDS = [add_ip, add_weights, add_csim, add_check, add_boards, add_report, add_header, add_port_qkeras, add_bundle,
               add_sweep, add_help]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnaccel", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"nnaccel {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    for name, sp in sub.choices.items():
        sp.set_defaults(prog=sp.prog)
    p.set_defaults(subparsers=sub.choices)
    return p


# -- running ----------------------------------------------------------------------------------

def _show_help(p: argparse.ArgumentParser, args) -> int:
    if args.command is None:
        p.print_help()
        return 0
    sp = args.subparsers.get(args.command)
    if sp is None:
        p.error(f"help: unknown command {args.command!r}; choose from {', '.join(args.subparsers)}")
    sp.print_help()
    return 0


def main(argv=None) -> int:
    from .sweep.cli import normalise

    p = parser()
    args = p.parse_args(normalise(list(sys.argv[1:] if argv is None else argv)))
    if args.func is None:
        return _show_help(p, args)
    args.progress = Progress(args.prog, quiet=getattr(args, "quiet", False))
    try:
        with signals_raise():
            return args.func(args)
    except NnaccelError as e:
        print(f"{args.prog}: error: {one_line(e)}", file=sys.stderr)
        return 1
    except OSError as e:  # a path the staging layer did not see: name it and the reason, no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"{args.prog}: error: {one_line(where)}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted", file=sys.stderr)
        return exit_status(signal.SIGINT)
    except Terminated as t:
        print(f"{args.prog}: terminated by {signal.Signals(t.signum).name}", file=sys.stderr)
        return exit_status(t.signum)


if __name__ == "__main__":
    sys.exit(main())
