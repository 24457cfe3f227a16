"""Drawing a chart with plotext, in a process of its own.

plotext is pure Python: eight overlaid runs cost it about 25 ms a chart, four charts per
refresh, and in a thread that time holds the GIL the UI thread needs to answer keys and
paint (frame lag). So one spawned process smooths, reduces and plots; the console sends the
points (a copy, at most 1,024 per series) and gets plotext's ANSI text back.
"""

from __future__ import annotations

import atexit
import multiprocessing
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from sousa_tui.state.series import Point, min_max_buckets, smooth


class _InThread(Executor):
    """What draws once the plotting process is gone: the caller's own thread."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


_LOCAL = _InThread()
_POOL: Executor | None = None
_FIGURE: Any = None  # the plotting process's one plotext figure


@dataclass(frozen=True)
class ChartOptions:
    """How every chart draws: x axis ``step`` or ``time``, and the EMA weight."""

    x_axis: str = "step"
    smoothing: float = 0.0


@dataclass(frozen=True)
class Line:
    """One series to draw: a copy of its points, taken while the catalog was locked."""

    label: str
    points: list[Point]
    color: str


@dataclass(frozen=True)
class Figure:
    """Everything one build needs, as plain data that pickles: the theme goes with its
    plotext definition, which the console registered from its own colours."""

    title: str
    lines: list[Line]
    options: ChartOptions
    time_scale: float
    xlabel: str
    theme: str
    theme_spec: Any
    width: int
    height: int


def plot_ansi(figure: Figure) -> str:
    """The chart as plotext's ANSI text; runs in the plotting process."""
    global _FIGURE
    from plotext._dict import themes
    from textual_plotext.plot import Plot

    if _FIGURE is None:
        _FIGURE = Plot()
    if figure.theme_spec is not None:
        themes[figure.theme] = figure.theme_spec
    plt = _FIGURE
    plt.clear_data()
    plt.title(figure.title)
    plt.xlabel(figure.xlabel)
    time_axis = figure.options.x_axis == "time"
    for line in figure.lines:
        ys = smooth([p[2] for p in line.points], figure.options.smoothing)
        smoothed = [(p[0], p[1], y) for p, y in zip(line.points, ys, strict=True)]
        shown = min_max_buckets(smoothed, max(8, figure.width))
        xs = [p[1] / figure.time_scale if time_axis else p[0] for p in shown]
        plt.plot(xs, [p[2] for p in shown], label=line.label, marker="braille", color=line.color)
    plt.plotsize(figure.width, figure.height)
    plt._set_size(figure.width, figure.height)  # textual-plotext's own render does the same
    plt.theme(figure.theme)
    return plt.build()


def start() -> None:
    """Start the plotting process now, before the app takes over stdout and stderr
    (multiprocessing hands the new process our stderr's file descriptor). One process for
    the console's life; spawned, not forked, since the console has threads."""
    global _POOL
    if _POOL is None:
        _POOL = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_POOL.shutdown, cancel_futures=True)
        _POOL.submit(int)  # a pool starts its process with the first task


def draw(figure: Figure) -> str:
    """Blocks the calling (worker) thread until the plotting process has drawn ``figure``.

    Should that process die (killed, out of memory), the charts are drawn in this thread
    from then on: slower for the UI, but the console keeps its charts.
    """
    global _POOL
    start()
    assert _POOL is not None
    try:
        return _POOL.submit(plot_ansi, figure).result()
    except BrokenProcessPool:
        _POOL = _LOCAL
        return plot_ansi(figure)
