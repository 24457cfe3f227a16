"""One choice out of a few names (which matrix to open), by arrow keys and enter."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static


class ChoiceScreen(ModalScreen[str | None]):
    """Dismisses with the chosen name, or None on escape."""

    BINDINGS: ClassVar = [Binding("escape", "dismiss(None)", "Cancel", id="choice.cancel")]

    def __init__(self, question: str, names: list[str]) -> None:
        super().__init__()
        self.question = question
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-box"):
            yield Static(self.question)
            yield OptionList(*self.names, id="choices")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.names[event.option_index])
