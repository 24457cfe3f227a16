"""`sousa-train run`: train an experiment, resuming its unfinished latest run."""

from __future__ import annotations

import argparse
from pathlib import Path

from sousa_train.cli.common import add_manifest, add_overrides, add_platform, add_runs_dir, fail
from sousa_train.config.manifest import load_manifest


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="train an experiment (resumes its unfinished latest run)"
    )
    parser.add_argument("experiment", help="experiment name from the manifest")
    add_overrides(parser, "override a setting, e.g. train.max_epochs=5 loader.batch_size=16")
    add_manifest(parser)
    add_platform(parser)
    add_runs_dir(parser, "where run directories go (default: ./runs)")
    parser.add_argument(
        "--fresh", action="store_true", help="start a new run even if one is unfinished"
    )
    parser.add_argument("--devices", type=int, help="processes (GPUs) per node (train.devices)")
    parser.add_argument("--num-nodes", type=int, help="machines in the run (train.num_nodes)")
    parser.add_argument(
        "--strategy", help="Lightning parallel strategy, e.g. ddp (train.parallel_strategy)"
    )
    parser.add_argument("--accelerator", help="cpu, cuda, mps or auto (train.accelerator)")
    parser.add_argument("--sync-to", metavar="URL", help="mirror the run live to an fsspec URL")
    parser.set_defaults(func=run)


def placement_overrides(args: argparse.Namespace) -> list[str]:
    """--devices/--num-nodes/--strategy/--accelerator are train.* overrides, so the run's
    config.json records where it ran and a resume must use the same layout."""
    flags = {
        "devices": args.devices,
        "num_nodes": args.num_nodes,
        "parallel_strategy": args.strategy,
        "accelerator": args.accelerator,
    }
    return [
        f"train.{key}={value}" if isinstance(value, int) else f'train.{key}="{value}"'
        for key, value in flags.items()
        if value is not None
    ]


def run(args: argparse.Namespace) -> int:
    from sousa_train.rundir.sync import SyncError, open_target
    from sousa_train.training.run import RunBusyError, run_experiment

    manifest = load_manifest(Path(args.manifest))
    cfg = manifest.get(
        args.experiment, [*args.overrides, *placement_overrides(args)], platform=args.platform
    )
    try:
        if args.sync_to:
            open_target(args.sync_to)  # a bad target stops here, before any training
        return run_experiment(
            cfg,
            runs_dir=Path(args.runs_dir),
            manifest=manifest.path,
            fresh=args.fresh,
            sync_to=args.sync_to,
        )
    except (RunBusyError, SyncError) as exc:
        return fail(exc)
