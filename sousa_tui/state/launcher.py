"""Starting, queueing and stopping ``sousa-train run`` (and ``sweep``) processes.

Each run is its own process group, started from an argument list (never a shell), with its
output in a file rather than a pipe: it survives the console quitting or crashing, and the
console survives it crashing. Signals go to the whole group, so loader workers stop too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from sousa_train.rundir.tail import LogTail

OUTPUT_DIR = ".sousa-tui"  # under the runs folder: each launch's own stdout/stderr


@dataclass
class Launch:
    """One requested ``sousa-train run``: queued, then a live process, then an exit code."""

    experiment: str
    fresh: bool
    output: Path
    process: subprocess.Popen[bytes] | None = None
    returncode: int | None = None
    started_at: float = 0.0

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def output_tail(self, lines: int = 12) -> str:
        """The end of what the process printed: its error when it died before its run dir."""
        tail = LogTail(self.output, keep=lines)
        tail.read_new()
        return "\n".join(tail.recent)


class Launcher:
    """A queue of launches, at most ``max_parallel`` of them running at once."""

    def __init__(
        self,
        manifest: Path,
        runs_dir: Path,
        max_parallel: int = 1,
        sweeps: frozenset[str] = frozenset(),
    ) -> None:
        self.manifest = Path(manifest).absolute()
        self.sweeps = sweeps  # names launched as `sousa-train sweep NAME`
        self.runs_dir = Path(runs_dir).absolute()
        self.max_parallel = max(1, max_parallel)
        self.queue: deque[Launch] = deque()
        self.running: dict[str, Launch] = {}

    def command(self, experiment: str, fresh: bool) -> list[str]:
        """The ``sousa-train run`` argument list, with this console's manifest and runs folder;
        a sweep's is ``sousa-train sweep``, which always continues its study."""
        command = "sweep" if experiment in self.sweeps else "run"
        argv = [sys.executable, "-m", "sousa_train.cli", command, experiment]
        argv += ["--manifest", str(self.manifest), "--runs-dir", str(self.runs_dir)]
        return [*argv, "--fresh"] if fresh and command == "run" else argv

    def is_pending(self, experiment: str) -> bool:
        return experiment in self.running or any(q.experiment == experiment for q in self.queue)

    def enqueue(self, experiment: str, fresh: bool = False) -> Launch:
        output = self.runs_dir / OUTPUT_DIR / f"{experiment}.out"
        launch = Launch(experiment, fresh, output)
        self.queue.append(launch)
        return launch

    def dequeue(self, experiment: str) -> bool:
        """Drop a launch that has not started; True if there was one."""
        for launch in self.queue:
            if launch.experiment == experiment:
                self.queue.remove(launch)
                return True
        return False

    def tick(self) -> list[Launch]:
        """Reap ended processes and start queued ones; returns the launches that ended."""
        ended = []
        for name, launch in list(self.running.items()):
            assert launch.process is not None
            code = launch.process.poll()
            if code is not None:
                launch.returncode = code
                ended.append(self.running.pop(name))
        while self.queue and len(self.running) < self.max_parallel:
            launch = self.queue.popleft()
            self._start(launch)
            self.running[launch.experiment] = launch
        return ended

    def _start(self, launch: Launch) -> None:
        launch.output.parent.mkdir(parents=True, exist_ok=True)
        launch.started_at = time.time()
        with open(launch.output, "wb") as out:
            launch.process = subprocess.Popen(
                self.command(launch.experiment, launch.fresh),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )


def stop_process(pid: int, kill: bool = False) -> bool:
    """SIGTERM (the run checkpoints and exits) or SIGKILL a run's process group.

    A run started outside the console may share a group with its shell; then only the
    process itself is signalled. False if the process is already gone.
    """
    sig = signal.SIGKILL if kill else signal.SIGTERM
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True
