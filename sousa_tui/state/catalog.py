"""Every run under the runs folder, past and live, kept current from the files alone.

Runs are found by scanning the folder, not by remembering what the console launched, so a
run started by ``sousa-train`` in another terminal or copied back from a cloud machine shows
up the same way, and a console reopened later picks up runs still in progress.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from sousa_train.rundir.scan import find_runs
from sousa_tui.state.runs import LiveRun

_NO_LOCK = nullcontext()


class RunCatalog:
    """Run summaries by run directory, refreshed incrementally by ``refresh``."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self._runs: dict[Path, LiveRun] = {}
        self._latest: dict[str, LiveRun] = {}

    def refresh(self, lock: AbstractContextManager[object] = _NO_LOCK) -> bool:
        """Find new run directories and fold new events; True when anything changed.

        Files are read outside ``lock`` and folded under it a bounded chunk at a time, so a
        reader holding the lock (the UI drawing) never waits for a long backlog to be parsed
        and memory holds one chunk of raw events at most.
        """
        changed = False
        for run in find_runs(self.runs_dir):
            summary = self._runs.get(run.root)
            if summary is None:
                experiment = run.root.parent.name
                summary = LiveRun.of(run)
                latest = self._latest.get(experiment)
                with lock:
                    self._runs[run.root] = summary
                    if latest is None or latest.run_id < run.run_id:
                        self._latest[experiment] = summary
                changed = True
            had_events = False
            while events := summary.read():
                with lock:
                    summary.apply(events)
                had_events = True
            with lock:
                before = (summary.state, summary.info is None)
                summary.refresh_status(had_events)
                changed |= had_events or before != (summary.state, summary.info is None)
        return changed

    def latest(self, experiment: str) -> LiveRun | None:
        return self._latest.get(experiment)

    def experiments(self) -> list[str]:
        """Experiments with at least one run, whether or not the manifest names them."""
        return sorted(self._latest)

    def runs(self) -> list[LiveRun]:
        return list(self._runs.values())

    def runs_of(self, experiment: str) -> list[LiveRun]:
        """One experiment's (or sweep's) runs, oldest first."""
        found = [r for r in self._runs.values() if r.experiment == experiment]
        return sorted(found, key=lambda r: r.run_id)

    def live(self) -> list[LiveRun]:
        return [run for run in self._runs.values() if run.live]
