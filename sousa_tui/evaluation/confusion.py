"""The 40x40 confusion heat map (PAS order, families fenced off) and the 4x4 family matrix.

The heat map draws through Textual's line API, so only the lines on screen are rendered and
a small terminal scrolls to the cursor instead of clipping the matrix.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from sousa_train.rudiments import FAMILIES, NUM_CLASSES, RUDIMENTS
from sousa_tui.evaluation.scores import family_matrix, row_normalised

# Class ids where a family block starts (after the first): a fence is drawn before each.
FENCES = tuple(r.class_id for prev, r in itertools.pairwise(RUDIMENTS) if r.family != prev.family)
LABEL_WIDTH = 4
CELL_WIDTH = 2
BACKGROUND = (40, 40, 48)
CORRECT_RGB = (46, 204, 113)
WRONG_RGB = (231, 76, 60)
CURSOR = Style(bgcolor="yellow", color="black", bold=True)
ZERO = Style(color="grey35")
FENCE = Style(color="grey50")
HEADER = Style(color="grey70", bold=True)


def cell_x(col: int) -> int:
    """Screen column of a class's cell: the label, two characters a class, one per fence."""
    return LABEL_WIDTH + CELL_WIDTH * col + sum(col >= f for f in FENCES)


def heat_rgb(value: float, correct: bool) -> tuple[int, int, int]:
    """Green (diagonal) or red (mistakes) from the background; any non-zero value stays visible.

    Shared with the PNG export so the picture on disk reads like the one on screen.
    """
    t = 0.25 + 0.75 * min(max(value, 0.0), 1.0)
    target = CORRECT_RGB if correct else WRONG_RGB
    r, g, b = (round(lo + (hi - lo) * t) for lo, hi in zip(BACKGROUND, target, strict=True))
    return r, g, b


@dataclass(frozen=True)
class _Line:
    """What one screen line of the map holds: the header, a fence, or a class's row."""

    kind: str
    row: int = -1


def _layout() -> list[_Line]:
    lines = [_Line("header")]
    for cid in range(NUM_CLASSES):
        if cid in FENCES:
            lines.append(_Line("fence"))
        lines.append(_Line("row", cid))
    return lines


