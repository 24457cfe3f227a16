"""SLURM: a ready sbatch script for an experiment, or one job array for a whole matrix.

Lightning's SLURMEnvironment does the cluster work: it reads the ranks from srun's
variables and, on the pre-emption signal the script asks for (``--signal``), saves
``hpc_ckpt_N.ckpt`` in the run directory and requeues the job (an array task requeues
alone, as ``ARRAYJOB_TASK``). SIGTERM follows, and our GracefulStop saves ``last.ckpt``.
The requeued job runs the same command, which resumes the unfinished run from whichever of
the two is newer (`rundir.resume`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from sousa_train.cli.common import (
    add_manifest,
    add_overrides,
    add_platform,
    add_runs_dir,
    chosen_experiments,
)
from sousa_train.config.manifest import Manifest, ManifestError, load_manifest

# Seconds of warning before the time limit: enough to save a checkpoint of a large model.
SIGNAL_SECONDS = 120
# A sweep's study, as `sousa-train sweep` places it by default: beside the runs.
DEFAULT_STORAGE = "sqlite:///$SOUSA_RUNS_DIR/optuna.db"


@dataclass(frozen=True)
class SbatchOptions:
    """The cluster-side choices; everything else comes from the manifest."""

    nodes: int = 1
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    time: str = "24:00:00"
    partition: str | None = None
    account: str | None = None
    accelerator: str = "cuda"
    # A job array only: how many of its tasks may run at once (None: as many as SLURM allows).
    max_running: int | None = None


@dataclass(frozen=True)
class SweepJob:
    """A job array of ``tasks`` sweep processes on one study: each task claims trials until
    the study has all of them, so the tasks are the sweep's parallelism."""

    name: str
    tasks: int
    storage: str | None  # None: SQLite in the runs folder


def sbatch_script(
    experiments: list[str],
    options: SbatchOptions,
    *,
    workdir: Path,
    venv: Path,
    manifest: Path,
    runs_dir: Path,
    overrides: list[str],
    platform: str | None = None,
    array_name: str | None = None,
    sweep: SweepJob | None = None,
) -> str:
    """A job script that trains with one task per GPU on every node.

    One experiment makes a plain job; with ``array_name`` the script is a job array whose
    task i trains ``experiments[i]``. Every variable it uses is assigned at its top
    (overridable from the environment of ``sbatch``) or given by SLURM, so the script runs
    as printed once the paths are right for the site. With ``sweep`` every task of the array
    runs ``sousa-train sweep`` on the one storage.
    """
    job = sweep.name if sweep else array_name or experiments[0]
    head = [
        "#!/bin/bash",
        f"#SBATCH --job-name=sousa-{job}",
        f"#SBATCH --nodes={options.nodes}",
        f"#SBATCH --ntasks-per-node={options.gpus_per_node}",
        f"#SBATCH --gpus-per-node={options.gpus_per_node}",
        f"#SBATCH --cpus-per-task={options.cpus_per_task}",
        f"#SBATCH --time={options.time}",
        "# Lightning saves a checkpoint and requeues the job on this signal.",
        f"#SBATCH --signal=SIGUSR1@{SIGNAL_SECONDS}",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
    ]
    if array_name or sweep:
        cap = f"%{options.max_running}" if options.max_running else ""
        what = (
            f"sweep {sweep.name}'s trials, claimed from one study"
            if sweep
            else f"experiment of matrix {array_name}"
        )
        head += [
            f"# One task per {what}; %N caps how many run at once.",
            f"#SBATCH --array=0-{(sweep.tasks if sweep else len(experiments)) - 1}{cap}",
            "#SBATCH --output=slurm-%x-%A_%a.out",
        ]
    else:
        head.append("#SBATCH --output=slurm-%x-%j.out")
    if options.partition:
        head.append(f"#SBATCH --partition={options.partition}")
    if options.account:
        head.append(f"#SBATCH --account={options.account}")
    if array_name:
        pick = [
            f"# The experiments of matrix {array_name}, in the order of their array indices.",
            "SOUSA_EXPERIMENTS=(",
            *(f"    {shlex.quote(name)}" for name in experiments),
            ")",
            'SOUSA_EXPERIMENT="${SOUSA_EXPERIMENTS[${SLURM_ARRAY_TASK_ID:?not an array task}]}"',
        ]
        experiment = '"$SOUSA_EXPERIMENT"'
    else:
        pick, experiment = [], shlex.quote(experiments[0])
    common = [
        '--manifest "$SOUSA_MANIFEST"',
        '--runs-dir "$SOUSA_RUNS_DIR"',
        *([f"--platform {shlex.quote(platform)}"] if platform else []),
    ]
    if sweep:
        train = [
            f'"$SOUSA_VENV/bin/sousa-train" sweep {shlex.quote(sweep.name)}',
            '--storage "$SOUSA_STORAGE"',
            *common,
            shlex.quote(f'train.accelerator="{options.accelerator}"'),
            *(shlex.quote(o) for o in overrides),
        ]
        storage = [
            "# The Optuna study every task shares (SQLite on the shared filesystem by default;",
            "# for many tasks at once a database server's URL, e.g. postgresql://..., is safer).",
            f'SOUSA_STORAGE="${{SOUSA_STORAGE:-{sweep.storage or DEFAULT_STORAGE}}}"',
        ]
    else:
        train = [
            f'"$SOUSA_VENV/bin/sousa-train" run {experiment}',
            *common,
            f"--devices {options.gpus_per_node}",
            f"--num-nodes {options.nodes}",
            "--strategy ddp",
            f"--accelerator {options.accelerator}",
            *(shlex.quote(o) for o in overrides),
        ]
        storage = []
    body = [
        "set -euo pipefail",
        "",
        "# The Python environment with sousaphone installed (bash scripts/bootstrap.sh makes",
        "# .venv in the checkout), and the folder to work in; both on a shared filesystem.",
        f'SOUSA_VENV="${{SOUSA_VENV:-{venv}}}"',
        f'SOUSA_WORKDIR="${{SOUSA_WORKDIR:-{workdir}}}"',
        f'SOUSA_MANIFEST="${{SOUSA_MANIFEST:-{manifest}}}"',
        "# Run directories: every node must see the same folder (resume reads last.ckpt).",
        f'SOUSA_RUNS_DIR="${{SOUSA_RUNS_DIR:-{runs_dir}}}"',
        "# Demo data and decoded-audio cache, shared by the ranks.",
        'export SOUSA_CACHE_DIR="${SOUSA_CACHE_DIR:-$SOUSA_WORKDIR/.sousa-cache}"',
        "export PYTHONUNBUFFERED=1",
        *storage,
        *pick,
        "",
        'cd "$SOUSA_WORKDIR"',
        "# One process per GPU; Lightning reads the ranks from srun's SLURM_* variables.",
        "srun " + " \\\n    ".join(train),
        "",
    ]
    return "\n".join([*head, "", *body])


