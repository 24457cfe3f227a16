"""The printed sbatch script: valid bash, every variable named, and run as printed with a
stand-in `srun` that starts two CPU tasks with SLURM's variables (real gloo DDP); the job
array of a matrix, run as two array tasks, trains two experiments."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from sousa_train.cli.main import build_parser
from sousa_train.rundir.layout import RunDir, read_json
from sousa_train.rundir.resume import resume_checkpoint
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.tail import iter_events
from tests.cli import Result, sousa_train

REPO = Path(__file__).resolve().parents[1]
# A stand-in for srun: two tasks on this machine, with the variables srun gives each task.
FAKE_SRUN = """#!/bin/bash
for rank in 0 1; do
  SLURM_PROCID=$rank SLURM_LOCALID=$rank SLURM_NODEID=0 SLURM_NTASKS=2 \\
  SLURM_NTASKS_PER_NODE=2 SLURM_JOB_ID=31337 SLURM_NODELIST=127.0.0.1 \\
  SLURM_JOB_NAME=sousa-smoke "$@" &
done
wait
"""

# One array task: srun starts a single process, as it does for --ntasks-per-node=1.
ONE_TASK_SRUN = """#!/bin/bash
SLURM_PROCID=0 SLURM_LOCALID=0 SLURM_NODEID=0 SLURM_NTASKS=1 SLURM_NTASKS_PER_NODE=1 \\
SLURM_JOB_ID=4242 SLURM_NODELIST=127.0.0.1 SLURM_JOB_NAME=sousa-pair exec "$@"
"""
# The same, but it only prints the command a task would run.
ECHO_SRUN = """#!/bin/bash
echo "$@"
"""
# A two-experiment matrix of tiny models (pair-efficientat, pair-rhythmcnn).
PAIR_MANIFEST = """
[datasets.demo-tiny]
demo = { clips_per_rudiment = 5, seed = 1, sample_rate = 16000 }

[experiments.solo]
model = "rhythmcnn"
variant = "tiny"
strategy = "from_scratch"
data = "demo-tiny"

[matrix.pair]
model = ["efficientat", "rhythmcnn"]
variant = "tiny"
strategy = "from_scratch"
data = "demo-tiny"
sample_rate = 16000
train = { max_epochs = 1, early_stop_patience = 0 }
loader = { batch_size = 16, num_workers = 0, clip_seconds = 2.0, eval_hop_seconds = 1.0 }
"""


def _cli(cwd: Path, *args: str, manifest: Path = REPO / "experiments.toml") -> Result:
    return sousa_train("sbatch", *args, "--manifest", str(manifest), cwd=cwd)


def _sbatch(cwd: Path, *args: str) -> str:
    result = _cli(cwd, "smoke", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_script_is_valid_bash_and_names_every_variable(tmp_path: Path) -> None:
    script = _sbatch(tmp_path, "--nodes", "2", "--gpus-per-node", "4", "--partition", "gpu")
    (tmp_path / "job.sh").write_text(script)
    check = subprocess.run(["bash", "-n", str(tmp_path / "job.sh")], capture_output=True)
    assert check.returncode == 0, check.stderr
    assigned = set(re.findall(r"^(?:export )?([A-Z_]+)=", script, re.M))
    used = set(re.findall(r"\$\{?([A-Z_]+)", script))
    assert used and used <= assigned, f"used but never set: {used - assigned}"
    for line in ("--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4", "--partition=gpu"):
        assert f"#SBATCH {line}" in script
    assert re.search(r"#SBATCH --signal=SIGUSR1@\d+", script) and "#SBATCH --requeue" in script
    # The training command it runs is one our own CLI accepts, with the same layout.
    command = script.split("srun ", 1)[1].replace("\\\n", " ").split()
    args = build_parser().parse_args([a.strip('"') for a in command[1:]])
    assert (args.command, args.devices, args.num_nodes, args.strategy) == ("run", 4, 2, "ddp")


def test_unknown_experiment_prints_no_script(tmp_path: Path) -> None:
    result = _cli(tmp_path, "nope")
    assert result.returncode == 2 and not result.stdout
    assert "no experiment named 'nope'" in result.stderr


def test_script_runs_as_printed_under_a_stand_in_srun(tmp_path: Path) -> None:
    script = _sbatch(tmp_path, "--gpus-per-node", "2", "--accelerator", "cpu", "train.max_epochs=1")
    (tmp_path / "job.sh").write_text(script)
    env = _stand_in(tmp_path, FAKE_SRUN)
    result = subprocess.run(
        ["bash", str(tmp_path / "job.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (run,) = find_runs(tmp_path / "runs", "smoke")
    assert read_json(run.status)["state"] == "finished"
    kinds = collections.Counter(e["kind"] for e in iter_events(run.events))
    assert kinds["start"] == kinds["end"] == 1 and kinds["eval"] == 2, kinds
    assert (tmp_path / ".sousa-cache").is_dir(), "the script's cache variable was not used"


def _stand_in(tmp_path: Path, srun: str) -> dict[str, str]:
    """An environment whose PATH finds ``srun`` first and that holds no SLURM variables."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "srun").write_text(srun)
    (bin_dir / "srun").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return {k: v for k, v in env.items() if not k.startswith("SLURM_")}


