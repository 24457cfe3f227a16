"""The main screen: experiments on the left, the highlighted run live on the right."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input

from sousa_tui.evaluation import EvalScreen
from sousa_tui.screens.choice import ChoiceScreen
from sousa_tui.screens.matrix import MatrixScreen
from sousa_tui.screens.results import ResultsScreen
from sousa_tui.screens.sweep import SweepScreen
from sousa_tui.state.session import Refused, Session
from sousa_tui.widgets import formatting as fmt
from sousa_tui.widgets.charts import SMOOTHING_STEPS, ChartOptions
from sousa_tui.widgets.experiments import ExperimentRow, ExperimentsTable
from sousa_tui.widgets.live import LivePanel


class MainScreen(Screen[None]):
    """Every action on an experiment acts on the highlighted row."""

    BINDINGS: ClassVar = [
        Binding(
            "r", "launch('resume')", "Resume", id="resume", tooltip="resume the unfinished run"
        ),
        Binding("f", "launch('fresh')", "Fresh", id="fresh", tooltip="start a fresh run"),
        Binding("s", "stop", "Stop", id="stop", tooltip="stop (it checkpoints); again: kill"),
        Binding("k", "stop(True)", "Kill", id="kill", show=False, tooltip="kill the run outright"),
        Binding("space", "toggle_overlay", "Overlay", id="overlay", tooltip="overlay in charts"),
        Binding("slash", "filter", "Filter", id="filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", id="clear-filter", show=False),
        Binding("x", "toggle_axis", "Step/time", id="axis", tooltip="x axis: step or wall time"),
        Binding("left_square_bracket", "smoothing(-1)", "Smooth less", show=False, key_display="["),
        Binding("right_square_bracket", "smoothing(1)", "Smooth more", show=False, key_display="]"),
        Binding("plus", "parallel(1)", "More at once", show=False, key_display="+"),
        Binding("minus", "parallel(-1)", "Fewer at once", show=False, key_display="-"),
        Binding("t", "results", "Results", id="results", tooltip="results table (leaderboard)"),
        Binding("e", "evaluate", "Evaluate", id="evaluate", tooltip="confusions and mistakes"),
        Binding(
            "w",
            "sweep",
            "Sweep",
            id="sweep",
            show=False,
            tooltip="a sweep: best trial, importances",
        ),
        Binding("m", "matrix", "Matrix", id="matrix", tooltip="the [matrix.NAME] as a grid"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.options = ChartOptions()
        self.overlay: set[str] = set()
        self.filter_text = ""
        self._drawable = False  # until every child is mounted

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Input(placeholder="filter: name, model, strategy, data", id="filter")
                yield ExperimentsTable(id="experiments")
            yield LivePanel(id="live")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one(ExperimentsTable).focus()
        self.call_after_refresh(self._ready)

    def _ready(self) -> None:
        self._drawable = True
        self.refresh_view()

    def on_screen_resume(self) -> None:
        """Back from another screen: catch up with what the file worker read meanwhile."""
        self.refresh_view()

    @property
    def highlighted(self) -> str | None:
        return self.query_one(ExperimentsTable).highlighted

    def refresh_view(self) -> None:
        """Redraw from the session: table cells that changed, then the live panel."""
        if not self._drawable:
            return
        session = self.session
        with session.lock:
            self.query_one(ExperimentsTable).show(self._rows())
            name = self.highlighted
            overlay = [r for n in sorted(self.overlay) if (r := session.latest(n))]
            self.query_one(LivePanel).show(
                session.latest(name), overlay, self.options, session.note(name) if name else None
            )
        queued = len(session.launcher.queue)
        self.sub_title = (
            f"x: {self.options.x_axis}  ·  smoothing "
            f"{self.options.smoothing:g}  ·  {session.launcher.max_parallel} at once"
            + (f"  ·  {queued} queued" if queued else "")
        )

    def _rows(self) -> list[ExperimentRow]:
        rows = []
        for name in self.session.names(self.filter_text):
            run = self.session.latest(name)
            # A sweep's row shows its live trial's progress and its best trial's figures.
            best = self.session.best_trial(name) if name in self.session.manifest.sweeps else run
            rows.append(
                ExperimentRow(
                    selected="●" if name in self.overlay else "",
                    name=name,
                    state=self.session.state(name),
                    progress=fmt.fraction(run.progress if run else None),
                    best_val=fmt.score(best.best_val_bacc if best else None),
                    test=fmt.score(best.test_bacc if best else None),
                )
            )
        return rows

    def on_data_table_row_highlighted(self, event: ExperimentsTable.RowHighlighted) -> None:
        self.refresh_view()

    # -- runs -------------------------------------------------------------------------------

    def action_start(self) -> None:
        self.action_launch("start")

    def action_launch(self, mode: str) -> None:
        if (name := self.highlighted) is not None:
            self._act(lambda: self.session.launch(name, mode))

    def action_stop(self, kill: bool = False) -> None:
        if (name := self.highlighted) is not None:
            self._act(lambda: self.session.stop(name, kill))

    def _act(self, action: Callable[[], str]) -> None:
        try:
            self.notify(action())
        except Refused as exc:
            self.notify(str(exc), severity="warning")
        self.refresh_view()

    # -- view -------------------------------------------------------------------------------

    def action_toggle_overlay(self) -> None:
        if (name := self.highlighted) is not None:
            self.overlay ^= {name}
            self.refresh_view()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_one(ExperimentsTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refresh_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(ExperimentsTable).focus()

    def action_toggle_axis(self) -> None:
        axis = "time" if self.options.x_axis == "step" else "step"
        self.options = ChartOptions(axis, self.options.smoothing)
        self.refresh_view()

    def action_smoothing(self, direction: int) -> None:
        now = SMOOTHING_STEPS.index(self.options.smoothing)
        new = SMOOTHING_STEPS[max(0, min(len(SMOOTHING_STEPS) - 1, now + direction))]
        self.options = ChartOptions(self.options.x_axis, new)
        self.refresh_view()

    def action_parallel(self, change: int) -> None:
        self.session.set_parallel(change)
        self.refresh_view()

    def action_results(self) -> None:
        self.app.push_screen(ResultsScreen(self.session))

    def action_matrix(self) -> None:
        """The matrix of the highlighted experiment, the only one, or a choice of them."""
        matrices = self.session.manifest.matrices
        mine = [m for m, names in matrices.items() if self.highlighted in names]

        def open_matrix(name: str | None) -> None:
            if name:
                self.app.push_screen(MatrixScreen(self.session, name))

        if mine or len(matrices) == 1:
            open_matrix((mine or list(matrices))[0])
        elif matrices:
            self.app.push_screen(ChoiceScreen("Which matrix?", list(matrices)), open_matrix)
        else:
            self.notify("The manifest has no [matrix.NAME] table.", severity="warning")

    def action_evaluate(self) -> None:
        """Open the highlighted experiment's latest run in the evaluation browser."""
        if (name := self.highlighted) is None:
            return
        run = self.session.latest(name)
        if run is None:
            self.notify(f"{name} has no run to evaluate yet.", severity="warning")
        elif not (run.dir.best_ckpt.is_file() or run.dir.eval_dir("test").is_dir()):
            self.notify(
                f"{name}: run {run.run_id} has no best checkpoint yet; it appears after the "
                "first validation.",
                severity="warning",
            )
        else:
            self.app.push_screen(EvalScreen(run.root))

    def action_sweep(self) -> None:
        """Open the highlighted sweep: its best trial, figures per trial, importances."""
        name = self.highlighted
        if name is None or name not in self.session.manifest.sweeps:
            self.notify("w opens a sweep; highlight a sweep's row.", severity="warning")
        else:
            self.app.push_screen(SweepScreen(self.session, name))
