"""Finding run directories: the one rule the trainer, ``sousa-train runs`` and the console share."""

from __future__ import annotations

from pathlib import Path

from sousa_train.rundir.layout import RunDir

# A run that fails before writing config.json (its data set is missing, say) still has these.
RUN_FILES = ("config.json", "status.json", "events.jsonl")


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RUN_FILES)


def find_runs(runs_dir: Path, experiment: str | None = None) -> list[RunDir]:
    """Run directories ``<experiment>/<run_id>/`` under runs_dir (optionally one experiment's),
    oldest first. One that only got as far as its status or first event counts too, so a
    run that crashed early is listed with its error rather than hidden."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    parents = [runs_dir / experiment] if experiment else list(runs_dir.iterdir())
    found = [
        RunDir(run)
        for parent in parents
        if parent.is_dir()
        for run in parent.iterdir()
        if is_run_dir(run)
    ]
    return sorted(found, key=lambda r: r.run_id)
