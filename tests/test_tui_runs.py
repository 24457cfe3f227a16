"""The console driving real `sousa-train run smoke` processes through Textual's pilot.

Launch, watch metrics arrive, stop (it checkpoints), a queued run that crashes, resume, kill;
and a run started outside the console, picked up on opening, then killed from outside.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Log, Static

from sousa_train.config.manifest import load_manifest
from sousa_train.rundir.layout import read_json
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.tail import iter_events
from sousa_tui.app import SousaApp
from sousa_tui.widgets.experiments import ExperimentsTable
from tests.waiting import wait_for, wait_until

REPO = Path(__file__).resolve().parents[1]
SIZE = (150, 45)
BROKEN = """
[datasets.missing]
path = "/nonexistent/sousa-set"

[experiments.broken]
model = "efficientat"
variant = "tiny"
data = "missing"
"""


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One cache folder for the module, seen by every run the console launches."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOUSA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def manifest_path(tmp_path: Path) -> Path:
    """The repository's manifest plus an experiment whose data set does not exist."""
    path = tmp_path / "experiments.toml"
    path.write_text((REPO / "experiments.toml").read_text() + BROKEN)
    return path


def highlight(app: SousaApp, name: str) -> ExperimentsTable:
    table = app.screen.query_one(ExperimentsTable)
    table.move_cursor(row=table.get_row_index(name))
    return table


def panel_text(app: SousaApp, widget_id: str) -> str:
    return str(app.screen.query_one(widget_id, Static).render())


def log_has(app: SousaApp, text: str) -> bool:
    return any(text in line for line in app.screen.query_one("#log", Log).lines)


