"""`sousa-train`: the headless entry point. Heavy libraries load only inside commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sousa_train.cli import evaluate, predict
from sousa_train.config.manifest import DEFAULT_MANIFEST, ManifestError, load_manifest

EXIT_USAGE = 2


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from sousa_train.data.demo.render import run_demo_data

    return run_demo_data(
        Path(args.out),
        clips_per_rudiment=args.clips_per_rudiment,
        seed=args.seed,
        sample_rate=args.sample_rate,
    )


def _cmd_data_check(args: argparse.Namespace) -> int:
    from sousa_train.data.check import run_check

    return run_check(Path(args.path))


def _cmd_list(args: argparse.Namespace) -> int:
    manifest = load_manifest(Path(args.manifest))
    width = max(len(n) for n in manifest.names())
    for name, cfg in manifest.experiments.items():
        data = (
            cfg.data.path
            or f"demo ({cfg.data.demo.clips_per_rudiment if cfg.data.demo else '?'}/rudiment)"
        )
        print(
            f"{name:<{width}}  {cfg.model}/{cfg.variant:<6} {cfg.strategy:<14} "
            f"{cfg.data.name}: {data}" + (f"  - {cfg.description}" if cfg.description else "")
        )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from sousa_train.training.run import RunBusyError, run_experiment

    manifest = load_manifest(Path(args.manifest))
    cfg = manifest.get(args.experiment, [*args.overrides, *_placement_overrides(args)])
    try:
        return run_experiment(
            cfg, runs_dir=Path(args.runs_dir), manifest=manifest.path, fresh=args.fresh
        )
    except RunBusyError as exc:
        print(f"sousa-train: {exc}", file=sys.stderr)
        return 1


def _placement_overrides(args: argparse.Namespace) -> list[str]:
    """--devices/--num-nodes/--strategy/--accelerator are train.* overrides, so the run's
    config.json records where it ran and a resume must use the same layout."""
    flags = {
        "devices": args.devices,
        "num_nodes": args.num_nodes,
        "parallel_strategy": args.strategy,
        "accelerator": args.accelerator,
    }
    return [
        f"train.{key}={value}" if isinstance(value, int) else f'train.{key}="{value}"'
        for key, value in flags.items()
        if value is not None
    ]


def _cmd_export(args: argparse.Namespace) -> int:
    import logging

    from sousa_train.evaluate import EvalError
    from sousa_train.export import ExportError, export_onnx
    from sousa_train.rundir.layout import RunDir

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        report = export_onnx(
            RunDir(Path(args.run_dir)),
            Path(args.onnx),
            merge=args.merge_adapters,
            checkpoint=args.checkpoint,
        )
    except (EvalError, ExportError) as exc:
        print(f"sousa-train: {exc}", file=sys.stderr)
        return 1
    merged = f", {report.merged_layers} adapter layers merged" if report.merged_layers else ""
    batch = "any batch size" if report.dynamic_batch else "batch size 1"
    print(
        f"wrote {report.path} ({batch}{merged}); onnxruntime vs PyTorch on "
        f"{report.windows} windows of {report.clips} test clips: "
        f"max abs diff {report.max_abs_diff:.3g}"
    )
    if report.max_abs_diff > args.atol:
        print(
            f"sousa-train: {report.path}: outputs differ from PyTorch by "
            f"{report.max_abs_diff:.3g}, more than --atol {args.atol:g}; do not deploy this "
            "file. Re-export with a newer torch/onnxscript, or raise --atol if you accept it.",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_sbatch(args: argparse.Namespace) -> int:
    from sousa_train.cli.sbatch import SbatchOptions, sbatch_script

    manifest = load_manifest(Path(args.manifest))
    manifest.get(args.experiment, args.overrides)  # refuse a script that would fail on start
    options = SbatchOptions(
        nodes=args.nodes,
        gpus_per_node=args.gpus_per_node,
        cpus_per_task=args.cpus_per_task,
        time=args.time,
        partition=args.partition,
        account=args.account,
        accelerator=args.accelerator,
    )
    print(
        sbatch_script(
            args.experiment,
            options,
            workdir=Path.cwd().resolve(),
            venv=Path(sys.prefix),
            manifest=manifest.path.resolve(),
            runs_dir=Path(args.runs_dir).resolve(),
            overrides=args.overrides,
        ),
        end="",
    )
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from sousa_train.rundir.scan import find_runs
    from sousa_train.rundir.status import effective_state
    from sousa_train.rundir.tail import iter_events

    runs = find_runs(Path(args.runs_dir))
    if not runs:
        print(f"no runs under {args.runs_dir}")
        return 0
    print(
        f"{'experiment':<24} {'run':<22} {'state':<9} {'step':>7} "
        f"{'best val bal.acc':>16} {'test bal.acc':>12}"
    )
    for run in runs:
        best, test, step = None, None, 0
        for event in iter_events(run.events):
            step = event.get("step", step)
            value = event.get("val/balanced_accuracy")
            if value is not None and (best is None or value > best):
                best = value
            if event.get("kind") == "eval" and event.get("split") == "test":
                test = event.get("balanced_accuracy")
        print(
            f"{run.root.parent.name:<24} {run.run_id:<22} {effective_state(run):<9} {step:>7} "
            f"{_fmt(best):>16} {_fmt(test):>12}"
        )
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from sousa_train.cli.models import print_table, run_check

    return run_check() if args.check else print_table()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sousa-train",
        description="Train and evaluate drum-rudiment classifiers on SOUSA-format data.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def manifest_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--manifest",
            default=str(DEFAULT_MANIFEST),
            help="experiment manifest (default: ./experiments.toml)",
        )

    lst = sub.add_parser("list", help="experiments in the manifest")
    manifest_arg(lst)
    lst.set_defaults(func=_cmd_list)

    run = sub.add_parser("run", help="train an experiment (resumes its unfinished latest run)")
    run.add_argument("experiment", help="experiment name from the manifest")
    run.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="override a setting, e.g. train.max_epochs=5 loader.batch_size=16",
    )
    manifest_arg(run)
    run.add_argument(
        "--runs-dir", default="runs", help="where run directories go (default: ./runs)"
    )
    run.add_argument(
        "--fresh", action="store_true", help="start a new run even if one is unfinished"
    )
    run.add_argument("--devices", type=int, help="processes (GPUs) per node (train.devices)")
    run.add_argument("--num-nodes", type=int, help="machines in the run (train.num_nodes)")
    run.add_argument(
        "--strategy", help="Lightning parallel strategy, e.g. ddp (train.parallel_strategy)"
    )
    run.add_argument("--accelerator", help="cpu, cuda, mps or auto (train.accelerator)")
    run.set_defaults(func=_cmd_run)

    evaluate.register(sub)
    predict.register(sub)

    export = sub.add_parser(
        "export", help="write a run's checkpoint as ONNX (frontend included) and check it"
    )
    export.add_argument("run_dir", help="a run directory, runs/<experiment>/<run_id>")
    export.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    export.add_argument(
        "--merge-adapters", action="store_true", help="merge LoRA/peft adapters first"
    )
    export.add_argument("--checkpoint", choices=("best", "last"), default="best")
    export.add_argument(
        "--atol",
        type=float,
        default=1e-4,
        help="largest accepted |ONNX - PyTorch| score difference (default 1e-4)",
    )
    export.set_defaults(func=_cmd_export)

    sbatch = sub.add_parser("sbatch", help="print a SLURM job script that trains an experiment")
    sbatch.add_argument("experiment", help="experiment name from the manifest")
    sbatch.add_argument("overrides", nargs="*", metavar="key=value", help="as for `run`")
    manifest_arg(sbatch)
    sbatch.add_argument("--runs-dir", default="runs", help="run directories (shared filesystem)")
    sbatch.add_argument("--nodes", type=int, default=1)
    sbatch.add_argument("--gpus-per-node", type=int, default=1)
    sbatch.add_argument("--cpus-per-task", type=int, default=8)
    sbatch.add_argument("--time", default="24:00:00", help="job time limit, HH:MM:SS")
    sbatch.add_argument("--partition")
    sbatch.add_argument("--account")
    sbatch.add_argument(
        "--accelerator", default="cuda", help="cuda on GPU nodes; cpu for a CPU-only rehearsal"
    )
    sbatch.set_defaults(func=_cmd_sbatch)

    runs = sub.add_parser("runs", help="runs with their state and best metric")
    runs.add_argument("--runs-dir", default="runs")
    runs.set_defaults(func=_cmd_runs)

    models = sub.add_parser(
        "models", help="every model x strategy with total and trainable parameters"
    )
    models.add_argument(
        "--check",
        action="store_true",
        help="run one forward and backward step of each combination (tiny configurations)",
    )
    models.set_defaults(func=_cmd_models)

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
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Overrides may follow options (`run smoke --fresh a.b=1`); argparse leaves those over.
    if args.command in ("run", "sbatch") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args))
    except ManifestError as exc:
        print(f"sousa-train: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
