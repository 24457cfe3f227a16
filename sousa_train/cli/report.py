"""`sousa-train report`: the comparison grid of a matrix (or of given runs) as a table for a
paper, read by the same function as the console's matrix view (``compare.grid``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sousa_train.cli.common import add_manifest, add_runs_dir, fail
from sousa_train.compare.grid import FIGURE_KEYS, GridReader
from sousa_train.compare.tables import FORMATS, render
from sousa_train.config.manifest import load_manifest


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="a matrix of runs (models x strategies) as a table and a figure"
    )
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="runs to compare")
    parser.add_argument("--matrix", help="the manifest's [matrix.NAME] to report")
    add_manifest(parser)
    add_runs_dir(parser, "the runs folder (default: ./runs)")
    parser.add_argument("--format", choices=FORMATS, default="md", help="output (default md)")
    parser.add_argument(
        "--figure", choices=FIGURE_KEYS, default="test_bacc", help="the grid's figure"
    )
    parser.add_argument("--out", help="write the report to this file instead of stdout")
    parser.add_argument("--plot", metavar="F.png", help="also write the grid and cost figure")
    parser.set_defaults(func=report)


def report(args: argparse.Namespace) -> int:
    if bool(args.matrix) == bool(args.run_dirs):
        return fail("report: give --matrix NAME or one or more RUN_DIRs (not both).")
    reader = GridReader()
    if args.matrix:
        manifest = load_manifest(Path(args.manifest))
        grid = reader.matrix_grid(manifest, args.matrix, Path(args.runs_dir))
    else:
        missing = [d for d in args.run_dirs if not (Path(d) / "config.json").is_file()]
        if missing:
            return fail(f"report: {missing[0]} is not a run directory (it has no config.json).")
        grid = reader.runs_grid(Path(d) for d in args.run_dirs)
    text = render(grid, args.format, args.figure)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    if args.plot:
        from sousa_train.compare.plot import write_plot

        print(f"wrote {write_plot(grid, args.figure, Path(args.plot))}", file=sys.stderr)
    return 0
