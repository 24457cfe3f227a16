"""`sousa-train list`: the experiments of the manifest, one line each, then its sweeps."""

from __future__ import annotations

import argparse
from pathlib import Path

from sousa_train.cli.common import add_manifest
from sousa_train.cli.table import format_table
from sousa_train.config.manifest import load_manifest
from sousa_train.config.settings import ExperimentConfig

HEADER = ("experiment", "model", "strategy", "data", "description")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="experiments in the manifest")
    add_manifest(parser)
    parser.set_defaults(func=list_experiments)


def _model(cfg: ExperimentConfig) -> str:
    return cfg.model + (f"/{cfg.variant}" if cfg.variant else "")


def _data(cfg: ExperimentConfig) -> str:
    mix = f" + {cfg.mix.data.name} at share {cfg.mix.share:g}" if cfg.mix else ""
    return f"{cfg.data.name}: {cfg.data.where}{mix}"


def list_experiments(args: argparse.Namespace) -> int:
    manifest = load_manifest(Path(args.manifest))
    rows = [
        (name, _model(cfg), cfg.strategy, _data(cfg), cfg.description)
        for name, cfg in manifest.experiments.items()
    ]
    for name, spec in manifest.sweeps.items():
        cfg = manifest.experiments[spec.experiment]
        keys = ", ".join(d.key for d in spec.space)
        about = f"sweep of {spec.experiment}: {spec.trials} trials over {keys}"
        rows.append((name, _model(cfg), cfg.strategy, _data(cfg), about))
    for line in format_table(HEADER, rows):
        print(line)
    return 0
