"""The live view of the highlighted run: headline, progress with ETA, charts, log tail."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Log, ProgressBar, Static

from sousa_train.rundir.tail import LogTail
from sousa_tui.state.runs import LiveRun
from sousa_tui.widgets.charts import ChartGrid, ChartOptions
from sousa_tui.widgets.formatting import duration

STATE_STYLE = {
    "running": "green",
    "finished": "blue",
    "failed": "red",
    "stopped": "yellow",
    "pruned": "magenta",
}


class LivePanel(Vertical):
    """Follows one run (plus any selected for overlay), reading only what its files added."""

    def __init__(self, **kwargs: str) -> None:
        super().__init__(**kwargs)
        self._log_tail: LogTail | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="run-title")
        yield Static(id="run-error")
        with Horizontal(id="progress-row"):
            yield ProgressBar(id="progress", show_eta=False)
            yield Static(id="progress-text")
        yield ChartGrid(id="charts")
        yield Log(id="log", max_lines=500)

    def show(
        self,
        run: LiveRun | None,
        overlay: Sequence[LiveRun],
        options: ChartOptions,
        note: str | None = None,
    ) -> None:
        """Bring every part up to date; ``note`` is a launch failure that left no run dir."""
        self.query_one("#run-title", Static).update(_title(run))
        error = run.error if run and run.state == "failed" else None
        message = note or error
        error_box = self.query_one("#run-error", Static)
        error_box.display = bool(message)
        error_box.update(escape(message or ""))
        self._show_progress(run)
        runs = [run, *[r for r in overlay if r is not run]] if run else list(overlay)
        self.query_one(ChartGrid).draw(runs, options)
        self._show_log(run)

    def _show_progress(self, run: LiveRun | None) -> None:
        bar = self.query_one("#progress", ProgressBar)
        text = self.query_one("#progress-text", Static)
        if run is None or not run.total_steps:
            bar.update(total=None, progress=0)
            text.update("")
            return
        bar.update(total=run.total_steps, progress=run.step)
        parts = [f"step {run.step}/{run.total_steps}", f"epoch {run.epoch}"]
        if run.samples_per_sec is not None:
            parts.append(f"{run.samples_per_sec:.1f} samples/s")
        if run.live and run.eta_sec is not None:
            parts.append(f"ETA {duration(run.eta_sec)}")
        text.update("  ".join(parts))

    def _show_log(self, run: LiveRun | None) -> None:
        log = self.query_one("#log", Log)
        path = run.dir.log if run else None
        if self._log_tail is None or self._log_tail.lines.path != path:
            log.clear()
            self._log_tail = LogTail(path) if path else None
            if self._log_tail is None:
                return
            self._log_tail.read_new()
            log.write_lines(self._log_tail.recent)
            return
        new = self._log_tail.read_new()
        if new:
            log.write_lines(new)


def _title(run: LiveRun | None) -> str:
    if run is None:
        return "no run yet: [b]enter[/b] starts the highlighted experiment"
    style = STATE_STYLE.get(run.state, "white")
    info = run.info
    what = f"  {info.model}, {info.strategy}, {info.data}" if info else ""
    return f"[b]{escape(run.experiment)}[/b] {run.run_id}  [{style}]{run.state}[/]{escape(what)}"