def register(subparsers: argparse._SubParsersAction) -> None:
    """`sousa-train sbatch`: print the script; `sbatch` it on the cluster."""
    parser = subparsers.add_parser(
        "sbatch", help="print a SLURM job script that trains an experiment (or a whole matrix)"
    )
    parser.add_argument("experiment", nargs="?", help="experiment name from the manifest")
    add_overrides(parser, "as for `run`")
    add_manifest(parser)
    add_platform(parser)
    parser.add_argument(
        "--matrix", metavar="NAME", help="one job array: task i trains experiment i of the matrix"
    )
    parser.add_argument(
        "--sweep", metavar="NAME", help="one job array whose tasks share a [sweeps.NAME] study"
    )
    parser.add_argument(
        "--array", type=int, metavar="N", help="with --sweep: how many tasks (trials at once)"
    )
    parser.add_argument("--storage", metavar="URL", help="with --sweep: the Optuna storage")
    parser.add_argument(
        "--max-running", type=int, metavar="M", help="array tasks running at once (%%M)"
    )
    add_runs_dir(parser, "run directories (shared filesystem)")
    parser.add_argument("--nodes", type=int, default=SbatchOptions.nodes)
    parser.add_argument("--gpus-per-node", type=int, default=SbatchOptions.gpus_per_node)
    parser.add_argument("--cpus-per-task", type=int, default=SbatchOptions.cpus_per_task)
    parser.add_argument("--time", default=SbatchOptions.time, help="job time limit, HH:MM:SS")
    parser.add_argument("--partition")
    parser.add_argument("--account")
    parser.add_argument(
        "--accelerator",
        default=SbatchOptions.accelerator,
        help="cuda on GPU nodes; cpu for a CPU-only rehearsal",
    )
    parser.set_defaults(func=sbatch)


def sbatch(args: argparse.Namespace) -> int:
    manifest = load_manifest(Path(args.manifest))
    sweep = _sweep_job(manifest, args) if args.sweep else None
    if sweep:
        experiments, overrides = [manifest.sweep(sweep.name).experiment], list(args.overrides)
    else:
        experiments, overrides = chosen_experiments(manifest, "sbatch", args)
    for name in experiments:  # refuse a script that would fail on start
        manifest.get(name, overrides, platform=args.platform)
    options = SbatchOptions(
        nodes=args.nodes,
        gpus_per_node=args.gpus_per_node,
        cpus_per_task=args.cpus_per_task,
        time=args.time,
        partition=args.partition,
        account=args.account,
        accelerator=args.accelerator,
        max_running=args.max_running,
    )
    print(
        sbatch_script(
            experiments,
            options,
            workdir=Path.cwd().resolve(),
            venv=Path(sys.prefix),
            manifest=manifest.path.resolve(),
            runs_dir=Path(args.runs_dir).resolve(),
            overrides=overrides,
            platform=args.platform,
            array_name=args.matrix,
            sweep=sweep,
        ),
        end="",
    )
    return 0


def _sweep_job(manifest: Manifest, args: argparse.Namespace) -> SweepJob:
    """``--sweep NAME --array N``: one process (one GPU) per task, so no multi-GPU layout."""
    manifest.sweep(args.sweep)
    if args.matrix or args.experiment:
        raise ManifestError("sbatch: give --sweep NAME alone, without an experiment or --matrix.")
    if args.array is None or args.array < 1:
        raise ManifestError("sbatch --sweep: give --array N, the number of tasks (N >= 1).")
    if args.nodes != 1 or args.gpus_per_node != 1:
        raise ManifestError(
            "sbatch --sweep: each task trains its trials in one process on one GPU; drop "
            "--nodes/--gpus-per-node and raise --array for more trials at once."
        )
    return SweepJob(args.sweep, args.array, args.storage)
