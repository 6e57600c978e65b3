"""`nnaccel sweep`: SPEC -o DIR (write the bundle), run-point, submit, collect (docs/sweeps.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .spec import STAGES

ACTIONS = ("create", "run-point", "submit", "collect")
USAGE = ("nnaccel sweep SPEC.yml -o DIR [--force] [-q]\n"
         "       nnaccel sweep {run-point,submit,collect} DIR ...")


def normalise(argv: list[str]) -> list[str]:
    """`nnaccel sweep SPEC -o DIR` is `nnaccel sweep create SPEC -o DIR`: argparse wants the action first."""
    if len(argv) >= 2 and argv[0] == "sweep" and argv[1] not in (*ACTIONS, "-h", "--help"):
        return ["sweep", "create", *argv[1:]]
    return argv


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a point index (0, 1, ...)")
    return value


def _quiet(p) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines (results and errors still appear)")


def _run_create(args) -> int:
    from .manifest import write_bundle
    from .spec import load_spec

    sweep = load_spec(Path(args.spec))
    inputs = [args.spec, *{str(p.config.model) for p in sweep.points}]
    manifest, written = write_bundle(sweep, Path(args.output), inputs=inputs, force=args.force)
    n = len(manifest["points"])
    axes = " x ".join(manifest["axes"])
    if written:
        print(f"nnaccel sweep: wrote {args.output}: {n} points ({axes}), stage {manifest['stage']}; "
              f"run them with `nnaccel sweep submit {args.output}`")
    else:
        from .manifest import read_result
        done = sum(1 for e in manifest["points"] if read_result(Path(args.output), e))
        print(f"nnaccel sweep: {args.output} already holds this sweep ({n} points, {done} with a result); "
              "left as it is, so a submit resumes it")
    return 0


def _run_point(args) -> int:
    from .point import run_point

    return run_point(Path(args.dir), args.index, args.stage, log=args.progress)


def _run_submit(args) -> int:
    from .submit import submit

    return submit(Path(args.dir), args.backend, seats=args.seats, launcher=args.launcher, wait=not args.no_wait,
                  dry_run=args.dry_run, points=args.points, jobs=args.jobs, log=args.progress)


def _run_collect(args) -> int:
    from .collect import collect

    collect(Path(args.dir), Path(args.output) if args.output else None, log=args.progress)
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="design-space sweeps: write a bundle of design points, run, collect",
                       usage=USAGE,
                       description="A sweep spec (a base configuration and axes to vary) becomes a bundle of design "
                                   "points with one FuseSoC core each (`nnaccel sweep SPEC.yml -o DIR`); backends "
                                   "run the points (`submit`), each with `run-point`; `collect` tabulates the "
                                   "results. docs/sweeps.md describes the spec and the bundle.")
    actions = p.add_subparsers(dest="action", required=True, metavar="{SPEC.yml,run-point,submit,collect}",
                              help="SPEC.yml -o DIR writes the bundle; `nnaccel sweep ACTION --help` describes an action")

    c = actions.add_parser("create", prog="nnaccel sweep", usage="nnaccel sweep SPEC.yml -o DIR [--force] [-q]",
                           help="(the default) write the bundle for SPEC.yml",
                           description="Expand SPEC.yml into design points, validate each like `nnaccel ip`, and "
                                       "write the bundle DIR (sweep.json, points.txt, one core per point). Nothing "
                                       "is written when a point is invalid. A bundle of the same sweep is kept "
                                       "with its results.")
    c.add_argument("spec", metavar="SPEC.yml", help="the sweep spec (docs/sweeps.md)")
    c.add_argument("-o", "--output", required=True, metavar="DIR", help="the bundle directory to write")
    c.add_argument("--force", action="store_true", help="replace DIR even if it holds another sweep's results, "
                                                        "or files nnaccel did not write")
    _quiet(c)
    c.set_defaults(func=_run_create, prog="nnaccel sweep")

    r = actions.add_parser("run-point", help="run one design point and write its result.json",
                           description="Run point INDEX of the bundle (csim: generate the IP and C-simulate it "
                                       "against hls4ml; setup/build: fusesoc run) and write points/<id>/result.json. "
                                       "Does nothing when that result says ok. Exit 1 when the point fails.")
    r.add_argument("dir", metavar="DIR", help="a bundle written by `nnaccel sweep SPEC -o DIR`")
    r.add_argument("--index", required=True, type=_index, metavar="I", help="the point's index in sweep.json")
    r.add_argument("--stage", choices=STAGES, help="what to run (default: the bundle's stage)")
    _quiet(r)
    r.set_defaults(func=_run_point, prog="nnaccel sweep run-point")

    s = actions.add_parser("submit", help="run the points that have no ok result through a backend",
                           description="Hand every point without an ok result to a backend; the default, local, "
                                       "is a process pool on this machine. A failing point does not stop the others. "
                                       "Exit 1 if any point failed.")
    s.add_argument("dir", metavar="DIR", help="a bundle written by `nnaccel sweep SPEC -o DIR`")
    s.add_argument("--backend", default="local", metavar="NAME",
                   help="local (default), or a scheduler backend (e.g. slurm, condor)")
    s.add_argument("--seats", type=_count, default=1, metavar="K",
                   help="licence seats: at most K points in the vendor-tool stage at once (default 1)")
    s.add_argument("--jobs", "-j", type=_count, metavar="J",
                   help="local backend: points run at once (default: the number of cores)")
    s.add_argument("--launcher", metavar="CMD",
                   help="EDALIZE_LAUNCHER for the points, e.g. the tool environment (module load, apptainer exec)")
    s.add_argument("--points", metavar="LIST", help="only these indices, e.g. 0,3,5-7")
    s.add_argument("--dry-run", action="store_true", help="show what would be submitted; run nothing")
    s.add_argument("--no-wait", action="store_true", help="return once submitted (local: a detached pool)")
    _quiet(s)
    s.set_defaults(func=_run_submit, prog="nnaccel sweep submit")

    k = actions.add_parser("collect", help="table (CSV, Markdown) and plot of the points' results",
                           description="Write results.csv, results.md and results.png (the figures per point; "
                                       "points without a result are listed as missing) into OUT.")
    k.add_argument("dir", metavar="DIR", help="a bundle written by `nnaccel sweep SPEC -o DIR`")
    k.add_argument("-o", "--output", metavar="OUT", help="directory for the three files (default: DIR); other files "
                                                         "there are left alone")
    _quiet(k)
    k.set_defaults(func=_run_collect, prog="nnaccel sweep collect")
