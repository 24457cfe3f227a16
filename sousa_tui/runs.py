"""What the console knows of one run, folded incrementally from its run directory.

The console follows runs only through their files, so a run started elsewhere (another
terminal, a cloud machine whose run directory was copied back) looks the same as one it
launched itself.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sousa_train.runlog import RunDir, pid_alive, read_json
from sousa_tui.series import BoundedSeries
from sousa_tui.tail import EventTail

# Event fields that are bookkeeping, not metrics worth a series.
_NOT_SERIES = frozenset({"t", "kind", "step", "epoch", "total_steps", "elapsed_sec", "eta_sec"})


@dataclass
class RunInfo:
    """The run's identity from config.json: what was trained on what."""

    model: str = "-"
    strategy: str = "-"
    data: str = "-"
    trainable_params: int | None = None

    @classmethod
    def read(cls, config: Path) -> RunInfo | None:
        raw = read_json(config)
        if not isinstance(raw, dict):
            return None
        exp = raw.get("experiment") or {}
        data = exp.get("data")
        model = str(exp.get("model", "-"))
        if exp.get("variant"):
            model += f"/{exp['variant']}"
        return cls(
            model=model,
            strategy=str(exp.get("strategy", "-")),
            data=str(data.get("name", "-") if isinstance(data, dict) else data or "-"),
            trainable_params=(raw.get("parameters") or {}).get("trainable"),
        )


@dataclass
class RunSummary:
    """A run's state, headline figures and metric series, as of the last ``refresh``."""

    root: Path
    experiment: str
    run_id: str
    state: str = "unknown"
    step: int = 0
    total_steps: int | None = None
    epoch: int = 0
    best_val_bacc: float | None = None
    test_bacc: float | None = None
    samples_per_sec: float | None = None
    eta_sec: float | None = None
    peak_mem_mb: float | None = None
    started: float | None = None
    last_event: float | None = None
    error: str | None = None
    pid: int | None = None
    info: RunInfo | None = None
    version: int = 0  # bumped whenever new events arrive, so views redraw only on change
    series: dict[str, BoundedSeries] = field(default_factory=dict)
    tail: EventTail = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.dir = RunDir(self.root)
        self.tail = EventTail(self.dir.events)

    @property
    def progress(self) -> float | None:
        if not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)

    @property
    def wall_sec(self) -> float | None:
        if self.started is None or self.last_event is None:
            return None
        return self.last_event - self.started

    @property
    def median_samples_per_sec(self) -> float | None:
        speeds = self.series.get("samples_per_sec")
        return statistics.median(p[2] for p in speeds.points) if speeds else None

    @property
    def live(self) -> bool:
        return self.state == "running"

    def read(self) -> list[dict[str, Any]]:
        """New events from the file; touches nothing a reader of this summary looks at, so it
        may run outside the lock while the UI draws."""
        return self.tail.read_new()

    def apply(self, events: list[dict[str, Any]]) -> None:
        """Fold events from ``read`` into the figures and series."""
        for event in events:
            self._fold(event)
        if events:
            self.version += 1

    def refresh_status(self, had_events: bool) -> None:
        """Re-read the status when it may have changed: new events, or a run still going."""
        if had_events or self.state in ("running", "unknown"):
            self._read_status()
        if self.info is None:
            self.info = RunInfo.read(self.dir.config)

    def _read_status(self) -> None:
        status = self.dir.read_status() or {}
        state = status.get("state", "failed")
        pid = self.pid = int(status.get("pid", -1))
        if state == "running" and not pid_alive(pid):
            state = "failed"
            self.error = self.error or (
                f"process {pid} ended without a final status (killed, or its machine went "
                "down); resume continues from the last checkpoint"
            )
        elif state == "failed":
            self.error = self.error or status.get("error")
        self.state = state

    def _fold(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        t = event.get("t")
        if isinstance(t, (int, float)):
            self.started = t if self.started is None else self.started
            self.last_event = t
        if kind == "start":
            self.error = None
        elif kind == "metric":
            self.step = int(event.get("step", self.step))
            self.total_steps = event.get("total_steps", self.total_steps)
            self.epoch = int(event.get("epoch", self.epoch))
            self.samples_per_sec = event.get("samples_per_sec")
            self.eta_sec = event.get("eta_sec")
            mem = event.get("peak_mem_mb")
            if isinstance(mem, (int, float)):
                self.peak_mem_mb = max(mem, self.peak_mem_mb or 0.0)
            self._add_points(event)
        elif kind == "epoch":
            value = event.get("val/balanced_accuracy")
            if value is not None and (self.best_val_bacc is None or value > self.best_val_bacc):
                self.best_val_bacc = value
            self._add_points(event)
        elif kind == "eval" and event.get("split") == "test":
            self.test_bacc = event.get("balanced_accuracy")
        elif kind == "error":
            self.error = event.get("message")

    def _add_points(self, event: dict[str, Any]) -> None:
        step = event.get("step")
        if not isinstance(step, (int, float)):
            return
        wall = (self.last_event or 0.0) - (self.started or 0.0)
        for name, value in event.items():
            if name in _NOT_SERIES or not isinstance(value, (int, float)):
                continue
            self.series.setdefault(name, BoundedSeries()).append(step, wall, float(value))
