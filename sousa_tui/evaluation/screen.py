"""The evaluation browser: one run's test or validation results, to read and to listen to.

Push `EvalScreen(run_dir, split)` from any app. When the split has not been evaluated yet the
screen runs `sousa-train eval` as a subprocess and shows its progress; file reading, the
subprocess and audio all run in workers, so the console never stalls.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static, TabbedContent, TabPane

from sousa_train.rudiments import RUDIMENTS
from sousa_train.runlog import RunDir
from sousa_tui.evaluation.confusion import ConfusionHeatmap, FamilyMatrix
from sousa_tui.evaluation.export import export_all
from sousa_tui.evaluation.playback import PlaybackError, Player
from sousa_tui.evaluation.tables import (
    EvalData,
    EvalFilesError,
    Prediction,
    RudimentRow,
    audio_file,
    breakdowns,
    cell_clips,
    load_eval,
    mistakes,
    per_rudiment,
    predictions_path,
    reference_clip,
    summary,
)

PROGRESS = re.compile(r"(\d+)/(\d+) clips")
RUDIMENT_COLUMNS: tuple[tuple[str, str, Callable[[RudimentRow], object]], ...] = (
    ("pas", "PAS", lambda r: r.pas),
    ("rudiment", "rudiment", lambda r: r.name),
    ("family", "family", lambda r: r.family),
    ("precision", "precision", lambda r: r.precision),
    ("recall", "recall", lambda r: r.recall),
    ("f1", "F1", lambda r: r.f1),
    ("support", "support", lambda r: r.support),
    ("confused", "most confused with", lambda r: (r.confused_count, r.confused_with or "")),
)
MATRIX_HELP = "rows: true, columns: predicted (PAS order)\ngreen: correct · red: mistakes"
MISTAKE_COLUMNS = ("true", "predicted", "confidence", "tempo", "skill tier", "augmentation", "clip")


def eval_command(run_dir: Path, split: str) -> list[str]:
    """`sousa-train eval` with this interpreter, so the console's own environment is used."""
    return [sys.executable, "-m", "sousa_train.cli", "eval", str(run_dir), "--split", split]


def _num(value: float) -> Text:
    return Text(f"{value:.3f}", justify="right")


