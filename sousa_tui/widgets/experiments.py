"""The experiments pane: one row per experiment with its latest run's state and scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import ClassVar

from textual.binding import Binding
from textual.widgets import DataTable

# Scores are balanced accuracy: the best validation epoch, and the test split of the best.
COLUMNS = ("sel", "experiment", "state", "done", "best val", "test")
LABELS = ("", "experiment", "state", "done", "best val", "test")


@dataclass(frozen=True)
class ExperimentRow:
    """The cells of one row, already formatted; the experiment name is the row key."""

    selected: str
    name: str
    state: str
    progress: str
    best_val: str
    test: str


class ExperimentsTable(DataTable):
    """Rows keyed by experiment; ``enter`` starts the highlighted one instead of selecting."""

    BINDINGS: ClassVar = [
        Binding("enter", "screen.start", "Start", id="start", tooltip="start (or continue) the run")
    ]

    def __init__(self, **kwargs: str) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._rows: dict[str, ExperimentRow] = {}
        for column, label in zip(COLUMNS, LABELS, strict=True):
            self.add_column(label, key=column)

    @property
    def highlighted(self) -> str | None:
        if not self._rows or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def show(self, rows: Sequence[ExperimentRow]) -> None:
        """Update changed cells in place; rebuild only when the set of rows changes."""
        if [r.name for r in rows] != list(self._rows):
            keep = self.highlighted
            self.clear()
            self._rows = {}
            for row in rows:
                self.add_row(*astuple(row), key=row.name)
                self._rows[row.name] = row
            names = [r.name for r in rows]
            if keep in names:
                self.move_cursor(row=names.index(keep))
            return
        for row in rows:
            old = self._rows[row.name]
            for column, new_cell, old_cell in zip(COLUMNS, astuple(row), astuple(old), strict=True):
                if new_cell != old_cell:
                    self.update_cell(row.name, column, new_cell)
            self._rows[row.name] = row
