"""`sousa-train pull URL [DIR]`: runs mirrored with --sync-to, brought home incrementally."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_pull(args: argparse.Namespace) -> int:
    from sousa_train.rundir.sync import SyncError, pull

    try:
        fetched = pull(args.url, Path(args.dir))
    except (SyncError, OSError) as exc:
        print(f"sousa-train: {exc}", file=sys.stderr)
        return 1
    runs = sorted({"/".join(rel.split("/")[:2]) for rel in fetched})
    print(f"{len(fetched)} changed file(s) from {args.url} into {args.dir}")
    for run in runs:
        print(f"  {run}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    pull = sub.add_parser(
        "pull", help="bring runs synced with --sync-to home (only files that changed)"
    )
    pull.add_argument("url", help="the --sync-to URL the runs were mirrored to")
    pull.add_argument("dir", nargs="?", default="runs", help="local runs folder (default ./runs)")
    pull.set_defaults(func=_cmd_pull)