def test_matrix_array_script_lists_the_matrix_and_caps_running_tasks(tmp_path: Path) -> None:
    manifest = tmp_path / "experiments.toml"
    manifest.write_text(PAIR_MANIFEST)
    result = _cli(tmp_path, "--matrix", "pair", "--max-running", "1", manifest=manifest)
    assert result.returncode == 0, result.stderr
    script = result.stdout
    assert "#SBATCH --array=0-1%1" in script and "#SBATCH --job-name=sousa-pair" in script
    listed = script.split("SOUSA_EXPERIMENTS=(", 1)[1].split(")", 1)[0].split()
    assert listed == ["pair-efficientat", "pair-rhythmcnn"], "solo is not in the matrix"
    assert "%A_%a" in script, "array tasks would write one shared log file"
    (tmp_path / "job.sh").write_text(script)
    assert subprocess.run(["bash", "-n", str(tmp_path / "job.sh")]).returncode == 0
    missing = _cli(tmp_path, "--matrix", "nope", manifest=manifest)
    assert missing.returncode == 2 and "no matrix named 'nope'" in missing.stderr
    assert "pair" in missing.stderr and not missing.stdout


def test_matrix_array_runs_one_experiment_per_task_under_a_stand_in_srun(tmp_path: Path) -> None:
    """Task 1 trains for real; task 0 (under an srun that only prints) would run the other."""
    manifest = tmp_path / "experiments.toml"
    manifest.write_text(PAIR_MANIFEST)
    result = _cli(tmp_path, "--matrix", "pair", "--accelerator", "cpu", manifest=manifest)
    assert result.returncode == 0, result.stderr
    (tmp_path / "job.sh").write_text(result.stdout)

    def task(index: str, srun: str) -> subprocess.CompletedProcess[str]:
        env = {**_stand_in(tmp_path / index, srun), "SLURM_ARRAY_JOB_ID": "4242"}
        done = subprocess.run(
            ["bash", str(tmp_path / "job.sh")],
            env={**env, "SLURM_ARRAY_TASK_ID": index},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done

    task("1", ONE_TASK_SRUN)
    (run,) = find_runs(tmp_path / "runs")
    assert run.root.parent.name == "pair-rhythmcnn"
    assert read_json(run.status)["state"] == "finished"
    assert read_json(run.config)["experiment"]["name"] == "pair-rhythmcnn"
    printed = task("0", ECHO_SRUN).stdout.split()
    assert printed[printed.index("run") + 1] == "pair-efficientat"
    outside = subprocess.run(
        ["bash", str(tmp_path / "job.sh")],
        env=_stand_in(tmp_path / "x", ONE_TASK_SRUN),
        capture_output=True,
    )
    assert outside.returncode != 0 and b"not an array task" in outside.stderr


def test_resume_prefers_the_newest_of_last_and_preemption_checkpoints(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    assert resume_checkpoint(run) is None
    run.last_ckpt.write_bytes(b"x")
    assert resume_checkpoint(run) == run.last_ckpt
    hpc = run.root / "hpc_ckpt_1.ckpt"
    hpc.write_bytes(b"x")
    os.utime(run.last_ckpt, (time.time() - 60, time.time() - 60))
    assert resume_checkpoint(run) == hpc
    (run.root / "hpc_ckpt_notes.ckpt").write_bytes(b"x")  # not Lightning's name: ignored
    assert resume_checkpoint(run) == hpc


@pytest.fixture(autouse=True)
def _no_inherited_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI runner inside a SLURM job must not make these checks see a real cluster."""
    for name in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(name)
