"""The evaluation browser: one run's evaluations, to read and to listen to.

Push `EvalScreen(run_dir, split)` from any app; `v` cycles through the run's test and val
splits and every other eval/<data>-<split>/ folder it has. When the run's own split has not
been evaluated yet the screen runs `sousa-train eval` as a subprocess and shows its
progress; file reading, the subprocess and audio all run in workers, so the console never
stalls.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Footer, ProgressBar, Static, TabbedContent, TabPane

from sousa_train.rudiments import RUDIMENTS
from sousa_train.rundir.layout import RunDir
from sousa_tui.evaluation.clip_table import ClipTable
from sousa_tui.evaluation.confusion import ConfusionHeatmap, FamilyMatrix
from sousa_tui.evaluation.export import export_all
from sousa_tui.evaluation.listening import ListeningScreen
from sousa_tui.evaluation.rudiment_table import RudimentTable
from sousa_tui.evaluation.scores import (
    EvalData,
    EvalFilesError,
    Prediction,
    cell_clips,
    eval_args,
    eval_names,
    eval_title,
    load_eval,
    mistakes,
    per_rudiment,
    predictions_path,
)
from sousa_tui.evaluation.summary import summary_view

PROGRESS = re.compile(r"(\d+)/(\d+) clips")
TABS = (
    ("summary", "Summary", None),
    ("matrix", "Matrix", "#heatmap"),
    ("rudiments", "Rudiments", "#rudiment-table"),
    ("mistakes", "Mistakes", "#clip-table"),
)
MATRIX_HELP = "rows: true, columns: predicted (PAS order)\ngreen: correct · red: mistakes"


def eval_command(run_dir: Path, split: str) -> list[str]:
    """`sousa-train eval` with this interpreter, so the console's own environment is used."""
    return [sys.executable, "-m", "sousa_train.cli", "eval", str(run_dir), *eval_args(split)]


