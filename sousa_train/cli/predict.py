"""`sousa-train predict`: the rudiments a run's model hears in recordings, for people or tools."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sousa_train.predict import FilePrediction, Guess


def register(subparsers: Any) -> None:
    pr = subparsers.add_parser(
        "predict", help="the top 5 rudiments in WAV/FLAC recordings (and over time if long)"
    )
    pr.add_argument("run_dir", help="a run directory, runs/<experiment>/<run_id>")
    pr.add_argument("files", nargs="+", metavar="FILE", help="WAV or FLAC, any rate and length")
    pr.add_argument("--json", action="store_true", help="print one JSON document")
    pr.add_argument(
        "--window-seconds",
        type=float,
        metavar="W",
        help="length of the timeline's windows for long files (default: the run's clip_seconds)",
    )
    pr.add_argument("--checkpoint", choices=("best", "last"), default="best")
    pr.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    from sousa_train.data.audio import AudioError
    from sousa_train.evaluate import EvalError
    from sousa_train.predict import Predictor
    from sousa_train.rundir.layout import RunDir

    if args.window_seconds is not None and args.window_seconds <= 0:
        print(
            f"sousa-train: --window-seconds must be positive, got {args.window_seconds:g}.",
            file=sys.stderr,
        )
        return 1
    run = RunDir(Path(args.run_dir))
    try:
        predictor = Predictor(run, checkpoint=args.checkpoint, window_seconds=args.window_seconds)
    except EvalError as exc:
        print(f"sousa-train: {exc}", file=sys.stderr)
        return 1
    results: list[FilePrediction] = []
    errors: list[dict[str, str]] = []
    started = time.perf_counter()
    for name in args.files:
        try:
            result = predictor.predict(Path(name))
        except AudioError as exc:
            print(f"sousa-train: {exc.path}: {exc.reason.rstrip('.')}; skipped.", file=sys.stderr)
            errors.append({"path": name, "error": exc.reason})
            continue
        results.append(result)
        if not args.json:
            print(_text(result, predictor.window_seconds), flush=True)
    if args.json:
        doc = {
            "run": str(run.root),
            "checkpoint": str(predictor.checkpoint.relative_to(run.root)),
            "model": predictor.name,
            "sample_rate": predictor.sample_rate,
            "window_seconds": predictor.window_seconds,
            "hop_seconds": predictor.hop_seconds,
            "elapsed_seconds": time.perf_counter() - started,
            "files": [r.to_dict() for r in results],
            "errors": errors,
        }
        print(json.dumps(doc, indent=2))
    return 1 if errors else 0


def _text(result: FilePrediction, window_seconds: float) -> str:
    lines = [f"{result.path}  ({result.seconds:.1f} s)"]
    lines += [f"  {i}. {_guess(g, 34)}" for i, g in enumerate(result.top, 1)]
    if result.windows:
        lines.append(f"  over time ({window_seconds:g} s windows):")
        lines += [
            f"    {w.start:7.1f} -{w.end:7.1f} s  " + ", ".join(_guess(g) for g in w.top)
            for w in result.windows
        ]
    return "\n".join(lines)


def _guess(guess: Guess, width: int = 0) -> str:
    return f"{guess.name:<{width}} {guess.probability:6.1%}"
