"""`sousa-train demo-data` and `sousa-train data check`: make and validate data sets."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo-data", help="render the built-in demo data set (SOUSA layout)"
    )
    demo.add_argument("--out", required=True, help="folder to write the data set into")
    demo.add_argument("--clips-per-rudiment", type=int, default=20)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--sample-rate", type=int, default=16000)
    demo.set_defaults(func=demo_data)

    data = subparsers.add_parser("data", help="data set tools")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    check = data_sub.add_parser("check", help="validate a data set and print a summary")
    check.add_argument(
        "path", help="data set root (generator layout, Hub Parquet layout or metadata.csv)"
    )
    check.set_defaults(func=data_check)


def demo_data(args: argparse.Namespace) -> int:
    from sousa_train.data.demo.render import run_demo_data

    return run_demo_data(
        Path(args.out),
        clips_per_rudiment=args.clips_per_rudiment,
        seed=args.seed,
        sample_rate=args.sample_rate,
    )


def data_check(args: argparse.Namespace) -> int:
    from sousa_train.data.check import check_dataset, print_report

    return print_report(check_dataset(Path(args.path)))
