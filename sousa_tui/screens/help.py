"""`?`: every key the console answers to, generated from the live bindings, never hand-kept."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


def binding_rows(bindings: Iterable[Binding]) -> list[tuple[str, str]]:
    """(key, what it does) for every binding with a description, one row per action."""
    rows: dict[str, tuple[str, str]] = {}
    # The console's own keys first (they have ids), then the widgets' standard ones.
    for binding in sorted(bindings, key=lambda b: b.id is None):
        if not binding.description:
            continue
        key = binding.key_display or binding.key
        what = binding.tooltip or binding.description
        if binding.action in rows:
            rows[binding.action] = (f"{rows[binding.action][0]}, {key}", what)
        else:
            rows[binding.action] = (key, what)
    return list(rows.values())


class HelpScreen(ModalScreen[None]):
    """A table of keys; any of escape, ? or q closes it."""

    BINDINGS: ClassVar = [
        Binding("escape,question_mark,q", "dismiss", "Close help", id="close-help"),
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("[b]Keys[/b]  (escape closes)")
            yield DataTable(id="help-table", cursor_type="none", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#help-table", DataTable)
        table.add_columns("key", "action")
        table.add_rows(self.rows)
