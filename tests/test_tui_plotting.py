"""Charts are plotted in a process of their own; if it dies the console keeps its charts,
drawn in the calling thread, and the picture is the same."""

from __future__ import annotations

import os
import signal

import pytest

from sousa_tui.widgets import plotting
from sousa_tui.widgets.plotting import ChartOptions, Figure, Line


def test_a_killed_plotting_process_falls_back_to_the_same_picture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plotting, "_POOL", None)  # a pool of its own, not the suite's
    points = [(step, step / 10, 1.0 / step) for step in range(1, 200)]
    figure = Figure(
        "loss", [Line("loss", points, "cyan")], ChartOptions(), 1.0, "step", "dark", None, 60, 15
    )
    drawn = plotting.draw(figure)
    assert "loss" in drawn
    pool = plotting._POOL
    assert isinstance(pool, plotting.ProcessPoolExecutor)
    for process in list(pool._processes.values()):
        os.kill(process.pid, signal.SIGKILL)
    assert plotting.draw(figure) == drawn
    assert plotting.draw(figure) == drawn and plotting._POOL is plotting._LOCAL
    pool.shutdown()
