"""The one writer of a run directory: appends events, replaces the status, survives a crash."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from sousa_train.rundir.layout import STATES, RunDir, write_json_atomic


class RunLog:
    """Appends events and replaces the status of one run; safe to reopen after a crash."""

    def __init__(self, run_dir: RunDir) -> None:
        self.dir = run_dir
        run_dir.root.mkdir(parents=True, exist_ok=True)
        run_dir.checkpoints.mkdir(exist_ok=True)
        _drop_torn_tail(run_dir.events)
        self._events = open(run_dir.events, "a", encoding="utf-8")
        self._status: dict[str, Any] = run_dir.read_status() or {}

    def event(self, kind: str, **fields: Any) -> None:
        line = json.dumps({"t": round(time.time(), 3), "kind": kind, **fields}, default=_jsonable)
        self._events.write(line + "\n")
        self._events.flush()

    def status(self, state: str, **fields: Any) -> None:
        assert state in STATES, state
        self._status.update(fields)
        self._status.update(state=state, pid=os.getpid(), updated=time.time())
        write_json_atomic(self.dir.status, self._status)

    def close(self) -> None:
        self._events.close()


def _drop_torn_tail(path: Path) -> None:
    """A crash can leave half a line; cut it so appended events start on a fresh line."""
    if not path.exists():
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
