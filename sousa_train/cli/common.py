"""What several commands share: the manifest, overrides and runs-folder arguments, and the
one error line every command prints, so each is written once."""

from __future__ import annotations

import argparse
import sys

from sousa_train.config.manifest import DEFAULT_MANIFEST, Manifest, ManifestError

PROG = "sousa-train"


def add_manifest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest",
        default=str(DEFAULT_MANIFEST),
        help="experiment manifest (default: ./experiments.toml)",
    )


def add_overrides(parser: argparse.ArgumentParser, help: str) -> None:
    """``key=value`` settings after the experiment; main.py also collects those that follow
    options (``run smoke --fresh a.b=1``)."""
    parser.add_argument("overrides", nargs="*", metavar="key=value", help=help)


def add_platform(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform",
        help="apply the manifest's [platforms.NAME] machine overrides (batch, workers, ...)",
    )


def add_runs_dir(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--runs-dir", default="runs", help=help)


def fail(message: object) -> int:
    """Print the one-paragraph error as ``sousa-train: ...`` on stderr; the exit code 1."""
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def chosen_experiments(
    manifest: Manifest, command: str, args: argparse.Namespace
) -> tuple[list[str], list[str]]:
    """The experiments ``NAME`` or ``--matrix M`` names, and the overrides (with --matrix the
    first positional is an override too, since no experiment name is given)."""
    overrides = list(args.overrides)
    if args.matrix:
        if args.experiment is not None:
            if "=" not in args.experiment:
                raise ManifestError(
                    f"{command}: give an experiment or --matrix {args.matrix}, not both "
                    f"({args.experiment!r})."
                )
            overrides.insert(0, args.experiment)
        return manifest.matrix(args.matrix), overrides
    if args.experiment is None:
        raise ManifestError(f"{command}: name an experiment, or a matrix with --matrix NAME.")
    return [args.experiment], overrides
