"""What a sweep has found, as data: trials in order, the best one, parameter importances, and
the best trial as a manifest table to paste. ``sweep --show`` prints it; the console reads
its JSON form."""

from __future__ import annotations

import json
import math
from typing import Any

import optuna
from optuna.trial import TrialState

from sousa_train.config.manifest import Manifest
from sousa_train.search.study import Sweep


def sweep_report(sweep: Sweep) -> dict[str, Any]:
    """Trials (number, state, value, sampled values, run directory), the best trial so far
    and Optuna's parameter importances (None until two trials are complete)."""
    study = sweep.study
    trials = study.get_trials(deepcopy=False)
    rows = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value if t.value is not None else _last(t),
            "params": t.params,
            "run_dir": t.user_attrs.get("run_dir"),
        }
        for t in trials
    ]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial.number if complete else None
    return {
        "sweep": sweep.spec.name,
        "experiment": sweep.spec.experiment,
        "metric": sweep.spec.metric,
        "direction": "maximize" if sweep.spec.maximize else "minimize",
        "target": sweep.spec.trials,
        "storage": sweep.storage,
        "trials": rows,
        "best": best,
        "importances": _importances(study, complete),
    }


def _last(trial: optuna.trial.FrozenTrial) -> float | None:
    """A pruned trial's figure: its last reported epoch."""
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else None


def _importances(
    study: optuna.Study, complete: list[optuna.trial.FrozenTrial]
) -> dict[str, float] | None:
    if len(complete) < 2:
        return None
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # e.g. every complete trial sampled the same values
        return None
    return {k: float(v) for k, v in found.items() if not math.isnan(v)}


def format_report(report: dict[str, Any]) -> str:
    """The report as the shell shows it."""
    rows = report["trials"]
    done = sum(r["state"] in ("complete", "pruned") for r in rows)
    lines = [
        f"sweep {report['sweep']} (experiment {report['experiment']}): {done} of "
        f"{report['target']} trials done, {report['metric']} ({report['direction']}), "
        f"study in {report['storage']}"
    ]
    keys = sorted({k for r in rows for k in r["params"]})
    header = ["trial", "state", "figure", *keys]
    table = [header] + [
        [
            str(r["number"]),
            r["state"],
            "-" if r["value"] is None else f"{r['value']:.4f}",
            *(_value(r["params"].get(k)) for k in keys),
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    if report["best"] is None:
        lines.append("best: none yet (no trial has completed)")
    else:
        row = next(r for r in rows if r["number"] == report["best"])
        lines.append(f"best: trial {row['number']}, {row['value']:.4f}, {row['run_dir']}")
    if report["importances"] is None:
        lines.append("importances: need two complete trials with different values")
    else:
        lines.append("importances (optuna.importance, its default evaluator):")
        lines += [f"  {k}: {v:.3f}" for k, v in report["importances"].items()]
    return "\n".join(lines)


def _value(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def best_table(manifest: Manifest, sweep: Sweep) -> str:
    """The best trial as an ``[experiments.NAME]`` table: the swept experiment's own table
    with the trial's sampled values set, ready to paste into the manifest."""
    study = sweep.study
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return ""
    best = study.best_trial
    table = manifest.raw_experiment(sweep.spec.experiment)
    table["description"] = (
        f"{sweep.spec.experiment} with the best values of sweep {sweep.spec.name} "
        f"(trial {best.number})"
    )
    for key, value in best.params.items():
        node = table
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    name = f"{sweep.spec.name}-best"
    lines = [
        f"# sweep {sweep.spec.name}, trial {best.number}: {sweep.spec.metric} {best.value:.4f}",
        f"[experiments.{name}]",
    ]
    lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    """A TOML value: inline tables and arrays of strings, numbers and booleans."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    return repr(value)
