"""`sousa-train models`: the parameter table of every model x strategy, or ``--check`` to run
one training step of each (the counting and checking live in ``models.inventory``)."""

from __future__ import annotations

import argparse

from sousa_train.cli.table import format_table

HEADER = ("model", "variant", "strategy", "total", "trainable", "of it head", "share")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="every model x strategy with total and trainable parameters"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="run one forward and backward step of each combination (tiny configurations)",
    )
    parser.set_defaults(func=models)


def models(args: argparse.Namespace) -> int:
    return print_check() if args.check else print_table()


def print_table() -> int:
    from sousa_train.models.inventory import notes, parameter_table

    rows = [
        (
            r.model,
            r.variant,
            r.strategy,
            f"{r.total:,}",
            f"{r.trainable:,}",
            f"{r.head:,}",
            f"{100 * r.share:.1f}%",
        )
        for r in parameter_table()
    ]
    for line in [*format_table(HEADER, rows, right=range(3, 7)), *notes()]:
        print(line)
    return 0


def print_check() -> int:
    from sousa_train.models.inventory import check_combinations, combinations, notes

    # Results print as they come, so the columns are sized from the names up front.
    model_w, strategy_w = (max(map(len, names)) for names in zip(*combinations(), strict=True))
    results = []
    for result in check_combinations():
        results.append(result)
        status = "FAIL" if result.error else "ok  "
        detail = result.error or f"trainable {result.trainable:,} of {result.total:,}"
        print(
            f"{status} {result.model:<{model_w}}  {result.strategy:<{strategy_w}}  "
            f"{result.seconds:5.1f} s  {detail}",
            flush=True,
        )
    for note in notes():
        print(note)
    passed = sum(r.error is None for r in results)
    print(f"{passed} of {len(results)} combinations passed")
    return 0 if passed == len(results) else 1
