"""`sbatch --sweep NAME --array N`: a job array whose tasks all work on one study; run as
printed under a stand-in srun, a task trains a trial into the shared storage."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from optuna.trial import TrialState

from sousa_train.rundir.scan import find_runs
from tests.cli import sousa_train
from tests.test_slurm import ECHO_SRUN, ONE_TASK_SRUN, _stand_in
from tests.test_sweep import NO_PRUNING, study_of, write_sweep_manifest


def _script(tmp_path: Path, *args: str) -> str:
    manifest = write_sweep_manifest(tmp_path, NO_PRUNING, trials=1)
    result = sousa_train(
        "sbatch", "--sweep", "search", "--manifest", str(manifest), *args, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    (tmp_path / "job.sh").write_text(result.stdout)
    return result.stdout


def _task(tmp_path: Path, index: int, srun: str, env: dict[str, str]) -> str:
    stand_in = _stand_in(tmp_path / f"task{index}", srun)
    done = subprocess.run(
        ["bash", str(tmp_path / "job.sh")],
        env={
            **stand_in,
            "SOUSA_CACHE_DIR": env["SOUSA_CACHE_DIR"],
            "SLURM_ARRAY_TASK_ID": str(index),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_every_task_of_the_array_runs_the_sweep_on_one_storage(
    tmp_path: Path, smoke_env: dict[str, str]
) -> None:
    script = _script(tmp_path, "--array", "4", "--max-running", "2")
    assert "#SBATCH --array=0-3%2" in script and "#SBATCH --job-name=sousa-search" in script
    assert subprocess.run(["bash", "-n", str(tmp_path / "job.sh")]).returncode == 0
    commands = {_task(tmp_path, i, ECHO_SRUN, smoke_env) for i in range(4)}
    (command,) = commands  # the same command in every task
    words = command.split()
    assert words[words.index("sweep") + 1] == "search"
    runs = (tmp_path / "runs").resolve()
    assert words[words.index("--storage") + 1] == f"sqlite:///{runs}/optuna.db"


def test_a_task_run_as_printed_trains_a_trial_into_the_shared_study(
    tmp_path: Path, smoke_env: dict[str, str]
) -> None:
    _script(tmp_path, "--array", "2", "--accelerator", "cpu")
    _task(tmp_path, 1, ONE_TASK_SRUN, smoke_env)
    runs = tmp_path / "runs"
    assert len(find_runs(runs, "search")) == 1
    assert [t.state for t in study_of(runs).trials] == [TrialState.COMPLETE]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--sweep", "nope", "--array", "2"), "no sweep named 'nope'"),
        (("--sweep", "search"), "--array N"),
        (("--sweep", "search", "--array", "2", "--gpus-per-node", "4"), "--gpus-per-node"),
        (("smoke", "--sweep", "search", "--array", "2"), "--sweep NAME alone"),
    ],
)
def test_a_wrong_sweep_array_exits_2(tmp_path: Path, args: tuple[str, ...], named: str) -> None:
    manifest = write_sweep_manifest(tmp_path, NO_PRUNING)
    result = sousa_train("sbatch", *args, "--manifest", str(manifest), cwd=tmp_path)
    assert result.returncode == 2 and named in result.stderr, result.stderr
