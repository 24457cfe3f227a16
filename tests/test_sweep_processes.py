"""Sweep processes sharing one SQLite study: at once they run distinct trials and the count
holds; a trial whose process is SIGKILLed is recorded failed, and a later call completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from optuna.trial import TrialState

from sousa_train.rundir.layout import RunDir
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.status import read_status
from sousa_train.rundir.tail import iter_events
from tests.cli import CLI, sousa_train
from tests.test_sweep import NO_PRUNING, study_of, write_sweep_manifest
from tests.waiting import wait_for


def _start(manifest: Path, runs: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    args = ("sweep", "search", "--manifest", str(manifest), "--runs-dir", str(runs), *extra)
    return subprocess.Popen(
        [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_two_processes_at_once_run_distinct_trials_of_one_study(
    tmp_path: Path, smoke_env: dict[str, str]
) -> None:
    manifest = write_sweep_manifest(tmp_path, NO_PRUNING, trials=4)
    runs = tmp_path / "runs"
    # Each may run two, so both must take part to reach the four.
    procs = [_start(manifest, runs, smoke_env, "--trials", "2") for _ in range(2)]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    trials = study_of(runs).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert {t.user_attrs["pid"] for t in trials} == {p.pid for p in procs}
    configs = [json.loads(r.config.read_text())["sweep"] for r in find_runs(runs, "search")]
    assert sorted(c["trial"] for c in configs) == [0, 1, 2, 3]


def test_a_sigkilled_trial_is_failed_and_a_later_call_completes_the_count(
    tmp_path: Path, smoke_env: dict[str, str]
) -> None:
    manifest = write_sweep_manifest(tmp_path, NO_PRUNING, trials=2)
    runs = tmp_path / "runs"
    proc = _start(manifest, runs, smoke_env)

    def training() -> bool:  # read from the files: the study is the process's to create
        runs_found = find_runs(runs, "search")
        return any(e["kind"] == "metric" for r in runs_found for e in iter_events(r.events))

    wait_for(training, "a trial to train")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    (killed,) = study_of(runs).get_trials(states=(TrialState.RUNNING,))
    assert read_status(RunDir(killed.user_attrs["run_dir"])).state == "failed"

    done = sousa_train(
        "sweep", "search", "--manifest", str(manifest), "--runs-dir", str(runs), env=smoke_env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    states = {t.number: t.state for t in study_of(runs).trials}
    assert states[killed.number] == TrialState.FAIL
    assert sorted(states.values()) == sorted([TrialState.FAIL] + [TrialState.COMPLETE] * 2)
    assert len(find_runs(runs, "search")) == 3
