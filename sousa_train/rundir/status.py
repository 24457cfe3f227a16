"""A run's state as a reader should believe it: the status file, checked against the process."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sousa_train.rundir.layout import RunDir
from sousa_train.rundir.sync import heartbeat_alive


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one we may not signal counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RunStatus:
    """``state`` is the effective one: a 'running' status whose process is gone is 'failed'."""

    state: str
    pid: int
    error: str | None = None
    reason: str | None = None

    @property
    def live(self) -> bool:
        return self.state == "running"


def read_status(run: RunDir) -> RunStatus:
    """The effective status; a run without a readable status file reads as failed."""
    status = run.read_status() or {}
    state = str(status.get("state", "failed"))
    pid = int(status.get("pid", -1))
    error = status.get("error")
    if state == "running":
        # A run pulled from a mirror on another machine: its pid means nothing here.
        mirrored = heartbeat_alive(run)
        if not (pid_alive(pid) if mirrored is None else mirrored):
            state = "failed"
            error = (
                f"process {pid} ended without a final status (killed, or its machine went "
                "down); resume continues from the last checkpoint"
            )
    return RunStatus(state, pid, error, status.get("reason"))


def effective_state(run: RunDir) -> str:
    return read_status(run).state
