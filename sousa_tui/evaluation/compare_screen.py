"""Two runs side by side: per-rudiment recall and its difference, the confusion matrices'
difference as a heat map, and the clips one run classifies right and the other wrong,
playable (`p`) with the A/B key (`b`) as in the evaluation browser.

Opened from the results table or the matrix view (`space` marks run A, `c` on run B).
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
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from sousa_train.rudiments import RUDIMENTS
from sousa_tui.evaluation.compare import CannotCompare, Comparison, Flip, RudimentDiff, compare
from sousa_tui.evaluation.confusion import ZERO, ConfusionHeatmap, heat_rgb
from sousa_tui.evaluation.listening import ListeningScreen
from sousa_tui.evaluation.rudiment_table import SortedTable, number
from sousa_tui.evaluation.scores import EvalFilesError, load_eval

DIFF_HELP = (
    "cells: clips of B minus clips of A (rows true, columns predicted)\n"
    "green: B better (more right, fewer of this mistake) · red: A better"
)


def signed(value: float) -> Text:
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(f"{value:+.3f}", style=style, justify="right")


class RecallDiffTable(SortedTable):
    """Recall of each rudiment in A and B, and B - A; sortable like the browser's table."""

    COLUMNS = (
        ("pas", "PAS", lambda r: r.pas),
        ("rudiment", "rudiment", lambda r: r.name),
        ("family", "family", lambda r: r.family),
        ("recall_a", "recall A", lambda r: r.recall_a),
        ("recall_b", "recall B", lambda r: r.recall_b),
        ("difference", "B - A", lambda r: r.difference),
        ("support", "clips", lambda r: r.support),
    )

    def fill(self, rows: list[RudimentDiff]) -> None:
        self.rows_by_pas = {r.pas: r for r in rows}
        self.clear()
        for r in rows:
            cells = (number(r.recall_a), number(r.recall_b), signed(r.difference))
            self.add_row(r.pas, r.name, r.family, *cells, r.support, key=str(r.pas))
        self.resort()


class DifferenceHeatmap(ConfusionHeatmap):
    """The confusion heat map of B minus A: green where B gains, red where it loses."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.a = self.b = self.confusion

    def set_comparison(self, comparison: Comparison) -> None:
        self.a, self.b = comparison.a.confusion, comparison.b.confusion
        self.set_data(comparison.difference)

    def cell_text(self, true: int, pred: int) -> str:
        a, b = int(self.a[true, pred]), int(self.b[true, pred])
        return f"{RUDIMENTS[true].name} -> {RUDIMENTS[pred].name}: A {a}, B {b} (B - A {b - a:+d})"

    def _cell(self, true: int, pred: int, peak: int) -> tuple[str, Style]:
        diff = int(self.confusion[true, pred])
        if diff == 0:
            return " ·", ZERO
        text = f"{diff:+d}" if -10 < diff < 10 else ("++" if diff > 0 else "--")
        b_better = (diff > 0) == (true == pred)
        bg = Color.from_rgb(*heat_rgb(abs(diff) / peak, b_better))
        return text, Style(bgcolor=bg, color="white", bold=True)


class FlipTable(DataTable):
    """The clips that only one of the two runs classifies right; ``selected`` for playback."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.flips: list[Flip] = []

    def on_mount(self) -> None:
        for label in ("right", "true", "A predicted", "B predicted", "tempo", "clip"):
            self.add_column(label, key=label)

    def show(self, flips: list[Flip]) -> None:
        self.flips = flips
        self.clear()
        for i, f in enumerate(flips):
            tempo = "-" if f.a.tempo_bpm is None else f"{f.a.tempo_bpm:.0f}"
            names = (RUDIMENTS[c].name for c in (f.a.label, f.a.pred, f.b.pred))
            self.add_row(f"{f.right} only", *names, tempo, f.a.sample_id, key=str(i))

    @property
    def selected(self) -> Flip | None:
        if not self.flips:
            return None
        return self.flips[min(self.cursor_row, len(self.flips) - 1)]


