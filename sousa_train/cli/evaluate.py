"""`sousa-train eval`: score a run's checkpoint on its own data set or another manifest one."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sousa_train.cli.common import add_manifest, fail
from sousa_train.config.manifest import ManifestError, load_manifest


def register(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser(
        "eval", help="evaluate a run's checkpoint on a split (of its data set or another)"
    )
    ev.add_argument("run_dir", help="a run directory, runs/<experiment>/<run_id>")
    ev.add_argument("--split", choices=("val", "test"), default="test")
    ev.add_argument("--checkpoint", choices=("best", "last"), default="best")
    ev.add_argument(
        "--data",
        metavar="NAME",
        help="a data set of the manifest to score instead of the run's own; results go to "
        "eval/<NAME>-<split>/",
    )
    add_manifest(ev)
    ev.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from sousa_train.data.reader import DatasetError
    from sousa_train.evaluate import EvalError, evaluate_run
    from sousa_train.rundir.layout import RunDir

    spec = None
    if args.data is not None:
        manifest = load_manifest(Path(args.manifest))
        if args.data not in manifest.datasets:
            known = ", ".join(manifest.datasets) or "(none)"
            raise ManifestError(
                f"{manifest.path}: no data set named {args.data!r} for --data. Data sets in "
                f"this manifest: {known}."
            )
        spec = manifest.datasets[args.data]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        report = evaluate_run(
            RunDir(Path(args.run_dir)), args.split, checkpoint=args.checkpoint, data=spec
        )
    except (EvalError, DatasetError) as exc:
        return fail(exc)
    print(
        f"{report['data']} {args.split}: balanced accuracy {report['balanced_accuracy']:.4f}, "
        f"accuracy {report['accuracy']:.4f}, top-5 {report['top5_accuracy']:.4f}, macro F1 "
        f"{report['macro_f1']:.4f} ({report['num_clips']} clips)"
    )
    return 0
