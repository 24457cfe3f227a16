"""A sweep's study as Optuna reports it, read through ``sousa-train sweep --show --json``.

The console imports neither torch nor optuna: the figures and parameter importances come
from the same command a person runs in the shell, so the view and the shell never disagree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sousa_tui.state.runs import LiveRun

TIMEOUT_SEC = 120


class StudyUnreadable(RuntimeError):
    """The command could not report the study (none yet, or its storage is unreachable)."""


def read_study(manifest: Path, runs_dir: Path, sweep: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "sousa_train.cli", "sweep", sweep, "--show", "--json"]
    argv += ["--manifest", str(manifest), "--runs-dir", str(runs_dir)]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=TIMEOUT_SEC, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise StudyUnreadable(
            f"sousa-train sweep {sweep} --show took over {TIMEOUT_SEC} s"
        ) from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise StudyUnreadable(lines[-1] if lines else f"exit code {done.returncode}")
    return json.loads(done.stdout)


def report_from_runs(sweep: str, target: int, runs: list[LiveRun]) -> dict[str, Any]:
    """What the run directories alone say, in the report's shape: shown until Optuna's
    report arrives (figures are best validation balanced accuracy here)."""
    trials = [
        {
            "number": r.info.trial,
            "state": r.state,
            "value": r.best_val_bacc,
            "params": r.info.params or {},
            "run_dir": str(r.root),
        }
        for r in runs
        if r.info is not None and r.info.trial is not None
    ]
    trials.sort(key=lambda t: t["number"])
    scored = [t for t in trials if t["state"] == "finished" and t["value"] is not None]
    best = max(scored, key=lambda t: t["value"], default=None)
    return {
        "sweep": sweep,
        "metric": "val/balanced_accuracy",
        "direction": "maximize",
        "target": target,
        "trials": trials,
        "best": best["number"] if best else None,
        "importances": None,
    }
