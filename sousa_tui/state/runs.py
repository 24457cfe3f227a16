"""What the console keeps of one run: the shared run summary plus its metric series.

The console follows runs only through their files, so a run started elsewhere (another
terminal, a cloud machine whose run directory was copied back) looks the same as one it
launched itself.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from sousa_train.rundir.summary import RunSummary
from sousa_train.rundir.tail import EventTail
from sousa_tui.state.series import BoundedSeries

# Event fields that are bookkeeping, not metrics worth a series.
_NOT_SERIES = frozenset({"t", "kind", "step", "epoch", "total_steps", "elapsed_sec", "eta_sec"})


@dataclass
class LiveRun(RunSummary):
    """A run summary kept current by tailing events.jsonl, with a bounded series per metric."""

    version: int = 0  # bumped whenever new events arrive, so views redraw only on change
    series: dict[str, BoundedSeries] = field(default_factory=dict)
    tail: EventTail = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.tail = EventTail(self.dir.events)

    @property
    def median_samples_per_sec(self) -> float | None:
        speeds = self.series.get("samples_per_sec")
        return statistics.median(p[2] for p in speeds.points) if speeds else None

    def read(self) -> list[dict[str, Any]]:
        """New events from the file; touches nothing a reader of this summary looks at, so it
        may run outside the lock while the UI draws."""
        return self.tail.read_new()

    def apply(self, events: list[dict[str, Any]]) -> None:
        """Fold events from ``read`` into the figures and series."""
        for event in events:
            self.fold(event)
            if event.get("kind") in ("metric", "epoch"):
                self._add_points(event)
        if events:
            self.version += 1

    def _add_points(self, event: dict[str, Any]) -> None:
        step = event.get("step")
        if not isinstance(step, (int, float)):
            return
        wall = (self.last_event or 0.0) - (self.started or 0.0)
        for name, value in event.items():
            if name in _NOT_SERIES or not isinstance(value, (int, float)):
                continue
            self.series.setdefault(name, BoundedSeries()).append(step, wall, float(value))
