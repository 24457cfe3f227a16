"""A sweep's study in Optuna's storage, opened alike by every process that works on it.

Several ``sweep`` processes (terminals, machines, SLURM array tasks) share one study. Asking
for a trial happens under a lock file, so the trial count holds exactly: a process asks only
while fewer than ``trials`` trials are done or running. Before counting, a trial left
``RUNNING`` by a process of this host that no longer exists (SIGKILL, a crash) is marked
failed, so a later call completes the count.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from sousa_train.config.sweeps import Dimension, SweepSpec
from sousa_train.rundir.status import pid_alive

# States that count towards a sweep's trials; a failed trial is replaced.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
# The median pruner judges a trial against at least this many finished ones.
MEDIAN_STARTUP_TRIALS = 2
# Seconds a process waits for SQLite's write lock before 'database is locked'.
SQLITE_TIMEOUT = 120


def default_storage(runs_dir: Path) -> str:
    return f"sqlite:///{(Path(runs_dir) / 'optuna.db').resolve()}"


class SweepError(RuntimeError):
    """A sweep that cannot go on as asked, phrased for the person who asked."""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock held by one process of the sweep at a time (flock: released by the
    system when its holder dies, even by SIGKILL)."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class Sweep:
    """An open study and the lock file its processes share."""

    spec: SweepSpec
    study: optuna.Study
    storage: str
    lock_path: Path


def open_sweep(spec: SweepSpec, storage: str, runs_dir: Path, *, create: bool = True) -> Sweep:
    """The study named after the sweep; created on first use (under the lock) when
    ``create``, else it must exist already."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # we print a line per trial
    folder = Path(runs_dir) / spec.name
    lock_path = folder / ".study.lock"
    if not create:
        try:
            study = optuna.load_study(
                storage=_rdb(storage), study_name=spec.name, pruner=make_pruner(spec)
            )
        except KeyError:
            raise SweepError(
                f"{storage}: no study {spec.name!r} yet; `sousa-train sweep {spec.name}` starts "
                "it (pass --storage if it lives elsewhere)."
            ) from None
        return Sweep(spec, study, storage, lock_path)
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path):  # two first processes would both create the tables
        study = optuna.create_study(
            storage=_rdb(storage),
            study_name=spec.name,
            direction="maximize" if spec.maximize else "minimize",
            pruner=make_pruner(spec),
            load_if_exists=True,
        )
    return Sweep(spec, study, storage, lock_path)


def _rdb(storage: str) -> optuna.storages.RDBStorage:
    kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT}} if storage.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(storage, engine_kwargs=kwargs)


def make_sampler(spec: SweepSpec, offset: int) -> optuna.samplers.BaseSampler:
    """A sampler seeded by the sweep's seed and the trials so far: sequential sweeps repeat,
    and processes asking at once get different draws."""
    seed = spec.seed + offset
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    warmup = spec.warmup_epochs
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=MEDIAN_STARTUP_TRIALS, n_warmup_steps=warmup
        )
    if spec.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, warmup))
    if spec.pruner == "threshold":
        bound = {"lower" if spec.maximize else "upper": spec.threshold}
        return optuna.pruners.ThresholdPruner(**bound, n_warmup_steps=warmup)
    return optuna.pruners.NopPruner()


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Mark failed each running trial whose process, on this host, is gone."""
    host = socket.gethostname()
    dead = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = int(trial.user_attrs.get("pid", -1))
        if trial.user_attrs.get("host") == host and pid != os.getpid() and not pid_alive(pid):
            study.tell(trial.number, state=TrialState.FAIL)
            dead.append(trial.number)
    return dead


def claim_trial(sweep: Sweep) -> tuple[optuna.Trial, dict[str, Any]] | None:
    """A new trial with its sampled values, or None when the sweep has all its trials."""
    study = sweep.study
    with file_lock(sweep.lock_path):
        fail_dead_trials(study)
        trials = study.get_trials(deepcopy=False)
        if sum(t.state in COUNTED for t in trials) >= sweep.spec.trials:
            return None
        study.sampler = make_sampler(sweep.spec, len(trials))
        trial = study.ask()
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        params = {dim.key: suggest(trial, dim) for dim in sweep.spec.space}
    return trial, params


def suggest(trial: optuna.Trial, dim: Dimension) -> Any:
    if dim.kind == "choice":
        return trial.suggest_categorical(dim.key, list(dim.values))
    low, high = dim.values
    if dim.kind in ("int", "log_int"):
        return trial.suggest_int(dim.key, low, high, log=dim.log)
    return trial.suggest_float(dim.key, low, high, log=dim.log)
