"""Trials one after another through the ordinary ``run`` path, each told back to the study."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from optuna.trial import TrialState

from sousa_train.config.manifest import Manifest
from sousa_train.search.study import Sweep, claim_trial

log = logging.getLogger("sousa_train.search")

# A process stops after this many failed trials in a row: a setting that always crashes
# must not loop for ever (each failed trial is replaced).
MAX_FAILURES_IN_A_ROW = 3


def run_trials(
    manifest: Manifest,
    sweep: Sweep,
    *,
    runs_dir: Path,
    max_trials: int | None,
    overrides: list[str],
    platform: str | None,
) -> int:
    """Claim and run trials until the study has all of them (or this process ran
    ``max_trials``); the exit code: 0, 1 after repeated failures, 128+N after a stop signal."""
    from sousa_train.training.run import run_experiment
    from sousa_train.training.trial import TrialReporter

    spec = sweep.spec
    ran = failures = 0
    while max_trials is None or ran < max_trials:
        claimed = claim_trial(sweep)
        if claimed is None:
            break
        trial, params = claimed
        cfg = manifest.get(spec.experiment, overrides, platform=platform, settings=params)
        cfg = dataclasses.replace(cfg, name=spec.name)  # runs/<sweep>/<run_id>/
        record = {
            "sweep": spec.name,
            "experiment": spec.experiment,
            "storage": sweep.storage,
            "trial": trial.number,
            "params": params,
        }
        reporter = TrialReporter(trial, spec.metric, maximize=spec.maximize, record=record)
        started = time.monotonic()
        code = run_experiment(
            cfg, runs_dir=runs_dir, manifest=manifest.path, fresh=True, trial=reporter
        )
        ran += 1
        if reporter.pruned:
            state = TrialState.PRUNED
            sweep.study.tell(trial, state=state)
        elif code == 0 and reporter.best is not None:
            state = TrialState.COMPLETE
            sweep.study.tell(trial, reporter.best)
        else:
            state = TrialState.FAIL
            sweep.study.tell(trial, state=state)
        figure = "-" if reporter.best is None else f"{reporter.best:.4f}"
        values = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
        )
        print(
            f"trial {trial.number}: {state.name.lower()}, best {spec.metric} {figure} "
            f"({time.monotonic() - started:.0f} s; {values})",
            flush=True,
        )
        if code > 128:  # stopped by a signal: the person wants the sweep to stop too
            return code
        failures = failures + 1 if state == TrialState.FAIL else 0
        if failures >= MAX_FAILURES_IN_A_ROW:
            log.error("%d trials in a row failed; stopping (see their train.log)", failures)
            return 1
    return 0
