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
from sousa_train.config.manifest import load_manifest

# Seconds of warning before the time limit: enough to save a checkpoint of a large model.
SIGNAL_SECONDS = 120


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
) -> str:
    """A job script that trains with one task per GPU on every node.

    One experiment makes a plain job; with ``array_name`` the script is a job array whose
    task i trains ``experiments[i]``. Every variable it uses is assigned at its top
    (overridable from the environment of ``sbatch``) or given by SLURM, so the script runs
    as printed once the paths are right for the site.
    """
    job = array_name or experiments[0]
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
    if array_name:
        cap = f"%{options.max_running}" if options.max_running else ""
        head += [
            f"# One task per experiment of matrix {array_name}; %N caps how many run at once.",
            f"#SBATCH --array=0-{len(experiments) - 1}{cap}",
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
    train = [
        f'"$SOUSA_VENV/bin/sousa-train" run {experiment}',
        '--manifest "$SOUSA_MANIFEST"',
        '--runs-dir "$SOUSA_RUNS_DIR"',
        f"--devices {options.gpus_per_node}",
        f"--num-nodes {options.nodes}",
        "--strategy ddp",
        f"--accelerator {options.accelerator}",
        *([f"--platform {shlex.quote(platform)}"] if platform else []),
        *(shlex.quote(o) for o in overrides),
    ]
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
        *pick,
        "",
        'cd "$SOUSA_WORKDIR"',
        "# One task per GPU; Lightning reads the ranks from srun's SLURM_* variables.",
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
        ),
        end="",
    )
    return 0
