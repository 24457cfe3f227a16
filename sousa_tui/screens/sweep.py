"""A sweep at a glance: the best trial so far, the figure of every trial in order, and each
searched setting's importance as Optuna computes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from sousa_tui.state.session import Session
from sousa_tui.state.study import StudyUnreadable, read_study, report_from_runs
from sousa_tui.widgets import formatting as fmt

BAR_WIDTH = 40
RELOAD_SEC = 10.0


def _bar(value: float | None, top: float) -> str:
    if value is None or top <= 0:
        return ""
    return "█" * max(1, round(BAR_WIDTH * max(0.0, value) / top))


def render_report(report: dict[str, Any], note: str) -> tuple[str, str, str]:
    """The three panes' text: the headline with the best trial, trials, importances."""
    trials = report["trials"]
    done = sum(t["state"] in ("complete", "finished", "pruned") for t in trials)
    head = [f"{report['sweep']}: {done} of {report['target']} trials done, {report['metric']}"]
    best = next((t for t in trials if t["number"] == report["best"]), None)
    if best is None:
        head.append("best: none yet (no trial has completed)")
    else:
        head.append(
            f"best: {fmt.sampled(best['number'], best['params'])}  ->  {fmt.score(best['value'])}"
            f"  ({Path(best['run_dir'] or '-').name})"
        )
    top = max((t["value"] or 0.0 for t in trials), default=0.0)
    lines = ["figure per trial, in order:"] + [
        f"#{t['number']:<3} {t['state']:<9} {fmt.score(t['value']):>7}  {_bar(t['value'], top)}"
        for t in trials
    ]
    importances = report.get("importances")
    if importances:
        tops = max(importances.values())
        shown = ["importance of each setting (Optuna):"] + [
            f"{k:<28} {v:6.3f}  {_bar(v, tops)}" for k, v in importances.items()
        ]
    else:
        shown = [note or "importances: need two complete trials with different values"]
    return "\n".join(head), "\n".join(lines), "\n".join(shown)


class SweepScreen(Screen[None]):
    """Shows the run directories' view at once, then Optuna's report, re-read every 10 s."""

    BINDINGS: ClassVar = [
        Binding("escape,w", "app.pop_screen", "Back", id="sweep-back"),
        Binding("r", "reload", "Reload", id="sweep-reload", tooltip="ask Optuna again"),
    ]

    def __init__(self, session: Session, sweep: str) -> None:
        super().__init__()
        self.session = session
        self.sweep = sweep

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(id="sweep-head")
            yield Static(id="sweep-trials")
            yield Static(id="sweep-importances")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"sweep {self.sweep}"
        session = self.session
        with session.lock:
            runs = session.catalog.runs_of(self.sweep)
            target = session.manifest.sweeps[self.sweep].trials
            self.show(report_from_runs(self.sweep, target, runs), "asking Optuna for importances…")
        self.action_reload()
        self.set_interval(RELOAD_SEC, self.action_reload)

    def show(self, report: dict[str, Any], note: str = "") -> None:
        for pane, text in zip(
            ("#sweep-head", "#sweep-trials", "#sweep-importances"),
            render_report(report, note),
            strict=True,
        ):
            self.query_one(pane, Static).update(Text(text))  # plain text, never markup

    def show_error(self, message: str) -> None:
        self.query_one("#sweep-importances", Static).update(Text(message))

    @work(thread=True, exclusive=True, group="study")
    def action_reload(self) -> None:
        session = self.session
        try:
            report = read_study(session.manifest.path, session.runs_dir, self.sweep)
        except StudyUnreadable as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.show, report)
