"""`sousa-train sbatch`: a ready SLURM script for an experiment; `rundir.resume` picks where a
requeue resumes.

Lightning's SLURMEnvironment does the cluster work: it reads the ranks from srun's
variables and, on the pre-emption signal the script asks for (``--signal``), saves
``hpc_ckpt_N.ckpt`` in the run directory and requeues the job. SIGTERM follows, and our
GracefulStop saves ``last.ckpt``. The requeued job runs the same command, which resumes
the unfinished run from whichever of the two is newer.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from sousa_train.cli.common import add_manifest, add_overrides, add_platform, add_runs_dir
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


def sbatch_script(
    experiment: str,
    options: SbatchOptions,
    *,
    workdir: Path,
    venv: Path,
    manifest: Path,
    runs_dir: Path,
    overrides: list[str],
    platform: str | None = None,
) -> str:
    """A job script that trains ``experiment`` with one task per GPU on every node.

    Every variable it uses is assigned at its top (overridable from the environment of
    ``sbatch``), so the script runs as printed once the paths are right for the site.
    """
    head = [
        "#!/bin/bash",
        f"#SBATCH --job-name=sousa-{experiment}",
        f"#SBATCH --nodes={options.nodes}",
        f"#SBATCH --ntasks-per-node={options.gpus_per_node}",
        f"#SBATCH --gpus-per-node={options.gpus_per_node}",
        f"#SBATCH --cpus-per-task={options.cpus_per_task}",
        f"#SBATCH --time={options.time}",
        "# Lightning saves a checkpoint and requeues the job on this signal.",
        f"#SBATCH --signal=SIGUSR1@{SIGNAL_SECONDS}",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        "#SBATCH --output=slurm-%x-%j.out",
    ]
    if options.partition:
        head.append(f"#SBATCH --partition={options.partition}")
    if options.account:
        head.append(f"#SBATCH --account={options.account}")
    train = [
        f'"$SOUSA_VENV/bin/sousa-train" run {shlex.quote(experiment)}',
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
        "",
        'cd "$SOUSA_WORKDIR"',
        "# One task per GPU; Lightning reads the ranks from srun's SLURM_* variables.",
        "srun " + " \\\n    ".join(train),
        "",
    ]
    return "\n".join([*head, "", *body])


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sbatch", help="print a SLURM job script that trains an experiment"
    )
    parser.add_argument("experiment", help="experiment name from the manifest")
    add_overrides(parser, "as for `run`")
    add_manifest(parser)
    add_platform(parser)
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
    # Refuse a script that would fail on start.
    manifest.get(args.experiment, args.overrides, platform=args.platform)
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
            platform=args.platform,
        ),
        end="",
    )
    return 0
