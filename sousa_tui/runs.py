"""Reading run directories without torch: incremental event tails and run summaries.

The console follows runs only through their files, so a run started elsewhere (another
terminal, a cloud machine whose run directory was copied back) looks the same as one it
launched itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sousa_train.runlog import RunDir, effective_state


class EventTail:
    """Reads only the bytes appended since the last call; a torn last line waits for its end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self._offset:  # truncated (a torn tail was cut on resume)
                    self._offset, self._partial = 0, b""
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


@dataclass
class RunSummary:
    """What the experiments pane shows of a run, folded from its events."""

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
    error: str | None = None
    tail: EventTail = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tail = EventTail(self.root / "events.jsonl")

    @property
    def progress(self) -> float | None:
        if not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)

    def refresh(self) -> list[dict[str, Any]]:
        """Fold newly appended events and re-read the status; returns the new events."""
        events = self.tail.read_new()
        for event in events:
            self._fold(event)
        self.state = effective_state(RunDir(self.root))
        return events

    def _fold(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "metric":
            self.step = int(event.get("step", self.step))
            self.total_steps = event.get("total_steps", self.total_steps)
            self.epoch = int(event.get("epoch", self.epoch))
            self.samples_per_sec = event.get("samples_per_sec")
            self.eta_sec = event.get("eta_sec")
        elif kind == "epoch":
            value = event.get("val/balanced_accuracy")
            if value is not None and (self.best_val_bacc is None or value > self.best_val_bacc):
                self.best_val_bacc = value
        elif kind == "eval" and event.get("split") == "test":
            self.test_bacc = event.get("balanced_accuracy")
        elif kind == "error":
            self.error = event.get("message")
