"""`sousa-train export`: a run's checkpoint as ONNX, checked against PyTorch."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sousa_train.cli.common import fail
from sousa_train.rundir.layout import RunDir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write a run's checkpoint as ONNX (frontend included) and check it"
    )
    parser.add_argument("run_dir", help="a run directory, runs/<experiment>/<run_id>")
    parser.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    parser.add_argument(
        "--merge-adapters", action="store_true", help="merge LoRA/peft adapters first"
    )
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best")
    parser.add_argument(
        "--atol",
        type=float,
        default=1e-4,
        help="largest accepted |ONNX - PyTorch| score difference (default 1e-4)",
    )
    parser.set_defaults(func=export)


def export(args: argparse.Namespace) -> int:
    from sousa_train.evaluate import EvalError
    from sousa_train.export import ExportError, export_onnx

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        report = export_onnx(
            RunDir(Path(args.run_dir)),
            Path(args.onnx),
            merge=args.merge_adapters,
            checkpoint=args.checkpoint,
        )
    except (EvalError, ExportError) as exc:
        return fail(exc)
    merged = f", {report.merged_layers} adapter layers merged" if report.merged_layers else ""
    batch = "any batch size" if report.dynamic_batch else "batch size 1"
    print(
        f"wrote {report.path} ({batch}{merged}); onnxruntime vs PyTorch on "
        f"{report.windows} windows of {report.clips} test clips: "
        f"max abs diff {report.max_abs_diff:.3g}"
    )
    if report.max_abs_diff > args.atol:
        return fail(
            f"{report.path}: outputs differ from PyTorch by {report.max_abs_diff:.3g}, more "
            f"than --atol {args.atol:g}; do not deploy this file. Re-export with a newer "
            "torch/onnxscript, or raise --atol if you accept it."
        )
    return 0
