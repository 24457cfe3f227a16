"""The console's matrix view on a real 2 x 2 matrix of tiny runs: four cells with their runs'
figures, the missing cell started from the view (running, then its figure), `f` cycles the
figure, `enter` opens a cell's evaluation browser, and marking two cells compares them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable

from sousa_train.config.manifest import load_manifest
from sousa_train.rundir.layout import read_json
from sousa_train.rundir.scan import find_runs
from sousa_tui.app import SousaApp
from sousa_tui.evaluation import EvalScreen
from sousa_tui.evaluation.compare_screen import CompareScreen
from sousa_tui.screens.choice import ChoiceScreen
from sousa_tui.screens.matrix import MatrixScreen
from sousa_tui.widgets.experiments import ExperimentsTable
from tests.conftest import GRID_TRAINED
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
MODELS = {"efficientat": "efficientat/tiny", "rhythmcnn": "rhythmcnn/tiny"}
LAST = "grid-rhythmcnn-full_finetune"  # the cell the fixture leaves missing


def place(name: str) -> tuple[str, str]:
    """(row, column) of a grid experiment, from its name grid-<model>-<strategy>."""
    _, model, strategy = name.split("-", 2)
    return MODELS[model], strategy


def metric(runs: Path, name: str, key: str = "balanced_accuracy", split: str = "test") -> str:
    (run,) = [r for r in find_runs(runs, name) if (r.eval_dir(split) / "metrics.json").is_file()]
    return f"{read_json(run.eval_dir(split) / 'metrics.json')[key]:.4f}"


def text(screen: MatrixScreen, name: str) -> str:
    return str(screen.query_one("#matrix-grid", DataTable).get_cell(*place(name))).strip()


def put_cursor(screen: MatrixScreen, name: str) -> None:
    table = screen.query_one("#matrix-grid", DataTable)
    row, column = place(name)
    table.cursor_coordinate = (table.get_row_index(row), table.get_column_index(column))


@pytest.fixture
def grid_copy(grid_runs: Path, tmp_path: Path, smoke_env: dict[str, str]) -> Path:
    """A private copy of the trained matrix; runs the console starts share its demo cache."""
    copy = Path(shutil.copytree(grid_runs, tmp_path / "grid"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOUSA_CACHE_DIR", smoke_env["SOUSA_CACHE_DIR"])
        yield copy


async def test_matrix_view_shows_runs_live_and_opens_them(grid_copy: Path) -> None:
    runs = grid_copy / "runs"
    app = SousaApp(load_manifest(grid_copy / "experiments.toml"), runs)
    async with app.run_test(size=(150, 45)) as pilot:
        table = app.screen.query_one(ExperimentsTable)
        await wait_until(pilot, lambda: table.row_count, "rows")
        table.move_cursor(row=table.get_row_index(GRID_TRAINED[0]))
        await pilot.press("m")
        screen = app.screen
        assert isinstance(screen, MatrixScreen) and screen.matrix == "grid"
        await wait_until(pilot, lambda: text(screen, GRID_TRAINED[0]) != "", "the grid")
        for name in GRID_TRAINED:
            assert text(screen, name) == metric(runs, name)
        assert text(screen, LAST) == "missing"

        await pilot.press("f")  # validation balanced accuracy
        await wait_until(
            pilot, lambda: "validation" in str(screen.query_one("#matrix-title").render()), "f"
        )
        for name in GRID_TRAINED:
            assert text(screen, name) == metric(runs, name, split="val")
        for _ in range(6):  # round again to the test figure
            await pilot.press("f")

        put_cursor(screen, LAST)
        await pilot.press("r")  # start the missing cell through the queue
        await wait_until(pilot, lambda: text(screen, LAST) == "running", "running", 120)
        await wait_until(pilot, lambda: text(screen, LAST)[:1].isdigit(), "its figure", 300)
        assert text(screen, LAST) == metric(runs, LAST)

        put_cursor(screen, GRID_TRAINED[1])
        await pilot.press("enter")
        browser = app.screen
        assert isinstance(browser, EvalScreen)
        assert browser.run.root == find_runs(runs, GRID_TRAINED[1])[0].root
        await wait_until(pilot, lambda: browser.data is not None, "the evaluation", 60)
        await pilot.press("escape")
        assert app.screen is screen

        await pilot.press("space")  # mark rhythmcnn from scratch, compare with efficientat's
        put_cursor(screen, GRID_TRAINED[0])
        await pilot.press("c")
        comparing = app.screen
        assert isinstance(comparing, CompareScreen)
        await wait_until(pilot, lambda: comparing.comparison is not None, "the comparison", 60)
        await pilot.press("escape", "escape")
        assert app.screen is app.main_screen

        await pilot.press("t")  # the same from the results table: mark A, c on B
        results = app.screen.query_one("#results", DataTable)
        await wait_until(pilot, lambda: results.row_count == 4, "the results table")
        a, b = (str(find_runs(runs, n)[0].root) for n in GRID_TRAINED[:2])
        results.move_cursor(row=results.get_row_index(a))
        await pilot.press("space")
        results.move_cursor(row=results.get_row_index(b))
        await pilot.press("c")
        comparing = app.screen
        assert isinstance(comparing, CompareScreen)
        assert comparing.runs == (Path(a), Path(b))


async def test_m_offers_a_choice_of_matrices_and_shows_missing_cells(tmp_path: Path) -> None:
    manifest = load_manifest(REPO / "experiments.toml")  # [matrix.sizes] and [matrix.paper]
    app = SousaApp(manifest, tmp_path / "runs")
    async with app.run_test(size=(150, 45)) as pilot:
        table = app.screen.query_one(ExperimentsTable)
        await wait_until(pilot, lambda: table.row_count, "rows")
        table.move_cursor(row=table.get_row_index("smoke"))  # in no matrix
        await pilot.press("m")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("down", "enter")
        screen = app.screen
        assert isinstance(screen, MatrixScreen) and screen.matrix == list(manifest.matrices)[1]
        grid = screen.query_one("#matrix-grid", DataTable)
        await wait_until(pilot, lambda: grid.row_count and screen.grid is not None, "the grid")
        assert {str(grid.get_cell_at((0, c))).strip() for c in range(1, 3)} == {"missing"}
