"""The matrix view: a `[matrix.NAME]` as a grid, models down, strategies across, each cell
one figure of its latest finished run, coloured on one scale, live as runs go.

The grid comes from ``sousa_train.compare.grid``, the function `sousa-train report` prints,
read in a thread worker once a second; only cells whose text changed are redrawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from sousa_train.compare.grid import FIGURES, Cell, Grid, GridReader
from sousa_tui.evaluation import EvalScreen
from sousa_tui.evaluation.compare_screen import open_compare
from sousa_tui.state.session import Refused, Session

REFRESH_SEC = 1.0
WORST_RGB = (192, 57, 43)
BEST_RGB = (39, 174, 96)
STATE_STYLES = {
    "running": "bold yellow",
    "starting": "yellow",
    "stopping": "yellow",
    "queued": "cyan",
    "failed": "bold red",
    "stopped": "magenta",
    "pruned": "magenta",
    "missing": "grey50",
}
CONSOLE_STATES = ("queued", "starting", "stopping")  # what only the console knows
RESTARTABLE = ("missing", "failed", "stopped", "pruned")


def scale_rgb(t: float) -> tuple[int, int, int]:
    """Red (worst in the grid) to green (best), one scale for every cell."""
    t = min(max(t, 0.0), 1.0)
    r, g, b = (round(lo + (hi - lo) * t) for lo, hi in zip(WORST_RGB, BEST_RGB, strict=True))
    return r, g, b


def cell_view(cell: Cell, state: str, key: str, span: tuple[float, float] | None) -> Text:
    """A finished cell's figure on the grid's colour scale; any other cell its state, with
    the figure of an earlier finished run beside it when there is one."""
    fig = FIGURES[[f.key for f in FIGURES].index(key)]
    value = cell.value(key)
    if state != "finished":
        shown = state if value is None else f"{state} ({fig.show(value)})"
        return Text(shown, style=STATE_STYLES.get(state, ""), justify="center")
    if value is None or span is None:
        return Text(fig.show(value), justify="center")
    low, high = span
    t = 1.0 if high == low else (value - low) / (high - low)
    t = t if fig.higher_is_better else 1.0 - t
    style = Style(bgcolor=Color.from_rgb(*scale_rgb(t)), color="white", bold=True)
    return Text(f" {fig.show(value)} ", style=style, justify="center")


class MatrixScreen(Screen[None]):
    """`f` cycles the figure, `enter` opens a cell's run, `r` queues the cells without one,
    `space` marks a cell's run and `c` compares the cell under the cursor with it."""

    BINDINGS: ClassVar = [
        Binding("f", "cycle_figure", "Figure", id="matrix.figure", tooltip="next figure"),
        Binding("enter", "open_cell", "Evaluate", id="matrix.open", tooltip="evaluation browser"),
        Binding("r", "run_missing", "Run missing", id="matrix.run", tooltip="queue missing/failed"),
        Binding("space", "mark", "Mark", id="matrix.mark", tooltip="mark this run to compare"),
        Binding("c", "compare", "Compare", id="matrix.compare", tooltip="compare with marked"),
        Binding("escape,m", "app.pop_screen", "Back", id="matrix.back"),
    ]

    def __init__(self, session: Session, matrix: str) -> None:
        super().__init__()
        self.session = session
        self.matrix = matrix
        self.reader = GridReader()
        self.grid: Grid | None = None
        self.figure_at = 0
        self._shown: dict[tuple[str, str], Text] = {}
        self._shape: tuple[list[str], list[str]] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="matrix-title")
        yield DataTable(id="matrix-grid", cursor_type="cell")
        yield Static(id="matrix-cell")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#matrix-title", Static).update("Reading runs ...")
        self.reload()
        self.set_interval(REFRESH_SEC, self.reload)

    @property
    def figure_key(self) -> str:
        return FIGURES[self.figure_at].key

    @work(thread=True, exclusive=True, group="matrix")
    def reload(self) -> None:
        """Build the grid off the UI thread; the reader re-reads only runs whose files changed."""
        grid = self.reader.matrix_grid(self.session.manifest, self.matrix, self.session.runs_dir)
        self.app.call_from_thread(self.show, grid)

    def state_of(self, cell: Cell) -> str:
        """The cell's run state, or what the console is doing about it (queued, starting)."""
        state = self.session.state(cell.experiment)
        return state if state in CONSOLE_STATES else cell.state

    def show(self, grid: Grid) -> None:
        """Redraw the cells whose text changed; rebuild only when the grid's shape changes."""
        self.grid = grid
        table = self.query_one("#matrix-grid", DataTable)
        key = self.figure_key
        finished = [c for c in grid.ordered() if c.state == "finished"]
        values = [v for c in finished if (v := c.value(key)) is not None]
        span = (min(values), max(values)) if values else None
        shape = (grid.rows, grid.columns)
        if shape != self._shape:
            table.clear(columns=True)
            table.add_column("model \\ strategy", key="model")
            for column in grid.columns:
                table.add_column(column, key=column, width=max(len(column), 18))
            for row in grid.rows:
                table.add_row(Text(row, style="bold"), *[""] * len(grid.columns), key=row)
            self._shape, self._shown = shape, {}
            table.cursor_coordinate = (0, 1)  # on the first cell, not on the model names
        for cell in grid.ordered():
            text = cell_view(cell, self.state_of(cell), key, span)
            where = (cell.row, cell.column)
            if self._shown.get(where) != text:
                table.update_cell(cell.row, cell.column, text)
                self._shown[where] = text
        done = sum(c.state == "finished" for c in grid.ordered())
        self.query_one("#matrix-title", Static).update(
            f"[b]matrix {grid.name}[/b] · {FIGURES[self.figure_at].title} · "
            f"{done}/{len(grid.cells)} finished   (f: next figure)"
        )
        self.describe_cell()

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self.describe_cell()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        """The grid's own `enter` (a DataTable selects the cell): open it."""
        self.action_open_cell()

    @property
    def cell(self) -> Cell | None:
        """The grid cell under the cursor (None on the model column)."""
        table = self.query_one("#matrix-grid", DataTable)
        if self.grid is None or not table.row_count or table.cursor_column == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self.grid.cell(str(key.row_key.value), str(key.column_key.value))

    def describe_cell(self) -> None:
        cell = self.cell
        text = ""
        if cell is not None:
            run = cell.finished.name if cell.finished else "no finished run"
            text = f"{cell.experiment} · {self.state_of(cell)} · {run}"
            if cell.figures is not None:
                text += "\n" + "  ".join(f"{f.title}: {f.show(cell.value(f.key))}" for f in FIGURES)
        marked = self.session.marked
        if marked is not None:
            text += f"\nmarked: {marked.parent.name}/{marked.name} (c: compare with the cursor's)"
        self.query_one("#matrix-cell", Static).update(text)

    def action_cycle_figure(self) -> None:
        self.figure_at = (self.figure_at + 1) % len(FIGURES)
        if self.grid is not None:
            self.show(self.grid)

    def finished_run(self) -> Path | None:
        """The finished run of the cell under the cursor, or None (and a note saying so)."""
        cell = self.cell
        if cell is None or cell.finished is None:
            self.notify("This cell has no finished run.", severity="warning")
            return None
        return cell.finished

    def action_open_cell(self) -> None:
        if (run := self.finished_run()) is not None:
            self.app.push_screen(EvalScreen(run))

    def action_run_missing(self) -> None:
        """Queue every cell that has no run, or whose latest run failed or stopped."""
        if self.grid is None:
            return
        started, refused = [], []
        for cell in self.grid.ordered():
            if self.state_of(cell) in RESTARTABLE:
                try:
                    self.session.launch(cell.experiment, "start")
                    started.append(cell.experiment)
                except Refused as exc:
                    refused.append(str(exc))
        if started:
            self.notify(f"queued {len(started)}: {', '.join(started)}")
        for reason in refused:
            self.notify(reason, severity="warning")
        if not started and not refused:
            self.notify("Every cell has a run or is queued.")
        self.show(self.grid)

    def action_mark(self) -> None:
        if (run := self.finished_run()) is not None:
            self.session.marked = run
            self.describe_cell()

    def action_compare(self) -> None:
        cell = self.cell
        open_compare(self, self.session.marked, cell.finished if cell else None)
