"""`sousa-train weights`: each variant's official weights, where they come from, whether they
are here; `weights fetch NAME|--all` downloads them."""

from __future__ import annotations

import argparse
import sys

from sousa_train.models.pretrained import OFFICIAL, official_by_name


def _cmd_list(args: argparse.Namespace) -> int:
    from sousa_train.models.download import weights_dir, weights_presence

    rows = [(w.name, w.pretrained, weights_presence(w), w.origin or w.source) for w in OFFICIAL]
    header = ("variant", "pretrained", "state", "from")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[3]]))
    print(f"weights folder: {weights_dir()} (hub ids: the Hugging Face cache)")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from sousa_train.models.download import WeightsError, download_url, fetch

    if args.all == bool(args.name):
        print(
            "sousa-train: weights fetch takes one NAME (e.g. efficientat/mn10) or --all",
            file=sys.stderr,
        )
        return 1
    if args.all:
        wanted = [w for w in OFFICIAL if w.hub_id or download_url(w)]
        for w in OFFICIAL:
            if w not in wanted:
                print(f"note: {w.name} is not downloadable by program: `weights fetch {w.name}`")
    else:
        found = official_by_name(args.name)
        if found is None:
            names = ", ".join(w.name for w in OFFICIAL)
            print(
                f"sousa-train: no official weights are called {args.name!r}; choose one of: "
                f"{names}",
                file=sys.stderr,
            )
            return 1
        wanted = [found]
    failed = 0
    for w in wanted:
        try:
            print(fetch(w), flush=True)
        except WeightsError as exc:
            print(f"sousa-train: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    weights = subparsers.add_parser(
        "weights", help="official pretrained weights: where from, whether here; fetch them"
    )
    weights.set_defaults(func=_cmd_list)
    sub = weights.add_subparsers(dest="weights_command", metavar="COMMAND")
    fetch = sub.add_parser("fetch", help="download official weights (resumable, sha256-checked)")
    fetch.add_argument("name", nargs="?", help="model/variant, e.g. efficientat/mn10")
    fetch.add_argument("--all", action="store_true", help="every downloadable variant")
    fetch.set_defaults(func=_cmd_fetch)
