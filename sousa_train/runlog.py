"""The run directory: the only thing a run leaves behind and the only thing the console reads.

Layout (DESIGN.md): config.json, events.jsonl (append-only), status.json (replaced
atomically), train.log, checkpoints/, adapter/, eval/<split>/. No torch import here,
so readers (the console, notebooks) can use it cheaply.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATES = ("running", "finished", "failed", "stopped")


def new_run_id() -> str:
    """Sortable by start time; the suffix keeps two runs started in one second apart."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temporary file and rename over, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def iter_events(path: Path) -> Iterator[dict]:
    """Every complete event; a torn or garbled line is skipped, never fatal."""
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError:
        return
    with fh:
        for line in fh:
            if not line.endswith("\n"):
                return
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


class RunDir:
    """Paths of one run directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.config = self.root / "config.json"
        self.events = self.root / "events.jsonl"
        self.status = self.root / "status.json"
        self.log = self.root / "train.log"
        self.checkpoints = self.root / "checkpoints"
        self.best_ckpt = self.checkpoints / "best.ckpt"
        self.last_ckpt = self.checkpoints / "last.ckpt"
        self.adapter = self.root / "adapter"

    def eval_dir(self, split: str) -> Path:
        return self.root / "eval" / split

    @property
    def run_id(self) -> str:
        return self.root.name

    def read_status(self) -> dict | None:
        return read_json(self.status)


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


def find_runs(runs_dir: Path, experiment: str | None = None) -> list[RunDir]:
    """Run directories under runs_dir (optionally one experiment's), oldest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    parents = (
        [runs_dir / experiment]
        if experiment
        else sorted(p for p in runs_dir.iterdir() if p.is_dir())
    )
    found = []
    for parent in parents:
        if parent.is_dir():
            found.extend(
                RunDir(p) for p in sorted(parent.iterdir()) if (p / "config.json").exists()
            )
    return sorted(found, key=lambda r: r.run_id)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_state(run: RunDir) -> str:
    """The status file's state, except a 'running' run whose process is gone is 'failed'."""
    status = run.read_status() or {}
    state = status.get("state", "failed")
    if state == "running" and not pid_alive(int(status.get("pid", -1))):
        return "failed"
    return state
