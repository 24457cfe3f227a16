"""`sousa-train hf-job` / `hf-jobs`: experiments on Hugging Face Jobs, mirrored to the Hub.

A job clones the project at this checkout's commit, installs it, and runs the same
`sousa-train run` a person would, with ``--sync-to`` so the run directory appears on the
Hub while it trains (`sousa-train pull` / `sousa-tui --follow` bring it home). The token
travels as the secret HF_TOKEN: it is never printed, never in the command line, and so
never in a run directory's config.json.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sousa_train.cli.common import add_manifest, add_overrides, chosen_experiments
from sousa_train.config.manifest import load_manifest
from sousa_train.config.settings import ExperimentConfig
from sousa_train.models.pretrained import official_weights

# The torch the project pins (pyproject.toml) on the CUDA it was built for; devel images
# carry git, which the job needs to fetch the project.
IMAGE = "pytorch/pytorch:2.14.1-cuda13.0-cudnn9-devel"
FLUIDSYNTH = (
    "{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
    " --no-install-recommends libfluidsynth3; }"
    " >/dev/null 2>&1 || echo 'libfluidsynth3 not installed: demo data sets will not render' >&2"
)
"""The demo renderer's system library (the image lacks it); a job on Hub data runs without."""
FLAVOR = "a10g-small"
TIMEOUT = "8h"
# Every job this command submits carries this label, so `hf-jobs` lists ours alone.
LABEL = "sousaphone"
SECRETS = ("HF_TOKEN",)


class JobError(ValueError):
    """Why a job cannot be submitted, phrased for the person submitting it."""


@dataclass(frozen=True)
class JobSpec:
    """One job exactly as `run_job` receives it (secret values are added only on submit)."""

    experiment: str
    image: str
    flavor: str
    timeout: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [
            f"experiment: {self.experiment}",
            f"image:      {self.image}",
            f"flavor:     {self.flavor}",
            f"timeout:    {self.timeout}",
            f"secrets:    {', '.join(SECRETS)} (values not shown)",
            f"env:        {' '.join(f'{k}={v}' for k, v in self.env.items())}",
            f"labels:     {' '.join(f'{k}={v}' for k, v in self.labels.items())}",
            f"command:    {shlex.join(self.command)}",
        ]
        return "\n".join(lines)


def job_command(
    experiment: str,
    *,
    repo: str,
    commit: str,
    manifest: str,
    sync_to: str,
    overrides: list[str],
    weights: str | None = None,
) -> list[str]:
    """The job's command line: fetch the project at ``commit``, install it, fetch the official
    weights the experiment starts from (``weights``, as `sousa-train weights fetch` names
    them), run and mirror. A Hub data set and hub-id weights download on first use."""
    run = [
        "sousa-train", "run", experiment, *overrides,
        "--manifest", manifest, "--runs-dir", "runs", "--sync-to", sync_to,
    ]  # fmt: skip
    script = "; ".join(
        [
            "set -euo pipefail",
            f"git clone --quiet {shlex.quote(repo)} sousaphone",
            "cd sousaphone",
            f"git checkout --quiet {shlex.quote(commit)}",
            FLUIDSYNTH,
            "pip install --quiet .",
            *([shlex.join(["sousa-train", "weights", "fetch", weights])] if weights else []),
            shlex.join(run),
        ]
    )
    return ["bash", "-c", script]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _repo_and_commit(repo: str | None) -> tuple[str, str]:
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        raise JobError(
            "hf-job: this folder is not a git checkout, so there is no commit for the job to "
            "install; run it from a clone of the project."
        )
    repo = repo or _git("remote", "get-url", "origin")
    if repo is None:
        raise JobError(
            "hf-job: the job clones the project, but this checkout has no remote 'origin'. "
            "Push the commit somewhere the job can reach and pass --repo URL."
        )
    if _git("status", "--porcelain", "--untracked-files=no"):
        print(
            f"note: uncommitted changes are not in the job; it runs commit {commit[:12]}",
            file=sys.stderr,
        )
    return repo, commit


def _default_sync_to(namespace: str | None) -> str:
    if namespace is None:
        from huggingface_hub import whoami

        try:
            namespace = whoami()["name"]
        except Exception as exc:  # offline, or not logged in
            raise JobError(
                f"hf-job: could not ask the Hub who you are ({type(exc).__name__}: {exc}); "
                "pass --sync-to hf://datasets/USER/REPO (or --namespace USER)."
            ) from exc
    return f"hf://datasets/{namespace}/sousa-runs"


