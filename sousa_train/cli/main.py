"""`sousa-train`: assembles one parser from the command modules and dispatches.

Each command lives in its own module with a ``register(subparsers)`` that adds its parser and
sets ``func``; heavy libraries load only inside the command that needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sousa_train.cli import (
    data,
    evaluate,
    experiments,
    export,
    hf_job,
    models,
    predict,
    pull,
    report,
    run,
    runs,
    sbatch,
    sweep,
    weights,
)
from sousa_train.cli.common import PROG, fail
from sousa_train.config.manifest import ManifestError

EXIT_USAGE = 2
COMMANDS = (
    experiments,
    run,
    sweep,
    evaluate,
    predict,
    export,
    sbatch,
    hf_job,
    pull,
    runs,
    report,
    models,
    weights,
    data,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train and evaluate drum-rudiment classifiers on SOUSA-format data.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def _reader_gone() -> int:
    """The reader of our output left (``| head``, ``| grep -q``): that is not an error.

    As the Python docs advise (signal module, "Note on SIGPIPE"), point stdout at devnull so
    the interpreter's last flush at exit finds nowhere to fail, and end quietly.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Overrides may follow options (`run smoke --fresh a.b=1`); argparse leaves those over.
    takes_overrides = hasattr(args, "overrides")
    if takes_overrides and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
    except BrokenPipeError:
        return _reader_gone()
    except ManifestError as exc:
        fail(exc)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
