"""A run's identity and headline figures, folded from its files: the one reading that
``sousa-train runs``, the console and notebooks share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sousa_train.rundir.layout import RunDir, read_json
from sousa_train.rundir.status import read_status
from sousa_train.rundir.tail import iter_events


@dataclass
class RunInfo:
    """The run's identity from config.json: what was trained on what."""

    model: str = "-"
    strategy: str = "-"
    data: str = "-"
    trainable_params: int | None = None
    trial: int | None = None  # a sweep trial: its number and sampled values
    params: dict[str, Any] | None = None

    @classmethod
    def read(cls, config: Path) -> RunInfo | None:
        raw = read_json(config)
        if not isinstance(raw, dict):
            return None
        exp = raw.get("experiment") or {}
        data = exp.get("data")
        sweep = raw.get("sweep") if isinstance(raw.get("sweep"), dict) else {}
        model = str(exp.get("model", "-"))
        if exp.get("variant"):
            model += f"/{exp['variant']}"
        return cls(
            model=model,
            strategy=str(exp.get("strategy", "-")),
            data=str(data.get("name", "-") if isinstance(data, dict) else data or "-"),
            trainable_params=(raw.get("parameters") or {}).get("trainable"),
            trial=sweep.get("trial"),
            params=sweep.get("params"),
        )


@dataclass
class RunSummary:
    """A run's state and headline figures as of the events folded so far.

    ``fold`` takes events in file order; ``refresh_status`` re-reads status.json (and
    config.json until it exists). ``RunSummary.load`` does both for a whole run at once.
    """

    root: Path
    experiment: str
    run_id: str
    state: str = "unknown"
    reason: str | None = None
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

    def __post_init__(self) -> None:
        self.dir = RunDir(self.root)

    @classmethod
    def of(cls, run: RunDir) -> RunSummary:
        return cls(run.root, run.root.parent.name, run.run_id)

    @classmethod
    def load(cls, run: RunDir) -> RunSummary:
        """Every event of the run folded, with its effective status."""
        summary = cls.of(run)
        for event in iter_events(run.events):
            summary.fold(event)
        summary.refresh_status(had_events=True)
        return summary

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
    def live(self) -> bool:
        return self.state == "running"

    def refresh_status(self, had_events: bool) -> None:
        """Re-read the status when it may have changed: new events, or a run still going."""
        if had_events or self.state in ("running", "unknown"):
            status = read_status(self.dir)
            self.state, self.pid, self.reason = status.state, status.pid, status.reason
            if status.state == "failed":
                self.error = self.error or status.error
        if self.info is None:
            self.info = RunInfo.read(self.dir.config)

    def fold(self, event: dict[str, Any]) -> None:
        """Fold one event into the figures."""
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
        elif kind == "epoch":
            value = event.get("val/balanced_accuracy")
            if value is not None and (self.best_val_bacc is None or value > self.best_val_bacc):
                self.best_val_bacc = value
        elif kind == "eval" and event.get("split") == "test":
            self.test_bacc = event.get("balanced_accuracy")
        elif kind == "end":
            self.step = int(event.get("step", self.step))
        elif kind == "error":
            self.error = event.get("message")