def _specs(args: argparse.Namespace) -> list[JobSpec]:
    manifest = load_manifest(Path(args.manifest))
    experiments, overrides = chosen_experiments(manifest, "hf-job", args)
    # Refuse a job that would fail on start; note the release files each one needs.
    weights = {name: _release_weights(manifest.get(name, overrides)) for name in experiments}
    repo, commit = _repo_and_commit(args.repo)
    root = Path(_git("rev-parse", "--show-toplevel") or Path.cwd()).resolve()
    try:
        in_repo = manifest.path.resolve().relative_to(root).as_posix()
    except ValueError:
        raise JobError(
            f"hf-job: {manifest.path} is outside the checkout {root}; the job reads the manifest "
            "from the cloned project, so commit it there."
        ) from None
    sync_to = args.sync_to or _default_sync_to(args.namespace)
    return [
        JobSpec(
            experiment=name,
            image=args.image,
            flavor=args.flavor,
            timeout=args.timeout,
            command=job_command(
                name,
                repo=repo,
                commit=commit,
                manifest=in_repo,
                sync_to=sync_to,
                overrides=overrides,
                weights=weights[name],
            ),
            env={"PYTHONUNBUFFERED": "1"},
            labels={LABEL: "1", "experiment": name, "commit": commit[:12]},
        )
        for name in experiments
    ]


def _release_weights(cfg: ExperimentConfig) -> str | None:
    """``model/variant`` when the experiment starts from its variant's official release file
    (which the job must fetch); None for hub ids, our own runs and from-scratch training."""
    official = official_weights(cfg.model, cfg.variant or "")
    if official is None or official.hub_id or cfg.pretrained != official.pretrained:
        return None
    return official.name


def _cmd_hf_job(args: argparse.Namespace) -> int:
    try:
        specs = _specs(args)
    except JobError as exc:
        print(f"sousa-train: {exc}", file=sys.stderr)
        return 1
    if args.dry_run:
        print("\n\n".join(spec.describe() for spec in specs))
        return 0
    from huggingface_hub import get_token, run_job

    token = get_token()
    if token is None:
        print(
            "sousa-train: hf-job needs a Hugging Face token (for the job and its HF_TOKEN "
            "secret): run `hf auth login` or set HF_TOKEN.",
            file=sys.stderr,
        )
        return 1
    for spec in specs:
        job = run_job(
            image=spec.image,
            command=spec.command,
            env=spec.env,
            secrets={name: token for name in SECRETS},
            flavor=spec.flavor,
            timeout=spec.timeout,
            labels=spec.labels,
            namespace=args.namespace,
        )
        print(f"{spec.experiment}  {job.id}  {job.url}")
    return 0


def _cmd_hf_jobs(args: argparse.Namespace) -> int:
    from huggingface_hub import list_jobs

    jobs = list(list_jobs(labels={LABEL: "1"}, namespace=args.namespace))
    if not jobs:
        print("no sousaphone jobs")
        return 0
    print(f"{'experiment':<28} {'job':<26} {'state':<10} {'flavor':<12} created")
    for job in jobs:
        labels = job.labels or {}
        stage = getattr(job.status, "stage", None)
        state = str(getattr(stage, "value", stage) or "?")  # JobStage is a str enum
        flavor = str(getattr(job.flavor, "value", job.flavor) or "?")
        created = f"{job.created_at:%Y-%m-%d %H:%M}" if job.created_at else "?"
        name = labels.get("experiment", "?")
        print(f"{name:<28} {job.id:<26} {state:<10} {flavor:<12} {created}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    job = sub.add_parser("hf-job", help="train an experiment (or a matrix) on Hugging Face Jobs")
    job.add_argument("experiment", nargs="?", help="experiment name from the manifest")
    add_overrides(job, "as for `run`")
    add_manifest(job)
    job.add_argument("--matrix", metavar="NAME", help="one job per experiment of the matrix")
    job.add_argument("--flavor", default=FLAVOR, help=f"hardware (default {FLAVOR})")
    job.add_argument("--timeout", default=TIMEOUT, help=f"job time limit (default {TIMEOUT})")
    job.add_argument(
        "--sync-to",
        metavar="URL",
        help="where the run is mirrored (default hf://datasets/<you>/sousa-runs)",
    )
    job.add_argument("--image", default=IMAGE, help="Docker image with CUDA, Python and git")
    job.add_argument("--repo", help="git URL the job clones (default: this checkout's origin)")
    job.add_argument("--namespace", help="user or organisation the job runs under")
    job.add_argument("--dry-run", action="store_true", help="print the job(s), submit nothing")
    job.set_defaults(func=_cmd_hf_job)

    jobs = sub.add_parser("hf-jobs", help="the sousaphone jobs on Hugging Face, with state")
    jobs.add_argument("--namespace", help="user or organisation (default: you)")
    jobs.set_defaults(func=_cmd_hf_jobs)
