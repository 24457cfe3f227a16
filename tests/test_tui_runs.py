"""The console driving real `sousa-train run smoke` processes through Textual's pilot.

Launch, watch metrics arrive, stop (it checkpoints), a queued run that crashes, resume, kill;
and a run started outside the console, picked up on opening, then killed from outside.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.widgets import Log, Static

from sousa_train.config.manifest import load_manifest
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.tail import iter_events
from sousa_tui.app import SousaApp
from sousa_tui.widgets.experiments import ExperimentsTable

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


async def wait_until(
    pilot, condition: Callable[[], object], what: str, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.2)


def highlight(app: SousaApp, name: str) -> ExperimentsTable:
    table = app.screen.query_one(ExperimentsTable)
    table.move_cursor(row=table.get_row_index(name))
    return table


def panel_text(app: SousaApp, widget_id: str) -> str:
    return str(app.screen.query_one(widget_id, Static).render())


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
        await pilot.pause(0.6)
        assert "data set folder not found" in panel_text(app, "#run-error")
        assert any("DatasetError" in line for line in app.screen.query_one("#log", Log).lines)

        highlight(app, "smoke")
        await pilot.press("r")
        await wait_until(pilot, lambda: smoke().step > stopped_at, "metrics after resuming")
        assert len(find_runs(runs, "smoke")) == 1  # resumed in place, not a new run
        starts = [e for e in iter_events(smoke().dir.events) if e["kind"] == "start"]
        assert [e["resumed"] for e in starts] == [False, True]

        await pilot.press("k")
        await wait_until(pilot, lambda: smoke().state == "failed", "the kill")
        assert "ended without a final status" in panel_text(app, "#run-error")
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
        deadline = time.monotonic() + 120
        while not any(
            e["kind"] == "metric" for r in find_runs(runs, "smoke") for e in iter_events(r.events)
        ):
            assert time.monotonic() < deadline and proc.poll() is None, "the run never logged"
            time.sleep(0.2)

        app = SousaApp(load_manifest(manifest), runs)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.screen.query_one(ExperimentsTable).row_count, "")
            table = highlight(app, "smoke")
            await wait_until(pilot, lambda: table.get_cell("smoke", "state") == "running", "pickup")
            assert table.get_cell("smoke", "done") != "-"
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            await wait_until(pilot, lambda: table.get_cell("smoke", "state") == "failed", "failed")
            await pilot.pause(0.6)
            assert f"process {proc.pid} ended without a final status" in panel_text(
                app, "#run-error"
            )
            assert any("run directory" in line for line in app.screen.query_one("#log", Log).lines)

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
        await pilot.pause(0.6)
        error = panel_text(app, "#run-error")
        assert "exited with code 2 before its run started" in error
        assert str(manifest_path) in error
        assert app.is_running