async def test_launch_watch_stop_queue_crash_resume_kill(
    cache_env: None, manifest_path: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    app = SousaApp(load_manifest(manifest_path), runs)
    async with app.run_test(size=SIZE) as pilot:
        session = app.session
        await wait_until(pilot, lambda: app.screen.query_one(ExperimentsTable).row_count, "rows")
        table = highlight(app, "smoke")
        await pilot.press("enter")
        assert table.get_cell("smoke", "state") in ("starting", "queued")

        def smoke():
            return session.catalog.latest("smoke")

        await wait_until(pilot, lambda: smoke() is not None and smoke().step >= 2, "metrics")
        assert "train/loss" in smoke().series and smoke().state == "running"
        assert table.get_cell("smoke", "state") == "running"
        assert "samples/s" in panel_text(app, "#progress-text")

        highlight(app, "broken")
        await pilot.press("enter")  # one at a time: it waits for smoke
        assert table.get_cell("broken", "state") == "queued"

        highlight(app, "smoke")
        await pilot.press("s")
        await wait_until(pilot, lambda: smoke().state == "stopped", "a graceful stop")
        stopped_at = smoke().step
        assert smoke().dir.last_ckpt.is_file()

        # The queue starts broken now; it fails, and the console shows why.
        highlight(app, "broken")
        await wait_until(
            pilot, lambda: table.get_cell("broken", "state") == "failed", "the crash", 60
        )
        await wait_until(
            pilot, lambda: "data set folder not found" in panel_text(app, "#run-error"), "why"
        )
        await wait_until(pilot, lambda: log_has(app, "DatasetError"), "the log's traceback")

        highlight(app, "smoke")
        await pilot.press("r")
        await wait_until(pilot, lambda: smoke().step > stopped_at, "metrics after resuming")
        assert len(find_runs(runs, "smoke")) == 1  # resumed in place, not a new run
        starts = [e for e in iter_events(smoke().dir.events) if e["kind"] == "start"]
        assert [e["resumed"] for e in starts] == [False, True]

        await pilot.press("k")
        await wait_until(pilot, lambda: smoke().state == "failed", "the kill")
        await wait_until(
            pilot, lambda: "ended without a final status" in panel_text(app, "#run-error"), "why"
        )
        assert app.is_running


async def test_reopening_finds_a_run_in_progress_and_a_kill_from_outside(
    cache_env: None, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    manifest = REPO / "experiments.toml"
    cmd = [sys.executable, "-m", "sousa_train.cli", "run", "smoke", "--manifest", str(manifest)]
    proc = subprocess.Popen(
        [*cmd, "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for(
            lambda: (
                proc.poll() is not None
                or any(
                    e["kind"] == "metric"
                    for r in find_runs(runs, "smoke")
                    for e in iter_events(r.events)
                )
            ),
            "the run's first metric",
        )
        assert proc.poll() is None, "the run ended before it logged a metric"

        app = SousaApp(load_manifest(manifest), runs)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.screen.query_one(ExperimentsTable).row_count, "")
            table = highlight(app, "smoke")
            await wait_until(pilot, lambda: table.get_cell("smoke", "state") == "running", "pickup")
            assert table.get_cell("smoke", "done") != "-"
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            await wait_until(pilot, lambda: table.get_cell("smoke", "state") == "failed", "failed")
            why = f"process {proc.pid} ended without a final status"
            await wait_until(pilot, lambda: why in panel_text(app, "#run-error"), "why")
            await wait_until(pilot, lambda: log_has(app, "run directory"), "the log tail")

            await pilot.press("f")  # a fresh run, one key away
            await wait_until(pilot, lambda: len(find_runs(runs, "smoke")) == 2, "a fresh run dir")
            await pilot.press("k")
            await wait_until(pilot, lambda: not app.session.live_names(), "the kill")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def test_a_launch_that_dies_before_its_run_dir_shows_its_output(
    manifest_path: Path, tmp_path: Path
) -> None:
    app = SousaApp(load_manifest(manifest_path), tmp_path / "runs")
    manifest_path.write_text("[experiments.smoke\n")  # broken after the console read it
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.query_one(ExperimentsTable).row_count, "rows")
        table = highlight(app, "smoke")
        await pilot.press("enter")
        await wait_until(pilot, lambda: table.get_cell("smoke", "state") == "-", "the exit", 60)
        await wait_until(
            pilot, lambda: "before its run started" in panel_text(app, "#run-error"), "why"
        )
        error = panel_text(app, "#run-error")
        assert "exited with code 2 before its run started" in error
        assert str(manifest_path) in error
        assert app.is_running


TWO_BROKEN = """
[defaults]
strategy = "from_scratch"

[datasets.missing]
path = "/nonexistent/sousa-set"

[experiments.broken-a]
model = "efficientat"
variant = "tiny"
data = "missing"

[experiments.broken-b]
model = "efficientat"
variant = "tiny"
data = "missing"
"""


def status_of(runs: Path, name: str) -> list[dict]:
    """The status of each run of ``name`` that has written one yet (a run directory is listed
    from its first file, a moment before its status exists)."""
    return [s for r in find_runs(runs, name) if (s := read_json(r.status)) is not None]


async def test_plus_minus_set_how_many_start_and_s_unqueues(tmp_path: Path) -> None:
    """Two runs that fail after a few seconds of imports: with `+` they overlap, with `-` the
    second waits, and `s` on the waiting row takes it out of the queue for good."""
    manifest = tmp_path / "experiments.toml"
    manifest.write_text(TWO_BROKEN)
    runs = tmp_path / "runs"
    app = SousaApp(load_manifest(manifest), runs)
    async with app.run_test(size=SIZE) as pilot:
        launcher = app.session.launcher
        await wait_until(pilot, lambda: app.screen.query_one(ExperimentsTable).row_count, "rows")
        await pilot.press("plus")
        assert launcher.max_parallel == 2 and "2 at once" in app.screen.sub_title
        for name in ("broken-a", "broken-b"):
            highlight(app, name)
            await pilot.press("enter")
        # Both processes are live at once: a failed one stays in `running` until it is reaped,
        # and a start takes seconds of imports, far longer than the two key presses.
        await wait_until(pilot, lambda: len(launcher.running) == 2, "both processes running")
        await wait_until(
            pilot,
            lambda: all(
                s and s[0]["state"] == "failed"
                for s in (status_of(runs, "broken-a"), status_of(runs, "broken-b"))
            ),
            "both runs to fail",
        )

        await wait_until(pilot, lambda: not launcher.running, "both processes reaped")
        await pilot.press("minus")
        assert launcher.max_parallel == 1 and "1 at once" in app.screen.sub_title
        table = highlight(app, "broken-a")
        await pilot.press("enter")
        # The launcher starts queued runs on its next tick: wait for a's, so b queues behind it.
        await wait_until(pilot, lambda: "broken-a" in launcher.running, "a's rerun to start")
        table = highlight(app, "broken-b")
        await pilot.press("enter")
        assert table.get_cell("broken-b", "state") == "queued"
        await pilot.press("s")
        assert "removed from the queue" in str(list(app._notifications)[-1].message)
        assert not launcher.queue and table.get_cell("broken-b", "state") == "failed"
        await wait_until(pilot, lambda: len(status_of(runs, "broken-a")) == 2, "a's rerun")
        await wait_until(pilot, lambda: not launcher.running, "a's rerun to end")
        assert len(find_runs(runs, "broken-b")) == 1  # never started again