class EvalScreen(Screen[None]):
    """Summary, confusion matrix, per-rudiment table and mistakes of one evaluated split."""

    CSS_PATH = "evaluation.tcss"
    normalised: reactive[bool] = reactive(False)
    BINDINGS: ClassVar = [
        Binding("1", "show_tab('summary')", "Summary", id="eval.summary"),
        Binding("2", "show_tab('matrix')", "Matrix", id="eval.matrix"),
        Binding("3", "show_tab('rudiments')", "Rudiments", id="eval.rudiments"),
        Binding("4", "show_tab('mistakes')", "Mistakes", id="eval.mistakes"),
        Binding("v", "switch_split", "Test/val", id="eval.split"),
        Binding("x", "export", "Export", id="eval.export"),
        Binding("n", "toggle_normalised", "Counts/row %", id="eval.normalise"),
        Binding("s", "sort", "Sort by column", id="eval.sort"),
        Binding("a", "all_mistakes", "All mistakes", id="eval.all"),
        Binding("p", "play", "Play/stop", id="eval.play"),
        Binding("b", "play_reference", "Play predicted (A/B)", id="eval.ab"),
        Binding("escape", "stop_or_back", "Stop/back", id="eval.back"),
    ]

    def __init__(self, run_dir: Path, split: str = "test") -> None:
        super().__init__()
        self.run = RunDir(run_dir)
        self.split = split
        self.data: EvalData | None = None
        self.player = Player()
        self.clips: list[Prediction] = []
        self.sort_column: str | None = None
        self.sort_reverse = False

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with Vertical(id="evaluating"):
            yield Static(id="eval-status")
            yield ProgressBar(id="eval-progress", show_eta=False)
            yield Static(id="eval-output")
        with TabbedContent(id="views", initial="summary"):
            with TabPane("Summary", id="summary"), VerticalScroll():
                yield Static(id="summary-text")
            with TabPane("Matrix", id="matrix"), Horizontal(id="matrix-row"):
                yield ConfusionHeatmap(id="heatmap").data_bind(EvalScreen.normalised)
                with Vertical(id="matrix-side"):
                    yield Static(id="cell-info")
                    yield Static(MATRIX_HELP, id="matrix-help")
                    yield FamilyMatrix(id="families").data_bind(EvalScreen.normalised)
            with TabPane("Rudiments", id="rudiments"):
                yield DataTable(id="rudiment-table", cursor_type="cell", zebra_stripes=True)
            with TabPane("Mistakes", id="mistakes"):
                yield Static(id="mistakes-title")
                yield DataTable(id="mistake-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        rudiment_table = self.query_one("#rudiment-table", DataTable)
        for key, label, _ in RUDIMENT_COLUMNS:
            rudiment_table.add_column(label, key=key)
        mistake_table = self.query_one("#mistake-table", DataTable)
        for label in MISTAKE_COLUMNS:
            mistake_table.add_column(label, key=label)
        self.probe_audio()
        self.set_interval(0.25, self.refresh_playing)
        self.open_split()

    # Loading: read the files, or evaluate first.

    def open_split(self) -> None:
        self.data = None
        self.query_one("#title", Static).update(
            f"[b]{self.run.root.parent.name}/{self.run.run_id}[/b] · {self.split} split"
        )
        if predictions_path(self.run, self.split).is_file():
            self.load()
        else:
            self.evaluate()

    @work(thread=True, exclusive=True, group="load")
    def load(self) -> None:
        try:
            data = load_eval(self.run.root, self.split)
        except EvalFilesError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.show_data, data)

    @work(exclusive=True, group="load")
    async def evaluate(self) -> None:
        """Run `sousa-train eval`, following its 'n/N clips' lines; stops it if we leave."""
        self.query_one("#evaluating").display = True
        self.query_one("#views").display = False
        status = self.query_one("#eval-status", Static)
        bar = self.query_one("#eval-progress", ProgressBar)
        output = self.query_one("#eval-output", Static)
        status.update(f"Evaluating the {self.split} split with `sousa-train eval` ...")
        bar.update(total=None, progress=0)
        proc = await asyncio.create_subprocess_exec(
            *eval_command(self.run.root, self.split),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        tail: list[str] = []
        try:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                tail = [*tail[-5:], line]
                output.update(Text("\n".join(tail), style="dim"))
                if match := PROGRESS.search(line):
                    bar.update(total=int(match[2]), progress=int(match[1]))
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.terminate()
        if code != 0:
            status.update(
                Text(f"Evaluation failed (exit code {code}); its last output is below.", "red")
            )
            return
        self.query_one("#evaluating").display = False
        self.query_one("#views").display = True
        self.load()

    def show_error(self, message: str) -> None:
        self.query_one("#evaluating").display = True
        self.query_one("#views").display = False
        self.query_one("#eval-progress").display = False
        self.query_one("#eval-status", Static).update(Text(message, "red"))

    def show_data(self, data: EvalData) -> None:
        self.data = data
        self.query_one("#evaluating").display = False
        self.query_one("#views").display = True
        self.query_one("#summary-text", Static).update(self.summary_renderable(data))
        self.query_one(ConfusionHeatmap).set_data(data.confusion)
        self.query_one(FamilyMatrix).set_data(data.confusion)
        self.fill_rudiments(per_rudiment(data.confusion))
        self.action_all_mistakes(switch=False)

    def summary_renderable(self, data: EvalData) -> Group:
        s = summary(data)
        head = Table(
            title=f"{self.split} split, {s.num_clips} clips", box=None, title_justify="left"
        )
        head.add_column("metric")
        head.add_column("value", justify="right")
        for name, value in (
            ("accuracy", s.accuracy),
            ("balanced accuracy", s.balanced_accuracy),
            ("top-5 accuracy", s.top5_accuracy),
            ("macro F1", s.macro_f1),
        ):
            head.add_row(name, f"{value:.4f}")
        parts: list[Table] = [head]
        for attribute, groups in breakdowns(data.predictions).items():
            table = Table(title=f"balanced accuracy by {attribute}", box=None, title_justify="left")
            table.add_column(attribute)
            table.add_column("bal. acc", justify="right")
            table.add_column("clips", justify="right")
            for g in groups:
                table.add_row(g.name, f"{g.balanced_accuracy:.4f}", str(g.clips))
            parts.append(table)
        return Group(*(item for table in parts for item in (table, Text(""))))

    # Per-rudiment table.

    def fill_rudiments(self, rows: list[RudimentRow]) -> None:
        self.rudiment_rows = {r.pas: r for r in rows}
        table = self.query_one("#rudiment-table", DataTable)
        table.clear()
        for r in rows:
            confused = (
                "-"
                if r.confused_with is None
                else f"{RUDIMENTS[r.confused_with].name} ({r.confused_count})"
            )
            table.add_row(
                r.pas,
                r.name,
                r.family,
                _num(r.precision),
                _num(r.recall),
                _num(r.f1),
                Text(str(r.support), justify="right"),
                confused,
                key=str(r.pas),
            )
        if self.sort_column:
            self.sort_rudiments(self.sort_column, self.sort_reverse)

    def sort_rudiments(self, column: str, reverse: bool) -> None:
        """Sort by any column's underlying value (not its text), PAS order breaking ties."""
        value = next(get for key, _, get in RUDIMENT_COLUMNS if key == column)
        rows = self.rudiment_rows
        self.sort_column, self.sort_reverse = column, reverse
        self.query_one("#rudiment-table", DataTable).sort(
            "pas", key=lambda pas: value(rows[pas]), reverse=reverse
        )

    def action_sort(self) -> None:
        table = self.query_one("#rudiment-table", DataTable)
        column = RUDIMENT_COLUMNS[table.cursor_column][0]
        self.sort_by(column)

    def sort_by(self, column: str) -> None:
        """The first sort of a column is ascending, the next one reverses it."""
        self.sort_rudiments(column, reverse=self.sort_column == column and not self.sort_reverse)

    @on(DataTable.HeaderSelected, "#rudiment-table")
    def header_sort(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    # Matrix and mistakes.

    @on(ConfusionHeatmap.CursorMoved)
    def cursor_moved(self, event: ConfusionHeatmap.CursorMoved) -> None:
        heatmap = self.query_one(ConfusionHeatmap)
        self.query_one("#cell-info", Static).update(heatmap.cell_text(event.true, event.pred))

    @on(ConfusionHeatmap.CellSelected)
    def cell_selected(self, event: ConfusionHeatmap.CellSelected) -> None:
        if self.data is None:
            return
        clips = cell_clips(self.data.predictions, event.true, event.pred)
        true, pred = RUDIMENTS[event.true].name, RUDIMENTS[event.pred].name
        self.show_clips(clips, f"{true} -> {pred}: {len(clips)} clips  (a: all mistakes)")
        self.action_show_tab("mistakes")

    def show_clips(self, clips: list[Prediction], title: str) -> None:
        self.clips = clips
        self.query_one("#mistakes-title", Static).update(Text(title, style="bold"))
        table = self.query_one("#mistake-table", DataTable)
        table.clear()
        for i, p in enumerate(clips):
            table.add_row(
                RUDIMENTS[p.label].name,
                RUDIMENTS[p.pred].name,
                _num(p.confidence),
                "-" if p.tempo_bpm is None else f"{p.tempo_bpm:.0f}",
                p.skill_tier or "-",
                p.augmentation_preset or "-",
                p.sample_id,
                key=str(i),
            )

    def action_all_mistakes(self, switch: bool = True) -> None:
        if self.data is not None:
            found = mistakes(self.data.predictions)
            self.show_clips(found, f"All {len(found)} mistakes")
            if switch:
                self.action_show_tab("mistakes")

    def action_toggle_normalised(self) -> None:
        self.normalised = not self.normalised

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#views", TabbedContent).active = tab
        focus = {
            "matrix": ConfusionHeatmap,
            "rudiments": "#rudiment-table",
            "mistakes": "#mistake-table",
        }
        if tab in focus and self.data is not None:
            self.query_one(focus[tab]).focus()
        self.refresh_bindings()

    @on(TabbedContent.TabActivated)
    def tab_changed(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that act on one tab show in the footer only there."""
        tab = self.query_one("#views", TabbedContent).active
        if action == "toggle_normalised":
            return tab == "matrix"
        if action == "sort":
            return tab == "rudiments"
        if action in ("all_mistakes", "play_reference"):
            return tab == "mistakes"
        if action == "play":
            return tab == "mistakes" or self.player.now_playing is not None
        return True

    def action_switch_split(self) -> None:
        self.split = "val" if self.split == "test" else "test"
        self.open_split()

    def action_export(self) -> None:
        if self.data is None:
            return
        paths = export_all(self.data)
        names = ", ".join(p.name for p in paths)
        self.set_status(f"Exported {names} to {paths[0].parent}")

    # Playback.

    def set_status(self, message: str) -> None:
        self.query_one("#status", Static).update(message)

    @work(thread=True, group="audio")
    def probe_audio(self) -> None:
        reason = self.player.unavailable()
        if reason:
            self.app.call_from_thread(self.set_status, reason)

    def selected_clip(self) -> Prediction | None:
        table = self.query_one("#mistake-table", DataTable)
        if not self.clips or table.cursor_row is None:
            return None
        return self.clips[min(table.cursor_row, len(self.clips) - 1)]

    def action_play(self) -> None:
        if self.player.now_playing is not None:
            self.stop_audio()
            return
        clip = self.selected_clip()
        if clip is not None:
            true, pred = RUDIMENTS[clip.label].name, RUDIMENTS[clip.pred].name
            label = f"{clip.sample_id} (true {true}, predicted {pred})"
            self.start_audio(clip, label)

    def action_play_reference(self) -> None:
        """B of the A/B: what the rudiment the model heard really sounds like."""
        clip = self.selected_clip()
        if clip is None or self.data is None:
            return
        ref = reference_clip(self.data.predictions, clip.pred)
        name = RUDIMENTS[clip.pred].name
        if ref is None:
            self.set_status(f"No {name} clip in the {self.split} split to compare with.")
            return
        how = "classified correctly" if ref.correct else "no clip of it was classified correctly"
        self.start_audio(ref, f"{ref.sample_id} ({name}, {how})")

    def action_stop_or_back(self) -> None:
        if self.player.now_playing is not None:
            self.stop_audio()
        elif len(self.app.screen_stack) > 1:
            self.dismiss()

    def start_audio(self, clip: Prediction, label: str) -> None:
        assert self.data is not None
        try:
            path = audio_file(self.data, clip)
        except EvalFilesError as exc:
            self.set_status(str(exc))
            return
        self.set_status(f"▶ loading {label}")
        self.play_worker(path, label)

    @work(thread=True, exclusive=True, group="audio")
    def play_worker(self, path: Path, label: str) -> None:
        try:
            self.player.play(path, label)
        except PlaybackError as exc:
            self.app.call_from_thread(self.set_status, str(exc))
            return
        self.app.call_from_thread(self.set_status, f"▶ playing {label}   p/esc: stop")
        self.app.call_from_thread(self.refresh_bindings)

    @work(thread=True, exclusive=True, group="audio")
    def stop_audio(self) -> None:
        self.player.stop()
        self.app.call_from_thread(self.set_status, "■ stopped")
        self.app.call_from_thread(self.refresh_bindings)

    def refresh_playing(self) -> None:
        """Clears the playing indicator when a clip ends on its own."""
        if self.player.ended():
            self.set_status("")
            self.refresh_bindings()

    def on_unmount(self) -> None:
        self.player.stop()
