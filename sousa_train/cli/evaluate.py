"""`sousa-train eval`: score a run's checkpoint on a split and write ``eval/<split>/``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sousa_train.cli.common import fail
from sousa_train.rundir.layout import RunDir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a run's checkpoint on a split")
    parser.add_argument("run_dir", help="a run directory, runs/<experiment>/<run_id>")
    parser.add_argument("--split", choices=("val", "test"), default="test")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best")
    parser.set_defaults(func=evaluate)


def evaluate(args: argparse.Namespace) -> int:
    from sousa_train.evaluate import EvalError, evaluate_run

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        report = evaluate_run(RunDir(Path(args.run_dir)), args.split, checkpoint=args.checkpoint)
    except EvalError as exc:
        return fail(exc)
    print(
        f"{args.split}: balanced accuracy {report['balanced_accuracy']:.4f}, accuracy "
        f"{report['accuracy']:.4f}, top-5 {report['top5_accuracy']:.4f}, macro F1 "
        f"{report['macro_f1']:.4f} ({report['num_clips']} clips)"
    )
    return 0