class EvalScreen(ListeningScreen):
    """Summary, confusion matrix, per-rudiment table and mistakes of one evaluation.

    ``split`` names the eval folder: "test", "val", or "<data>-<split>" for another data set.
    """

    CSS_PATH = "evaluation.tcss"
    BINDINGS: ClassVar = [
        *(
            Binding(str(i), f"show_tab('{tab}')", title, id=f"eval.{tab}")
            for i, (tab, title, _) in enumerate(TABS, 1)
        ),
        Binding("v", "switch_split", "Test/val", id="eval.split"),
        Binding("x", "export", "Export", id="eval.export"),
        Binding("n", "toggle_normalised", "Counts/row %", id="eval.normalise"),
        Binding("a", "all_mistakes", "All mistakes", id="eval.all"),
        Binding("p", "play", "Play/stop", id="eval.play"),
        Binding("b", "play_reference", "Play predicted (A/B)", id="eval.ab"),
        Binding("escape", "stop_or_back", "Stop/back", id="eval.back"),
    ]
    normalised: reactive[bool] = reactive(False)

    def __init__(self, run_dir: Path, split: str = "test") -> None:
        super().__init__()
        self.run = RunDir(run_dir)
        self.split = split
        self.data: EvalData | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with Vertical(id="evaluating"):
            yield Static("Loading ...", id="eval-status")
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
                yield RudimentTable(id="rudiment-table")
            with TabPane("Mistakes", id="mistakes"):
                yield Static(id="clips-title")
                yield ClipTable(id="clip-table")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.start_listening()
        self.open_split()

    # Loading: read the files, or evaluate first.

    def open_split(self) -> None:
        self.data = None
        self.query_one("#title", Static).update(
            f"[b]{self.run.root.parent.name}/{self.run.run_id}[/b] · {eval_title(self.split)}"
        )
        if predictions_path(self.run, self.split).is_file():
            self.load()
        else:
            self.evaluate()

    def show_views(self, views: bool) -> None:
        """Either the evaluation's views, or the panel that says why they are not there yet."""
        self.query_one("#evaluating").display = not views
        self.query_one("#views").display = views

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
        self.show_views(False)
        status = self.query_one("#eval-status", Static)
        bar = self.query_one("#eval-progress", ProgressBar)
        output = self.query_one("#eval-output", Static)
        status.update(f"Evaluating the {eval_title(self.split)} with `sousa-train eval` ...")
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
            bar.display = False
            status.update(Text(f"`sousa-train eval` failed (exit code {code}):", "red"))
            return
        self.load()

    def show_error(self, message: str) -> None:
        self.show_views(False)
        self.query_one("#eval-progress").display = False
        self.query_one("#eval-status", Static).update(Text(message, "red"))

    def show_data(self, data: EvalData) -> None:
        self.data = data
        self.show_views(True)
        self.query_one("#summary-text", Static).update(summary_view(data))
        heatmap = self.query_one(ConfusionHeatmap)
        heatmap.set_data(data.confusion)
        self.query_one(FamilyMatrix).set_data(data.confusion)
        self.query_one(RudimentTable).fill(per_rudiment(data.confusion))
        self.list_clips(mistakes(data.predictions), None)

    # Tabs, matrix and clip lists.

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#views", TabbedContent).active = tab
        focus = next(selector for name, _, selector in TABS if name == tab)
        if focus and self.data is not None:
            self.query_one(focus).focus()
        self.refresh_bindings()

    @on(TabbedContent.TabActivated)
    def tab_changed(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that act on one tab show in the footer only there."""
        tab = self.query_one("#views", TabbedContent).active
        if action == "toggle_normalised":
            return tab == "matrix"
        if action in ("all_mistakes", "play_reference"):
            return tab == "mistakes"
        if action == "play":
            return tab == "mistakes" or self.player.now_playing is not None
        return True

    def action_toggle_normalised(self) -> None:
        self.normalised = not self.normalised

    @on(ConfusionHeatmap.CursorMoved)
    def cursor_moved(self, event: ConfusionHeatmap.CursorMoved) -> None:
        text = self.query_one(ConfusionHeatmap).cell_text(event.true, event.pred)
        self.query_one("#cell-info", Static).update(text)

    @on(ConfusionHeatmap.CellSelected)
    def cell_selected(self, event: ConfusionHeatmap.CellSelected) -> None:
        if self.data is not None:
            clips = cell_clips(self.data.predictions, event.true, event.pred)
            self.list_clips(clips, (event.true, event.pred))
            self.action_show_tab("mistakes")

    def list_clips(self, clips: list[Prediction], cell: tuple[int, int] | None) -> None:
        """Show ``clips`` in the clip list: one matrix cell's, or (cell None) all mistakes."""
        if cell is None:
            title = f"All {len(clips)} mistakes"
        else:
            true, pred = (RUDIMENTS[c].name for c in cell)
            title = f"{true} -> {pred}: {len(clips)} clips  (a: all mistakes)"
        self.query_one("#clips-title", Static).update(Text(title, style="bold"))
        self.query_one(ClipTable).show(clips)

    def action_all_mistakes(self) -> None:
        if self.data is not None:
            self.list_clips(mistakes(self.data.predictions), None)

    def action_switch_split(self) -> None:
        names = eval_names(self.run)
        at = names.index(self.split) if self.split in names else -1
        self.split = names[(at + 1) % len(names)]
        self.open_split()

    def action_export(self) -> None:
        if self.data is not None:
            paths = export_all(self.data)
            names = ", ".join(p.name for p in paths)
            self.set_status(f"Exported {names} to {paths[0].parent}")

    # Playback (ListeningScreen): the selected clip, and A/B against the predicted rudiment.

    def action_play(self) -> None:
        if self.player.now_playing is not None:
            self.stop_audio()
            return
        clip = self.query_one(ClipTable).selected
        if clip is not None and self.data is not None:
            true, pred = RUDIMENTS[clip.label].name, RUDIMENTS[clip.pred].name
            self.start_audio(self.data, clip, f"{clip.sample_id} (true {true}, predicted {pred})")

    def action_play_reference(self) -> None:
        """B of the A/B: what the rudiment the model heard really sounds like."""
        clip = self.query_one(ClipTable).selected
        if clip is not None and self.data is not None:
            self.play_reference(self.data, clip.pred)
