"""What one console session knows and does, apart from how it is drawn.

The run catalog (from the files), the launcher (the processes this console started) and the
few facts that exist only in the console (stop requests, launch failures that left no run
directory) meet here, so screens stay thin and the rules can be read in one place.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sousa_train.config.manifest import Manifest
from sousa_train.rundir.status import pid_alive
from sousa_tui.state.catalog import RunCatalog
from sousa_tui.state.launcher import Launch, Launcher, stop_process
from sousa_tui.state.runs import LiveRun
from sousa_tui.widgets import formatting as fmt


class Refused(Exception):
    """An action the console will not take, with the sentence saying why."""


class Session:
    """Catalog, launcher and console-only facts; ``lock`` guards them between threads."""

    def __init__(self, manifest: Manifest, runs_dir: Path, max_parallel: int = 1) -> None:
        self.manifest = manifest
        self.runs_dir = Path(runs_dir)
        self.catalog = RunCatalog(self.runs_dir)
        sweeps = frozenset(manifest.sweeps)
        self.launcher = Launcher(manifest.path, self.runs_dir, max_parallel, sweeps)
        self.lock = threading.Lock()  # the file worker and the UI share catalog and launcher
        self.stops: dict[int, int] = {}  # pid -> stop requests; the second one kills
        self.notes: dict[str, str] = {}  # launch failures that left no run directory
        self.marked: Path | None = None  # run A of a comparison (space in results or matrix)

    def poll(self) -> list[Launch]:
        """Reap and start processes, read new file contents; returns launches that ended."""
        with self.lock:
            ended = self.launcher.tick()
        self.catalog.refresh(self.lock)
        with self.lock:
            for launch in ended:
                self._note_failure(launch)
            # A pid is reused once its process is gone: forget stop requests made to it.
            self.stops = {pid: n for pid, n in self.stops.items() if pid_alive(pid)}
        return ended

    def _note_failure(self, launch: Launch) -> None:
        """A launch that failed before touching its run directory leaves its output's end."""
        run = self.catalog.latest(launch.experiment)
        touched = run is not None and (run.last_event or 0.0) >= launch.started_at
        if launch.returncode != 0 and not touched:
            self.notes[launch.experiment] = (
                f"sousa-train exited with code {launch.returncode} before its run started:\n"
                + launch.output_tail()
            )

    # -- reading ------------------------------------------------------------------------------

    def names(self, needle: str = "") -> list[str]:
        """The manifest's experiments and sweeps, then any others found on disk; filtered by
        ``needle``."""
        names = [*self.manifest.experiments, *self.manifest.sweeps]
        names += [n for n in self.catalog.experiments() if n not in names]
        needle = needle.lower()
        return [n for n in names if not needle or needle in self.describe(n).lower()]

    def describe(self, name: str) -> str:
        """Everything a filter matches against: the name, model, strategy and data set."""
        if name in self.manifest.sweeps:
            return f"{name} sweep of {self.describe(self.manifest.sweeps[name].experiment)}"
        cfg = self.manifest.experiments.get(name)
        if cfg is not None:
            return f"{name} {cfg.model}/{cfg.variant} {cfg.strategy} {cfg.data.name}"
        run = self.catalog.latest(name)
        info = run.info if run else None
        return f"{name} {info.model} {info.strategy} {info.data}" if info else name

    def state(self, name: str) -> str:
        """The latest run's own state, or what the console is doing about it."""
        run = self.catalog.latest(name)
        if any(q.experiment == name for q in self.launcher.queue):
            return "queued"
        pid = self.live_pid(name)
        if pid is not None and self.stops.get(pid):
            return "stopping"
        launch = self.launcher.running.get(name)
        if launch is not None and not (run and run.live and run.pid == launch.pid):
            return "starting"
        if name in self.manifest.sweeps and not (run and run.live):
            return self.sweep_progress(name)
        return run.state if run else fmt.MISSING

    def sweep_progress(self, name: str) -> str:
        """``done/target trials``, from the trials' run directories."""
        done = sum(r.state in ("finished", "pruned") for r in self.catalog.runs_of(name))
        return f"{done}/{self.manifest.sweeps[name].trials} trials"

    def best_trial(self, name: str) -> LiveRun | None:
        """The trial with the best validation balanced accuracy: a sweep row's figures."""
        scored = [r for r in self.catalog.runs_of(name) if r.best_val_bacc is not None]
        return max(scored, key=lambda r: r.best_val_bacc or 0.0, default=None)

    def live_pid(self, name: str) -> int | None:
        run = self.catalog.latest(name)
        if run is not None and run.live:
            return run.pid
        launch = self.launcher.running.get(name)
        return launch.pid if launch else None

    def note(self, name: str) -> str | None:
        """A launch failure to show for ``name``, unless a run of it is going now."""
        run = self.catalog.latest(name)
        return None if run and run.live else self.notes.get(name)

    def live_names(self) -> set[str]:
        return {r.experiment for r in self.catalog.live()} | set(self.launcher.running)

    # -- acting -------------------------------------------------------------------------------

    def launch(self, name: str, mode: str) -> str:
        """Queue ``sousa-train run``: mode ``start`` (resumes if unfinished), ``resume`` (only
        if there is something to resume) or ``fresh``; returns what happened."""
        if name in self.manifest.sweeps:
            if mode == "resume":
                raise Refused(f"{name} is a sweep: enter continues its study.")
            mode = "start"
        elif name not in self.manifest.experiments:
            raise Refused(f"{name} is not in {self.manifest.path}; its runs are read-only here.")
        if self.launcher.is_pending(name) or self.live_pid(name) is not None:
            raise Refused(f"{name} is already queued or running.")
        run = self.catalog.latest(name)
        unfinished = run is not None and run.state != "finished" and run.dir.last_ckpt.is_file()
        if mode == "resume" and not unfinished:
            raise Refused(
                f"{name}: no unfinished run with a checkpoint to resume; enter starts one."
            )
        if mode == "fresh":
            what = "starting a fresh run"
        elif unfinished and run is not None:
            what = f"resuming {run.run_id}"
        else:
            what = "starting"
        with self.lock:
            self.launcher.enqueue(name, fresh=mode == "fresh")
            self.notes.pop(name, None)
            waiting = len(self.launcher.queue) + len(self.launcher.running)
        return f"{name}: {what}" + (" (queued)" if waiting > self.launcher.max_parallel else "")

    def stop(self, name: str, kill: bool = False) -> str:
        """Unqueue, stop gracefully (SIGTERM: the run checkpoints) or, the second time, kill."""
        with self.lock:
            if self.launcher.dequeue(name):
                return f"{name}: removed from the queue"
        pid = self.live_pid(name)
        if pid is None:
            raise Refused(f"{name}: nothing is running.")
        self.stops[pid] = self.stops.get(pid, 0) + 1
        kill = kill or self.stops[pid] > 1
        stop_process(pid, kill=kill)
        if kill:
            return f"{name}: killed (pid {pid})"
        return f"{name}: stopping after this batch (it saves a checkpoint); s again kills"

    def set_parallel(self, change: int) -> None:
        with self.lock:
            self.launcher.max_parallel = max(1, self.launcher.max_parallel + change)

    def latest(self, name: str | None) -> LiveRun | None:
        return self.catalog.latest(name) if name else None
