"""`sousa-train sweep`: run, continue, show or distil a ``[sweeps.NAME]`` hyperparameter search."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sousa_train.cli.common import add_manifest, add_overrides, add_platform, add_runs_dir, fail
from sousa_train.config.manifest import ManifestError, load_manifest


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep", help="run trials of a [sweeps.NAME] search (continues its study), or show it"
    )
    parser.add_argument("sweep", help="sweep name from the manifest")
    add_overrides(parser, "as for `run`, applied to every trial over its sampled values")
    add_manifest(parser)
    add_platform(parser)
    add_runs_dir(parser, "where trial run directories go, runs/<sweep>/<run_id> (default: ./runs)")
    parser.add_argument(
        "--trials", type=int, metavar="N", help="run at most N trials in this process"
    )
    parser.add_argument(
        "--storage", metavar="URL", help="Optuna storage (default: sqlite:///<runs dir>/optuna.db)"
    )
    show = parser.add_mutually_exclusive_group()
    show.add_argument(
        "--show", action="store_true", help="print the trials, the best one and importances"
    )
    show.add_argument(
        "--best", action="store_true", help="print the best trial as a manifest table to paste"
    )
    parser.add_argument("--json", action="store_true", help="with --show: one JSON document")
    parser.set_defaults(func=sweep)


def sweep(args: argparse.Namespace) -> int:
    from sousa_train.search.report import best_table, format_report, sweep_report
    from sousa_train.search.runner import run_trials
    from sousa_train.search.study import SweepError, default_storage, open_sweep

    manifest = load_manifest(Path(args.manifest))
    spec = manifest.sweep(args.sweep)
    if args.trials is not None and args.trials < 1:
        raise ManifestError(f"sweep: --trials is {args.trials}; give at least 1.")
    cfg = manifest.get(spec.experiment, args.overrides, platform=args.platform)
    if cfg.train.devices * cfg.train.num_nodes > 1:
        raise ManifestError(
            f"sweep {spec.name}: trials train in one process each; experiment "
            f"{spec.experiment!r} asks for {cfg.train.devices * cfg.train.num_nodes} (train.devices"
            " x train.num_nodes). Run several sweep processes instead (or --array with sbatch)."
        )
    storage = args.storage or default_storage(Path(args.runs_dir))
    try:
        if args.show or args.best:
            opened = open_sweep(spec, storage, Path(args.runs_dir), create=False)
            if args.best:
                table = best_table(manifest, opened)
                if not table:
                    return fail(f"sweep {spec.name}: no trial has completed yet.")
                print(table, end="")
                return 0
            report = sweep_report(opened)
            print(json.dumps(report) if args.json else format_report(report))
            return 0
        opened = open_sweep(spec, storage, Path(args.runs_dir))
    except SweepError as exc:
        return fail(exc)
    return run_trials(
        manifest,
        opened,
        runs_dir=Path(args.runs_dir),
        max_trials=args.trials,
        overrides=args.overrides,
        platform=args.platform,
    )