class ConfusionHeatmap(ScrollView, can_focus=True):
    """Rows are true rudiments, columns predictions; a cursor walks the cells."""

    BINDINGS: ClassVar = [
        Binding("up,k", "move(-1, 0)", "Up", show=False, id="heatmap.up"),
        Binding("down,j", "move(1, 0)", "Down", show=False, id="heatmap.down"),
        Binding("left,h", "move(0, -1)", "Left", show=False, id="heatmap.left"),
        Binding("right,l", "move(0, 1)", "Right", show=False, id="heatmap.right"),
        Binding("enter", "select", "List clips", id="heatmap.select"),
    ]

    normalised: reactive[bool] = reactive(False)
    cursor: reactive[tuple[int, int]] = reactive((0, 0))

    class CursorMoved(Message):
        def __init__(self, true: int, pred: int) -> None:
            super().__init__()
            self.true, self.pred = true, pred

    class CellSelected(Message):
        def __init__(self, true: int, pred: int) -> None:
            super().__init__()
            self.true, self.pred = true, pred

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        self.fractions = row_normalised(self.confusion)
        self._lines = _layout()
        self._line_of_row = {line.row: y for y, line in enumerate(self._lines) if line.row >= 0}
        self.virtual_size = Size(cell_x(NUM_CLASSES), len(self._lines))

    def set_data(self, confusion: np.ndarray) -> None:
        self.confusion = confusion
        self.fractions = row_normalised(confusion)
        self.mutate_reactive(ConfusionHeatmap.cursor)

    def cell_text(self, true: int, pred: int) -> str:
        """The cursor line: "true -> predicted: n (p %)", p of the true rudiment's clips."""
        n = int(self.confusion[true, pred])
        pct = 100 * self.fractions[true, pred]
        return f"{RUDIMENTS[true].name} -> {RUDIMENTS[pred].name}: {n} ({pct:.1f} %)"

    def watch_cursor(self, cursor: tuple[int, int]) -> None:
        true, pred = cursor
        region = Region(cell_x(pred), self._line_of_row[true], CELL_WIDTH, 1)
        self.scroll_to_region(region, animate=False, immediate=True)
        self.post_message(self.CursorMoved(true, pred))
        self.refresh()

    def watch_normalised(self) -> None:
        self.refresh()

    def action_move(self, rows: int, cols: int) -> None:
        true, pred = self.cursor
        self.cursor = (
            min(max(true + rows, 0), NUM_CLASSES - 1),
            min(max(pred + cols, 0), NUM_CLASSES - 1),
        )

    def action_select(self) -> None:
        self.post_message(self.CellSelected(*self.cursor))

    def on_click(self, event: events.Click) -> None:
        """A click on a cell moves the cursor there; a second click lists its clips."""
        x, y = event.x + int(self.scroll_x), event.y + int(self.scroll_y)
        line = self._lines[y] if 0 <= y < len(self._lines) else None
        cols = [c for c in range(NUM_CLASSES) if cell_x(c) <= x < cell_x(c) + CELL_WIDTH]
        if line is None or line.kind != "row" or not cols:
            return
        if self.cursor == (line.row, cols[0]):
            self.action_select()
        self.cursor = (line.row, cols[0])

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = y + scroll_y
        if index >= len(self._lines):
            return Strip.blank(self.size.width, self.rich_style)
        line = self._lines[index]
        if line.kind == "header":
            segments = self._header()
        elif line.kind == "fence":
            segments = self._fence()
        else:
            segments = self._row(line.row)
        width = self.virtual_size.width
        strip = Strip(segments).extend_cell_length(width).crop(scroll_x, scroll_x + self.size.width)
        return strip.apply_style(self.rich_style)

    def _header(self) -> list[Segment]:
        """Family names over their column blocks."""
        segments = [Segment(" " * LABEL_WIDTH)]
        starts = (0, *FENCES, NUM_CLASSES)
        for i, family in enumerate(FAMILIES):
            width = cell_x(starts[i + 1]) - cell_x(starts[i]) - (1 if i + 1 < len(FAMILIES) else 0)
            segments.append(Segment(family[:width].center(width), HEADER))
            if i + 1 < len(FAMILIES):
                segments.append(Segment(" "))
        return segments

    def _fence(self) -> list[Segment]:
        parts = ["─" * LABEL_WIDTH]
        for c in range(NUM_CLASSES):
            if c in FENCES:
                parts.append("┼")
            parts.append("─" * CELL_WIDTH)
        return [Segment("".join(parts), FENCE)]

    def _row(self, true: int) -> list[Segment]:
        cursor_true, cursor_pred = self.cursor
        label_style = HEADER + Style(color="yellow") if true == cursor_true else HEADER
        segments = [Segment(f"{RUDIMENTS[true].pas:>3} ", label_style)]
        peak = max(int(np.abs(self.confusion).max()), 1)
        for pred in range(NUM_CLASSES):
            if pred in FENCES:
                segments.append(Segment("│", FENCE))
            text, style = self._cell(true, pred, peak)
            if (true, pred) == (cursor_true, cursor_pred):
                segments.append(Segment("  " if style is ZERO else text, CURSOR))
            else:  # row shares are read from the colour alone
                segments.append(
                    Segment("  " if self.normalised and style is not ZERO else text, style)
                )
        return segments

    def _cell(self, true: int, pred: int, peak: int) -> tuple[str, Style]:
        """A cell's two characters (its count) and colour (count, or row share if normalised)."""
        count = int(self.confusion[true, pred])
        text = f"{count:>2}" if 0 < count < 100 else ("++" if count else " ·")
        if count == 0:
            return text, ZERO
        value = self.fractions[true, pred] if self.normalised else count / peak
        bg = Color.from_rgb(*heat_rgb(value, true == pred))
        return text, Style(bgcolor=bg, color="white", bold=True)


class FamilyMatrix(Static):
    """Roll/diddle/flam/drag confusion: the coarse picture beside the fine one."""

    normalised: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.counts = np.zeros((len(FAMILIES), len(FAMILIES)), dtype=np.int64)

    def set_data(self, confusion: np.ndarray) -> None:
        self.counts = family_matrix(confusion)
        self.watch_normalised()

    def watch_normalised(self) -> None:
        fractions = row_normalised(self.counts)
        table = Table(title="families", title_style="bold", box=None, pad_edge=False)
        table.add_column("true \\ pred", style="bold")
        for family in FAMILIES:
            table.add_column(family, justify="right")
        for i, family in enumerate(FAMILIES):
            cells = [
                f"{100 * fractions[i, j]:.0f}%" if self.normalised else str(self.counts[i, j])
                for j in range(len(FAMILIES))
            ]
            cells[i] = f"[green]{cells[i]}[/]"
            table.add_row(family, *cells)
        self.update(table)
