"""The console through Textual's pilot over run directories written here, and its snapshots.

Runs that really train are in test_tui_runs.py; these tests write the files a run writes
(with fixed timestamps, so snapshots are stable) to check what the console makes of them.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from textual.css.query import NoMatches
from textual.widgets import DataTable, Log
from textual.widgets.data_table import CellDoesNotExist

from sousa_train.config.manifest import Manifest, load_manifest
from sousa_train.rundir.layout import RunDir, write_json_atomic
from sousa_train.rundir.writer import RunLog
from sousa_tui.app import SousaApp
from sousa_tui.screens.confirm import ConfirmScreen
from sousa_tui.screens.help import HelpScreen
from sousa_tui.screens.main import MainScreen
from sousa_tui.screens.results import ResultsScreen
from sousa_tui.state.catalog import RunCatalog
from sousa_tui.widgets.charts import MetricChart
from sousa_tui.widgets.experiments import ExperimentsTable
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
T0 = 1_767_225_600.0  # fixed event times: wall times and snapshots never change
SIZE = (150, 45)


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest(REPO / "experiments.toml")


def write_run(
    runs: Path,
    experiment: str,
    run_id: str,
    *,
    steps: int = 40,
    state: str = "finished",
    pid: int = 1,
    test: float | None = 0.5,
    scale: float = 1.0,
) -> RunDir:
    """A run directory as ``sousa-train`` leaves it: config, events, status and log."""
    run = RunDir(runs / experiment / run_id)
    run.checkpoints.mkdir(parents=True)
    exp = {
        "name": experiment,
        "model": "efficientat",
        "variant": "tiny",
        "strategy": "from_scratch",
        "data": {"name": "demo-tiny"},
    }
    run.config.write_text(json.dumps({"experiment": exp, "parameters": {"trainable": 60_960}}))
    events: list[dict] = [{"t": T0, "kind": "start", "experiment": experiment, "pid": pid}]
    for step in range(2, steps + 1, 2):
        t = T0 + 3 * step
        loss = 3.7 * math.exp(-step / (30 * scale)) + 0.05 * math.sin(step)
        events.append(
            {
                "t": t,
                "kind": "metric",
                "step": step,
                "epoch": step // 10,
                "total_steps": 40,
                "train/loss": loss,
                "lr": 1e-3 * (1 - step / 41),
                "samples_per_sec": 10.0 + step % 3,
                "peak_mem_mb": 900.0 + step,
                "eta_sec": 3.0 * (40 - step),
            }
        )
        if step % 10 == 0:
            acc = 0.9 * (1 - math.exp(-step / (15 * scale)))
            events.append(
                {
                    "t": t + 1,
                    "kind": "epoch",
                    "epoch": step // 10 - 1,
                    "step": step,
                    "val/loss": loss + 0.2,
                    "val/accuracy": acc + 0.02,
                    "val/balanced_accuracy": acc,
                }
            )
    if test is not None:
        events.append({"t": T0 + 130, "kind": "eval", "split": "test", "balanced_accuracy": test})
    if state == "finished":
        events.append({"t": T0 + 131, "kind": "end", "reason": "completed"})
    run.events.write_text("".join(json.dumps(e) + "\n" for e in events))
    write_json_atomic(run.status, {"state": state, "pid": pid, "updated": T0 + 131})
    run.log.write_text("".join(f"12:00:{i:02d} INFO sousa_train: line {i}\n" for i in range(30)))
    return run


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def table_of(app: SousaApp) -> ExperimentsTable:
    return app.screen.query_one(ExperimentsTable)


def cell(app: SousaApp, name: str, column: str) -> str | None:
    """What the experiments table shows, or None while there is no such table or row yet."""
    try:
        return str(table_of(app).get_cell(name, column))
    except (CellDoesNotExist, NoMatches):
        return None


async def settle(pilot, *shown: tuple[str, str, str]) -> None:
    """Wait until the table shows each (experiment, column, value), then for the charts:
    the file worker has read those runs and the UI has drawn them."""
    app = pilot.app
    await wait_until(
        pilot,
        lambda: all(cell(app, *s[:2]) == s[2] for s in shown) and cell(app, "smoke", "state"),
        f"the table to show {shown}",
    )
    await charts_drawn(pilot)


async def charts_drawn(pilot) -> None:
    """Charts build in threads; wait until each shows its newest data."""
    await wait_until(
        pilot,
        lambda: not any(chart.pending for chart in pilot.app.screen.query(MetricChart)),
        "the charts to finish drawing",
    )


def test_console_import_pulls_in_no_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sousa_tui.app"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()]
    assert "sousa_tui.app" in modules
    heavy = ("torch", "torchaudio", "lightning", "optuna")
    assert not [m for m in modules if m.split(".")[0] in heavy]


async def test_experiments_pane_shows_latest_run_state_and_metrics(
    tmp_path: Path, manifest: Manifest
) -> None:
    run = RunDir(tmp_path / "smoke" / "20260101-000000-abcd")
    log = RunLog(run)
    run.config.write_text("{}")
    log.status("running")
    log.event("metric", step=5, total_steps=20, epoch=0, **{"train/loss": 3.0})
    app = SousaApp(manifest, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, ("smoke", "state", "running"), ("smoke", "done", "25%"))
        table = table_of(app)
        assert table.row_count == len(manifest.experiments) + len(manifest.sweeps)
        log.event("epoch", epoch=0, step=20, **{"val/balanced_accuracy": 0.5})
        log.event("eval", split="test", balanced_accuracy=0.42)
        log.status("finished")
        await settle(pilot, ("smoke", "state", "finished"), ("smoke", "test", "0.4200"))
        assert table.get_cell("smoke", "best val") == "0.5000"
        assert table.get_cell("demo-quick", "state") == "-"
        await pilot.press("q")
    assert not app.is_running


async def test_runs_from_elsewhere_are_listed_and_read_only(
    tmp_path: Path, manifest: Manifest
) -> None:
    write_run(tmp_path, "cloud-mn10", "20260101-000000-aaaa", test=0.61)
    app = SousaApp(manifest, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, ("cloud-mn10", "test", "0.6100"))
        table = table_of(app)
        table.move_cursor(row=table.get_row_index("cloud-mn10"))
        await pilot.press("enter")
        await pilot.pause()
        assert not app.session.launcher.queue and not app.session.launcher.running
        assert "read-only" in str(list(app._notifications)[-1].message)


def test_a_running_status_whose_process_is_gone_reads_failed_with_why(tmp_path: Path) -> None:
    write_run(tmp_path, "smoke", "20260101-000000-dead", state="running", pid=dead_pid())
    catalog = RunCatalog(tmp_path)
    catalog.refresh()
    run = catalog.latest("smoke")
    assert run is not None and run.state == "failed"
    assert run.error is not None and "ended without a final status" in run.error
    assert catalog.live() == []


async def test_slash_filters_by_name_or_model_and_escape_clears(
    tmp_path: Path, manifest: Manifest
) -> None:
    app = SousaApp(manifest, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", "m", "n", "1", "0")
        table = table_of(app)
        assert list(table._rows) == ["efficientat-mn10"]
        await pilot.press("enter")  # back to the table, filter kept
        assert table.has_focus and table.row_count == 1
        await pilot.press("slash", "escape")
        assert table.row_count == len(manifest.experiments) + len(manifest.sweeps)
        await pilot.press("slash", *"strokecnn")  # matches the model name alone
        # a sweep matches by its experiment's model too
        assert list(table._rows) == [
            "demo-quick",
            "strokes-pretrain",
            "strokes-finetune",
            "strokes-joint",
            "demo-quick-search",
        ]


async def test_question_mark_lists_every_binding(tmp_path: Path, manifest: Manifest) -> None:
    app = SousaApp(manifest, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {what for _, what in app.screen.rows}
        for binding in [*MainScreen.BINDINGS, *SousaApp.BINDINGS, *ExperimentsTable.BINDINGS]:
            assert (binding.tooltip or binding.description) in listed, binding
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_quit_asks_first_while_a_run_is_live(tmp_path: Path, manifest: Manifest) -> None:
    write_run(tmp_path, "smoke", "20260101-000000-live", state="running", pid=os.getpid())
    app = SousaApp(manifest, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, ("smoke", "state", "running"))
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "smoke" in app.screen.question and "keep running" in app.screen.question
        await pilot.press("n")
        assert isinstance(app.screen, MainScreen) and app.is_running
        await pilot.press("q")
        await pilot.click("#confirm-yes")
        await pilot.pause()
    assert not app.is_running


async def test_overlay_axis_and_smoothing_redraw_the_charts(
    tmp_path: Path, manifest: Manifest
) -> None:
    write_run(tmp_path, "smoke", "20260101-000000-aaaa")
    write_run(tmp_path, "demo-quick", "20260101-000000-bbbb", scale=2.0)
    app = SousaApp(manifest, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, ("smoke", "test", "0.5000"), ("demo-quick", "test", "0.5000"))
        loss = app.screen.query_one("#chart-0", MetricChart)
        assert "train" in loss.text and "smoke" not in loss.text
        await pilot.press("space", "down")  # select smoke, move to demo-quick
        await charts_drawn(pilot)
        assert "demo-quick train/loss" in loss.text and "smoke train/loss" in loss.text
        await pilot.press("x", "right_square_bracket", "right_square_bracket")
        await charts_drawn(pilot)
        assert "wall time (s)" in loss.text
        assert "smoothing 0.8" in app.screen.sub_title
        log = app.screen.query_one("#log", Log)
        await wait_until(pilot, lambda: log.lines and log.lines[-1].endswith("line 29"), "log")


async def test_results_table_ranks_runs_and_sorts_by_any_column(
    tmp_path: Path, manifest: Manifest
) -> None:
    write_run(tmp_path, "smoke", "20260101-000000-aaaa", test=0.3)
    write_run(tmp_path, "demo-quick", "20260101-000000-bbbb", test=0.8)
    write_run(tmp_path, "smoke", "20260102-000000-cccc", test=None, state="stopped")
    app = SousaApp(manifest, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, ("smoke", "state", "stopped"), ("demo-quick", "test", "0.8000"))
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        table = screen.query_one("#results", DataTable)

        def column(name: str) -> list[str]:
            return [str(table.get_cell_at((r, screen_col(name)))) for r in range(table.row_count)]

        def screen_col(name: str) -> int:
            return table.get_column_index(name)

        assert column("test bal.acc") == ["0.8000", "0.3000", "-"]  # unscored runs last
        assert column("trainable")[0] == "61.0k" and column("wall time")[0] == "2:11"
        await pilot.press("o")  # the cursor is on "experiment": A to Z
        assert column("experiment") == ["demo-quick", "smoke", "smoke"]
        await pilot.press("o")
        assert column("experiment") == ["smoke", "smoke", "demo-quick"]
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


def snapshot_app(tmp_path: Path, manifest: Manifest) -> SousaApp:
    write_run(tmp_path, "smoke", "20260101-000000-aaaa", test=0.55)
    write_run(tmp_path, "demo-quick", "20260101-000000-bbbb", scale=2.0, test=0.83)
    write_run(tmp_path, "efficientat-mn04", "20260101-000000-cccc", state="stopped", test=None)
    return SousaApp(manifest, tmp_path)


@pytest.mark.parametrize(
    "keys",
    [("space", "down"), ("t",), ("question_mark",)],
    ids=["main-overlay", "results", "help"],
)
def test_screen_snapshots(
    snap_compare, tmp_path: Path, manifest: Manifest, keys: tuple[str, ...]
) -> None:
    async def press(pilot) -> None:
        await settle(
            pilot,
            ("smoke", "test", "0.5500"),
            ("demo-quick", "test", "0.8300"),
            ("efficientat-mn04", "state", "stopped"),
        )
        await pilot.press(*keys)
        await charts_drawn(pilot)

    assert snap_compare(snapshot_app(tmp_path, manifest), run_before=press, terminal_size=SIZE)


async def test_mouse_highlights_rows_and_sorts_results(tmp_path: Path, manifest: Manifest) -> None:
    write_run(tmp_path, "smoke", "20260101-000000-aaaa", test=0.3)
    write_run(tmp_path, "demo-quick", "20260101-000000-bbbb", test=0.8)
    app = SousaApp(manifest, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, ("smoke", "test", "0.3000"), ("demo-quick", "test", "0.8000"))
        table = table_of(app)
        await pilot.click(ExperimentsTable, offset=(5, 3))  # header, smoke, demo-quick
        assert table.highlighted == "efficientat-mn04"
        await pilot.click(ExperimentsTable, offset=(5, 2))
        assert table.highlighted == "demo-quick"
        await pilot.press("t")
        results = app.screen.query_one("#results", DataTable)
        assert results.get_cell_at((0, 0)) == "demo-quick"  # best test score first
        await pilot.click("#results", offset=(2, 0))  # the "experiment" header
        assert app.screen.sort_column == "experiment"
        await pilot.click("#results", offset=(2, 0))
        assert results.get_cell_at((0, 0)) == "smoke"  # Z to A


STUBBORN = """
import pathlib, signal, sys, threading
mark = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: mark.write_text("SIGTERM"))  # noted, then ignored
print("ready", flush=True)
threading.Event().wait(300)  # resumed after the handler; gone after 5 minutes at most
"""


async def test_s_asks_a_run_to_stop_and_s_again_kills_one_that_does_not(
    tmp_path: Path, manifest: Manifest
) -> None:
    """A run that ignores SIGTERM: the first `s` sends it SIGTERM, the second SIGKILLs it."""
    mark = tmp_path / "signalled"
    proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN, str(mark)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as the console launches runs
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        write_run(tmp_path / "runs", "smoke", "20260101-000000-live", state="running", pid=proc.pid)
        app = SousaApp(manifest, tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, ("smoke", "state", "running"))
            table_of(app).move_cursor(row=table_of(app).get_row_index("smoke"))
            await pilot.press("s")
            assert cell(app, "smoke", "state") == "stopping"
            await wait_until(pilot, lambda: mark.is_file(), "the SIGTERM to arrive")
            assert proc.poll() is None  # it ignored the request
            await pilot.press("s")
            assert proc.wait(timeout=60) == -signal.SIGKILL
            assert "killed" in str(list(app._notifications)[-1].message)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
