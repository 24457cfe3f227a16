"""`sousa-train runs`: every run under the runs folder with its state and headline figures,
read by the same rules as the console (``rundir.scan`` finds them, ``RunSummary`` folds them)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sousa_train.cli.common import add_runs_dir
from sousa_train.cli.table import format_table, score
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.summary import RunInfo, RunSummary

HEADER = (
    "experiment",
    "run",
    "state",
    "step",
    "best val bal.acc",
    "test bal.acc",
    "model",
    "strategy",
    "data",
)
NUMBERS = range(3, 6)  # right-aligned: step and the two scores


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("runs", help="runs with their state and best metric")
    add_runs_dir(parser, "the runs folder (default: ./runs)")
    parser.set_defaults(func=list_runs)


def row(summary: RunSummary) -> tuple[str, ...]:
    """The table row of one run; a run that died before config.json shows ``-`` for its identity."""
    info = summary.info or RunInfo()
    return (
        summary.experiment,
        summary.run_id,
        summary.state,
        str(summary.step),
        score(summary.best_val_bacc),
        score(summary.test_bacc),
        info.model,
        info.strategy,
        info.data,
    )


def list_runs(args: argparse.Namespace) -> int:
    runs = find_runs(Path(args.runs_dir))
    if not runs:
        print(f"no runs under {args.runs_dir}")
        return 0
    for line in format_table(HEADER, [row(RunSummary.load(run)) for run in runs], NUMBERS):
        print(line)
    return 0