class CompareScreen(ListeningScreen):
    """Run A (marked first) against run B, over one evaluation split of each."""

    CSS_PATH = "evaluation.tcss"
    BINDINGS: ClassVar = [
        Binding("1", "show_tab('rudiments')", "Rudiments", id="compare.rudiments"),
        Binding("2", "show_tab('difference')", "Difference", id="compare.difference"),
        Binding("3", "show_tab('flips')", "Flipped clips", id="compare.flips"),
        Binding("p", "play", "Play/stop", id="compare.play"),
        Binding("b", "play_reference", "Play predicted (A/B)", id="compare.ab"),
        Binding("escape", "stop_or_back", "Stop/back", id="compare.back"),
    ]

    def __init__(self, run_a: Path, run_b: Path, split: str = "test") -> None:
        super().__init__()
        self.runs = (Path(run_a), Path(run_b))
        self.split = split
        self.comparison: Comparison | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static("Loading ...", id="compare-summary")
        with TabbedContent(id="compare-views", initial="rudiments"):
            with TabPane("Rudiments", id="rudiments"):
                yield RecallDiffTable(id="recall-table")
            with TabPane("Difference", id="difference"), Horizontal(id="matrix-row"):
                yield DifferenceHeatmap(id="heatmap")
                yield Static(id="cell-info")
            with TabPane("Flipped clips", id="flips"):
                yield FlipTable(id="flip-table")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        a, b = (f"{r.parent.name}/{r.name}" for r in self.runs)
        self.query_one("#title", Static).update(f"[b]A[/b] {a}  ·  [b]B[/b] {b}  ·  {self.split}")
        self.query_one("#compare-views").display = False
        self.start_listening()
        self.load()

    @work(thread=True, exclusive=True, group="load")
    def load(self) -> None:
        try:
            found = compare(*(load_eval(run, self.split) for run in self.runs))
        except (EvalFilesError, CannotCompare) as exc:
            self.app.call_from_thread(self.show_error, f"Cannot compare: {exc}")
            return
        self.app.call_from_thread(self.show_comparison, found)

    def show_error(self, message: str) -> None:
        self.query_one("#compare-summary", Static).update(Text(message, "red"))

    def show_comparison(self, comparison: Comparison) -> None:
        self.comparison = comparison
        bacc_a, bacc_b = comparison.balanced_accuracy
        a_only = sum(f.right == "A" for f in comparison.flips)
        self.query_one("#compare-summary", Static).update(
            f"balanced accuracy A {bacc_a:.4f} · B {bacc_b:.4f} · B - A {bacc_b - bacc_a:+.4f}   "
            f"clips right in A only: {a_only}, in B only: {len(comparison.flips) - a_only}\n"
            + DIFF_HELP
        )
        self.query_one("#compare-views").display = True
        self.query_one(RecallDiffTable).fill(comparison.rudiments)
        self.query_one(DifferenceHeatmap).set_comparison(comparison)
        self.query_one(FlipTable).show(comparison.flips)

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#compare-views", TabbedContent).active = tab

    def on_confusion_heatmap_cursor_moved(self, event: ConfusionHeatmap.CursorMoved) -> None:
        text = self.query_one(DifferenceHeatmap).cell_text(event.true, event.pred)
        self.query_one("#cell-info", Static).update(text)

    def _flip(self) -> Flip | None:
        return self.query_one(FlipTable).selected if self.comparison else None

    def action_play(self) -> None:
        if self.player.now_playing is not None:
            self.stop_audio()
            return
        if (flip := self._flip()) is not None and self.comparison is not None:
            wrong = "B" if flip.right == "A" else "A"
            label = (
                f"{flip.a.sample_id} (true {RUDIMENTS[flip.a.label].name}; "
                f"{wrong} heard {RUDIMENTS[flip.wrong.pred].name})"
            )
            self.start_audio(self.comparison.a, flip.a, label)

    def action_play_reference(self) -> None:
        """What the wrong run heard: a clip of its predicted rudiment it classified right."""
        if (flip := self._flip()) is not None and self.comparison is not None:
            data = self.comparison.b if flip.right == "A" else self.comparison.a
            self.play_reference(data, flip.wrong.pred)


def open_compare(screen: Screen[None], marked: Path | None, other: Path | None) -> None:
    """Compare the marked run (A) with ``other`` (B), or say what is missing."""
    if marked is None:
        screen.notify("Mark a run with space first, then c on another.", severity="warning")
    elif other is None or other == marked:
        screen.notify("Put the cursor on another finished run.", severity="warning")
    else:
        screen.app.push_screen(CompareScreen(marked, other))
