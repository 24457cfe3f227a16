"""The leaderboard: every run found, with what it trained and how well, sortable by any column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from sousa_train.rundir.summary import RunInfo
from sousa_tui.evaluation.compare_screen import open_compare
from sousa_tui.state.runs import LiveRun
from sousa_tui.state.session import Session
from sousa_tui.widgets import formatting as fmt

_NO_INFO = RunInfo()

# (column, the raw value it sorts by, how it reads)
Column = tuple[str, Callable[[LiveRun], Any], Callable[[Any], str]]
COLUMNS: tuple[Column, ...] = (
    ("experiment", lambda r: r.experiment, str),
    ("run", lambda r: r.run_id, str),
    ("state", lambda r: r.state, str),
    ("model", lambda r: (r.info or _NO_INFO).model, str),
    ("strategy", lambda r: (r.info or _NO_INFO).strategy, str),
    ("data", lambda r: (r.info or _NO_INFO).data, str),
    ("best val bal.acc", lambda r: r.best_val_bacc, fmt.score),
    ("test bal.acc", lambda r: r.test_bacc, fmt.score),
    ("trainable", lambda r: (r.info or _NO_INFO).trainable_params, fmt.count),
    ("wall time", lambda r: r.wall_sec, fmt.duration),
    ("samples/s", lambda r: r.median_samples_per_sec, fmt.rate),
    ("peak mem", lambda r: r.peak_mem_mb, fmt.megabytes),
    # A sweep trial: its number (it sorts by that) and sampled values.
    ("trial", lambda r: _trial(r.info or _NO_INFO), lambda t: t[1]),
)


def _trial(info: RunInfo) -> tuple[int, str] | None:
    return None if info.trial is None else (info.trial, fmt.sampled(info.trial, info.params))


COLUMN_NAMES = tuple(c[0] for c in COLUMNS)
# Text columns read best A to Z; figures best highest first.
_TEXT_COLUMNS = frozenset({"experiment", "run", "state", "model", "strategy", "data", "trial"})


def sort_runs(runs: list[LiveRun], column: str, descending: bool) -> list[LiveRun]:
    """Runs ordered by one column; runs without a value for it always come last."""
    value = COLUMNS[COLUMN_NAMES.index(column)][1]
    known = [r for r in runs if value(r) is not None]
    unknown = [r for r in runs if value(r) is None]
    return sorted(known, key=value, reverse=descending) + unknown


class ResultsScreen(Screen[None]):
    """Reads the shared catalog; re-sorts on ``o`` (the cursor's column) or a header click."""

    BINDINGS: ClassVar = [
        Binding("o", "sort_cursor_column", "Sort", id="sort", tooltip="sort by this column"),
        Binding("space", "mark", "Mark", id="results.mark", tooltip="mark this run to compare"),
        Binding("c", "compare", "Compare", id="results.compare", tooltip="compare with marked"),
        Binding("escape,t", "app.pop_screen", "Back", id="back"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.catalog = session.catalog
        self.sort_column = "test bal.acc"
        self.descending = True
        self._shown: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="results", cursor_type="cell", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "results"
        table = self.query_one("#results", DataTable)
        for name in COLUMN_NAMES:
            table.add_column(name, key=name)
        self.refresh_rows()
        self.set_interval(1.0, self.refresh_rows)

    def refresh_rows(self) -> None:
        runs = self.catalog.runs()
        key = (self.sort_column, self.descending, *((r.root, r.version, r.state) for r in runs))
        if key == self._shown:
            return
        self._shown = key
        table = self.query_one("#results", DataTable)
        cursor = table.cursor_coordinate
        table.clear()
        for run in sort_runs(runs, self.sort_column, self.descending):
            cells = [
                show(value(run)) if value(run) is not None else fmt.MISSING
                for _, value, show in COLUMNS
            ]
            table.add_row(*cells, key=str(run.root))
        table.cursor_coordinate = cursor
        arrow = "▼" if self.descending else "▲"
        self.sub_title = f"results: {len(runs)} runs, sorted by {self.sort_column} {arrow}"

    def sort_by(self, column: str) -> None:
        """Sort by ``column``; sorting by the same column again flips the order."""
        if column == self.sort_column:
            self.descending = not self.descending
        else:
            self.sort_column, self.descending = column, column not in _TEXT_COLUMNS
        self.refresh_rows()

    def action_sort_cursor_column(self) -> None:
        table = self.query_one("#results", DataTable)
        self.sort_by(COLUMN_NAMES[table.cursor_column])

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    @property
    def cursor_run(self) -> Path | None:
        table = self.query_one("#results", DataTable)
        if not table.row_count:
            return None
        return Path(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    def action_mark(self) -> None:
        self.session.marked = self.cursor_run
        if self.cursor_run is not None:
            self.notify(f"marked {self.cursor_run.name} as A: c on another run compares")

    def action_compare(self) -> None:
        open_compare(self, self.session.marked, self.cursor_run)
