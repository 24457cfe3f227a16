"""`sousa-train`: the headless entry point. Heavy libraries load only inside commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from sousa_train.data.demo import run_demo_data

    return run_demo_data(
        Path(args.out),
        clips_per_rudiment=args.clips_per_rudiment,
        seed=args.seed,
        sample_rate=args.sample_rate,
    )


def _cmd_data_check(args: argparse.Namespace) -> int:
    from sousa_train.data.check import run_check

    return run_check(Path(args.path))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sousa-train",
        description="Train and evaluate drum-rudiment classifiers on SOUSA-format data.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo-data", help="render the built-in demo data set (SOUSA layout)")
    demo.add_argument("--out", required=True, help="folder to write the data set into")
    demo.add_argument("--clips-per-rudiment", type=int, default=20)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--sample-rate", type=int, default=16000)
    demo.set_defaults(func=_cmd_demo_data)

    data = sub.add_parser("data", help="data set tools")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    check = data_sub.add_parser("check", help="validate a data set and print a summary")
    check.add_argument("path", help="data set root (SOUSA layout or metadata.csv)")
    check.set_defaults(func=_cmd_data_check)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
