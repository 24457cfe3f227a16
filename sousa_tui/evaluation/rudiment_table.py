"""The per-rudiment table: precision, recall, F1, support and the commonest wrong answer.

Sorting uses each column's underlying value (a recall of 0.1 sorts below 0.05's neighbours
by number, not by text), with the PAS number cell as the handle on the row's data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from sousa_train.rudiments import RUDIMENTS
from sousa_tui.evaluation.scores import RudimentRow

COLUMNS: tuple[tuple[str, str, Callable[[RudimentRow], object]], ...] = (
    ("pas", "PAS", lambda r: r.pas),
    ("rudiment", "rudiment", lambda r: r.name),
    ("family", "family", lambda r: r.family),
    ("precision", "precision", lambda r: r.precision),
    ("recall", "recall", lambda r: r.recall),
    ("f1", "F1", lambda r: r.f1),
    ("support", "support", lambda r: r.support),
    ("confused", "most confused with", lambda r: r.confused_count),
)


def number(value: float) -> Text:
    return Text(f"{value:.3f}", justify="right")


class SortedTable(DataTable):
    """Rows keyed by PAS number; `s` (or a click on a header) sorts by that column's value,
    again reverses. Subclasses set ``COLUMNS`` and fill ``rows_by_pas``."""

    COLUMNS: ClassVar[tuple[tuple[str, str, Callable[[Any], object]], ...]] = ()
    BINDINGS: ClassVar = [Binding("s", "sort_cursor_column", "Sort by column", id="rudiments.sort")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="cell", zebra_stripes=True)
        self.rows_by_pas: dict[int, Any] = {}
        self.sort_column: str | None = None
        self.sort_reverse = False

    def on_mount(self) -> None:
        for key, label, _ in self.COLUMNS:
            self.add_column(label, key=key)

    def resort(self) -> None:
        """After a refill: the order the user chose, if any."""
        if self.sort_column:
            self._sort(self.sort_column, self.sort_reverse)

    def sort_by(self, column: str) -> None:
        """The first sort of a column is ascending, the next one reverses it."""
        self._sort(column, reverse=self.sort_column == column and not self.sort_reverse)

    def _sort(self, column: str, reverse: bool) -> None:
        value = next(get for key, _, get in self.COLUMNS if key == column)
        rows = self.rows_by_pas
        self.sort_column, self.sort_reverse = column, reverse
        self.sort("pas", key=lambda pas: value(rows[pas]), reverse=reverse)

    def action_sort_cursor_column(self) -> None:
        self.sort_by(self.COLUMNS[self.cursor_column][0])

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))


class RudimentTable(SortedTable):
    """Precision, recall, F1, support and the commonest wrong answer of each rudiment."""

    COLUMNS = COLUMNS

    def fill(self, rows: list[RudimentRow]) -> None:
        self.rows_by_pas = {r.pas: r for r in rows}
        self.clear()
        for r in rows:
            confused = (
                "-"
                if r.confused_with is None
                else f"{RUDIMENTS[r.confused_with].name} ({r.confused_count})"
            )
            scores = (number(v) for v in (r.precision, r.recall, r.f1))
            support = Text(str(r.support), justify="right")
            self.add_row(r.pas, r.name, r.family, *scores, support, confused, key=str(r.pas))
        self.resort()
