"""Metric charts: one run or several overlaid, against step or wall time, optionally smoothed.

Each line is reduced to about two points per column before plotext draws it, so the cost
of a redraw depends on the chart's width, not on how long the run has been going.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Grid
from textual_plotext import PlotextPlot

from sousa_tui.runs import RunSummary
from sousa_tui.series import min_max_buckets, smooth

# (chart title, the series it draws); a series a run does not log is simply absent.
CHARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loss", ("train/loss", "val/loss")),
    ("accuracy", ("train/accuracy", "val/accuracy")),
    ("balanced accuracy", ("train/balanced_accuracy", "val/balanced_accuracy")),
    ("learning rate", ("lr",)),
)
COLORS = ("cyan", "orange", "green", "magenta", "blue", "red", "yellow", "white")
SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class ChartOptions:
    """How every chart draws: x axis ``step`` or ``time``, and the EMA weight."""

    x_axis: str = "step"
    smoothing: float = 0.0


class MetricChart(PlotextPlot):
    """One chart; redraws only when its runs, their data, the options or its width change."""

    def __init__(self, title: str, names: Sequence[str], **kwargs: str) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.names = tuple(names)
        self._drawn: tuple[object, ...] | None = None

    def draw(self, runs: Sequence[RunSummary], options: ChartOptions) -> None:
        key = (tuple((r.root, r.version) for r in runs), options, self.size.width)
        if key == self._drawn:
            return
        self._drawn = key
        plt = self.plt
        plt.clear_data()
        plt.title(self.title)
        time_axis = options.x_axis == "time"
        scale, unit = _time_scale(runs) if time_axis else (1.0, "step")
        plt.xlabel(unit)
        color = 0
        for run in runs:
            for name in self.names:
                series = run.series.get(name)
                if not series:
                    continue
                points = series.points
                ys = smooth([p[2] for p in points], options.smoothing)
                smoothed = [(p[0], p[1], y) for p, y in zip(points, ys, strict=True)]
                shown = min_max_buckets(smoothed, max(8, self.size.width))
                xs = [p[1] / scale if time_axis else p[0] for p in shown]
                label = name.split("/")[0] if len(runs) == 1 else f"{run.experiment} {name}"
                plt.plot(
                    xs,
                    [p[2] for p in shown],
                    label=label,
                    marker="braille",
                    color=COLORS[color % len(COLORS)],
                )
                color += 1
        self.refresh()


def _time_scale(runs: Sequence[RunSummary]) -> tuple[float, str]:
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

    def draw(self, runs: Sequence[RunSummary], options: ChartOptions) -> None:
        for chart in self.query(MetricChart):
            chart.draw(runs, options)
