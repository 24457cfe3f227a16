"""Metric charts: one run or several overlaid, against step or wall time, optionally smoothed.

Each line is reduced to about two points per column before plotext draws it, so the cost
of a chart depends on its width, not on how long the run has been going. Smoothing,
reduction and plotext run in a plotting process of its own (``plotting``), paced so the
four charts together take about a quarter of a core; a worker thread here waits for it and
turns its text into screen lines, and the UI thread only copies the points and, when
drawing, indexes ready-made lines.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from functools import partial

from plotext._dict import themes
from rich.console import Console
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid
from textual.strip import Strip
from textual.timer import Timer
from textual_plotext import PlotextPlot

from sousa_tui.state.runs import LiveRun
from sousa_tui.widgets.plotting import ChartOptions, Figure, Line, draw

# (chart title, the series it draws); a series a run does not log is simply absent.
CHARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loss", ("train/loss", "val/loss")),
    ("accuracy", ("train/accuracy", "val/accuracy")),
    ("balanced accuracy", ("train/balanced_accuracy", "val/balanced_accuracy")),
    ("learning rate", ("lr",)),
)
COLORS = ("cyan", "orange", "green", "magenta", "blue", "red", "yellow", "white")
SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)
# A chart rebuilds at most every MIN_BUILD_INTERVAL_SEC, and then only after waiting
# BUILD_DUTY_FACTOR times as long as its last build took: this keeps the four charts
# together to about a quarter of a core however many runs are overlaid. Builds take turns
# (one lock for every chart): there is one plotting process.
MIN_BUILD_INTERVAL_SEC = 0.5
BUILD_DUTY_FACTOR = 4.0 * len(CHARTS)
_BUILDING = threading.Lock()


class MetricChart(PlotextPlot):
    """One chart; redraws only when its runs, their data, the options or its size change."""

    def __init__(self, title: str, names: Sequence[str], **kwargs: str) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.names = tuple(names)
        self._drawn: tuple[object, ...] | None = None
        self._lines: list[Line] = []
        self._options = ChartOptions()
        self._scale = (1.0, "step")
        self._strips: list[Strip] = []
        self._generation = 0  # bumped per build request; older builds are dropped
        self._shown = 0  # the generation on screen
        self._next_build = 0.0  # monotonic time before which a new build waits
        self._deferred: Timer | None = None

    @property
    def pending(self) -> bool:
        """True while the newest data has not reached the screen."""
        return self._shown != self._generation

    @property
    def text(self) -> str:
        """What the chart shows, as plain text."""
        return "\n".join(strip.text for strip in self._strips)

    def draw(self, runs: Sequence[LiveRun], options: ChartOptions) -> None:
        """Take a copy of the runs' points (the caller holds the catalog lock) and rebuild."""
        key = (tuple((r.root, r.version) for r in runs), options)
        if key == self._drawn:
            return
        self._drawn = key
        self._options = options
        self._scale = _time_scale(runs) if options.x_axis == "time" else (1.0, "step")
        self._lines = []
        for run in runs:
            for name in self.names:
                series = run.series.get(name)
                if series:
                    label = name.split("/")[0] if len(runs) == 1 else f"{run.experiment} {name}"
                    color = COLORS[len(self._lines) % len(COLORS)]
                    self._lines.append(Line(label, list(series.points), color))
        self._request_build()

    def on_resize(self) -> None:
        self._request_build()

    def _request_build(self) -> None:
        """Build now, or once the pause after the last build is over (newest data wins)."""
        self._generation += 1
        delay = self._next_build - time.monotonic()
        if delay <= 0:
            self._start_build()
        elif self._deferred is None:
            self._deferred = self.set_timer(delay, self._start_build)

    def _start_build(self) -> None:
        self._deferred = None
        self._next_build = time.monotonic() + MIN_BUILD_INTERVAL_SEC  # until the build says
        theme = self._get_plotext_theme_name(self.app.theme)
        figure = Figure(
            self.title,
            self._lines,
            self._options,
            *self._scale,
            theme=theme,
            theme_spec=themes.get(theme),
            width=self.size.width,
            height=self.size.height,
        )
        job = partial(self._build, self._generation, figure)
        self.run_worker(job, thread=True, group=f"build-{self.id}")

    def _build(self, generation: int, figure: Figure) -> None:
        with _BUILDING:
            if generation != self._generation:
                return  # a newer build is already asked for
            started = time.monotonic()
            strips = self._render(figure) if figure.width and figure.height else []
            cost = time.monotonic() - started
            self._next_build = started + max(MIN_BUILD_INTERVAL_SEC, BUILD_DUTY_FACTOR * cost)
        with contextlib.suppress(RuntimeError):  # the app is closing
            self.app.call_from_thread(self._show, generation, strips)

    def _render(self, figure: Figure) -> list[Strip]:
        """plotext's text from the plotting process, as screen lines (Rich, in this thread)."""
        text = Text.from_ansi(draw(figure))
        console = Console(width=figure.width, color_system="truecolor", force_terminal=True)
        options = console.options.update(width=figure.width, height=figure.height)
        lines = console.render_lines(text, options, pad=True, new_lines=False)
        return [Strip(segments, figure.width) for segments in lines]

    def _show(self, generation: int, strips: list[Strip]) -> None:
        if generation >= self._shown:
            self._shown, self._strips = generation, strips
            self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width)


def _time_scale(runs: Sequence[LiveRun]) -> tuple[float, str]:
    longest = max((r.wall_sec or 0.0 for r in runs), default=0.0)
    if longest > 2 * 3600:
        return 3600.0, "wall time (h)"
    if longest > 600:
        return 60.0, "wall time (min)"
    return 1.0, "wall time (s)"


class ChartGrid(Grid):
    """The four metric charts in a 2x2 grid."""

    def compose(self) -> ComposeResult:
        for i, (title, names) in enumerate(CHARTS):
            yield MetricChart(title, names, id=f"chart-{i}")

    def draw(self, runs: Sequence[LiveRun], options: ChartOptions) -> None:
        for chart in self.query(MetricChart):
            chart.draw(runs, options)
