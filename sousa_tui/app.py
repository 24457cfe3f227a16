"""`sousa-tui`: launch, queue and watch runs. Reads the manifest and run directories; never torch.

A thread worker reads the files (toolong's way: the UI never waits on disk) and hands each
refresh to the UI thread; the hand-over blocks until the UI has drawn it, so a busy UI
slows the reading instead of queueing up stale refreshes.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import get_current_worker

from sousa_train.config.manifest import DEFAULT_MANIFEST, Manifest, ManifestError, load_manifest
from sousa_train.rundir.layout import RunDir
from sousa_tui.evaluation import EvalScreen
from sousa_tui.screens.confirm import ConfirmScreen
from sousa_tui.screens.help import HelpScreen, binding_rows
from sousa_tui.screens.main import MainScreen
from sousa_tui.state.follow import Follower, follow_dir
from sousa_tui.state.launcher import Launch
from sousa_tui.state.session import Session
from sousa_tui.widgets import plotting

REFRESH_SEC = 0.5
# Young-generation collections every 10,000 allocations instead of 700, and older ones
# rarer: with 8 runs at 100 events/s the defaults made full collections of 30-70 ms every
# few seconds, the worst frame lags; measured with bench/tui_lag.py (README, "The console").
GC_THRESHOLDS = (10_000, 50, 50)


class SousaApp(App[None]):
    """Owns the session and the file-reading worker; the screens draw what it finds."""

    TITLE = "SOUSAphone"
    CSS_PATH = "console.tcss"
    BINDINGS: ClassVar = [
        Binding("question_mark", "help", "Keys", id="help", key_display="?"),
        Binding("q", "request_quit", "Quit", id="quit"),
    ]

    def __init__(
        self,
        manifest: Manifest,
        runs_dir: Path,
        max_parallel: int = 1,
        open_run: Path | None = None,
        follower: Follower | None = None,
    ) -> None:
        super().__init__()
        gc.set_threshold(*GC_THRESHOLDS)
        plotting.start()
        self.session = Session(manifest, runs_dir, max_parallel)
        self.main_screen = MainScreen(self.session)
        self.open_run = open_run
        self.follower = follower
        self._follow_error: str | None = None

    def get_default_screen(self) -> MainScreen:
        return self.main_screen

    def on_mount(self) -> None:
        if self.follower is not None:
            self.sub_title = f"following {self.follower.url}"
            self.follower.start()
        self._watch_files()
        if self.open_run is not None:
            self.push_screen(EvalScreen(self.open_run))

    @work(thread=True, exclusive=True, group="files")
    def _watch_files(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            ended = self.session.poll()
            try:
                self.call_from_thread(self._after_poll, ended)
            except RuntimeError:  # the app is closing
                return
            time.sleep(REFRESH_SEC)

    def _after_poll(self, ended: list[Launch]) -> None:
        if not self.is_running:  # shutting down: the screens are being taken apart
            return
        for launch in ended:
            if note := self.session.notes.get(launch.experiment):
                self.notify(note, title=launch.experiment, severity="error", timeout=10)
        error = self.follower.error if self.follower else None
        if error and error != self._follow_error:
            self.notify(error, title="--follow", severity="warning", timeout=10)
        self._follow_error = error
        if self.screen is self.main_screen:  # a covered screen redraws when it shows again
            self.main_screen.refresh_view()

    def on_unmount(self) -> None:
        if self.follower is not None:
            self.follower.stop()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        bindings = [active.binding for active in self.screen.active_bindings.values()]
        self.push_screen(HelpScreen(binding_rows(bindings)))

    def action_request_quit(self) -> None:
        """Quit, asking first when runs are live: they keep running and are found next time."""
        live = self.session.live_names()
        if not live:
            self.exit()
            return
        queued = len(self.session.launcher.queue)
        question = (
            f"{len(live)} run(s) still going: {', '.join(sorted(live))}. They keep running "
            "and the console picks them up when it opens again."
            + (f" {queued} queued run(s) will not start." if queued else "")
            + "\n\nQuit?"
        )
        self.push_screen(ConfirmScreen(question), lambda yes: self.exit() if yes else None)


def _opened_run(path: str) -> Path:
    """The run directory given to ``--open``, or a one-paragraph reason it is not one."""
    run = RunDir(Path(path))
    if not run.config.is_file():
        raise ValueError(
            f"{run.root} is not a run directory: it has no config.json. Give a folder "
            "written by `sousa-train run`, such as runs/<experiment>/<run id> (`sousa-train "
            "runs` lists them)."
        )
    return run.root


def _manifest(path: str | None, open_run: Path | None, follow: str | None = None) -> Manifest:
    """The manifest; when only reading (a run opened, a mirror followed) and no manifest is
    at hand, an empty one."""
    reading = open_run is not None or follow is not None
    if path is None and reading and not DEFAULT_MANIFEST.is_file():
        return Manifest.empty(DEFAULT_MANIFEST)
    return load_manifest(Path(path or DEFAULT_MANIFEST))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sousa-tui", description="The SOUSAphone console.")
    parser.add_argument("--manifest", help=f"experiments file (default {DEFAULT_MANIFEST})")
    parser.add_argument(
        "--runs-dir", help="where run directories are (default runs, or the opened run's)"
    )
    parser.add_argument(
        "--parallel", type=int, default=1, help="runs the queue starts at once (default 1)"
    )
    parser.add_argument(
        "--open", metavar="RUN_DIR", help="open a run straight in the evaluation browser"
    )
    parser.add_argument(
        "--follow",
        metavar="URL",
        help="pull runs synced to URL (--sync-to) in the background and show them; into "
        "--runs-dir if given, else a folder in the cache",
    )
    args = parser.parse_args(argv)
    try:
        open_run = _opened_run(args.open) if args.open else None
        manifest = _manifest(args.manifest, open_run, args.follow)
        follower = None
        if args.follow:
            follower = Follower(args.follow, Path(args.runs_dir or follow_dir(args.follow)))
    except (ManifestError, ValueError) as exc:
        print(f"sousa-tui: {exc}", file=sys.stderr)
        return 2
    default = follower.dest if follower else open_run.parent.parent if open_run else "runs"
    runs_dir = Path(args.runs_dir or default)
    SousaApp(manifest, runs_dir, args.parallel, open_run, follower).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
