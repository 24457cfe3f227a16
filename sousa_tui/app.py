"""`sousa-tui`: the experiment console. Reads the manifest and run directories; never torch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header

from sousa_train.manifest import DEFAULT_MANIFEST, Manifest, ManifestError, load_manifest
from sousa_train.runlog import find_runs
from sousa_tui.runs import RunSummary

COLUMNS = (
    "experiment",
    "model",
    "strategy",
    "data",
    "state",
    "progress",
    "best val bal.acc",
    "test bal.acc",
)


class SousaApp(App[None]):
    """The experiments pane: each experiment with its latest run, refreshed from its files."""

    TITLE = "SOUSAphone"
    BINDINGS: ClassVar = [Binding("q", "quit", "Quit", id="quit")]

    def __init__(self, manifest: Manifest, runs_dir: Path) -> None:
        super().__init__()
        self.manifest = manifest
        self.runs_dir = runs_dir
        self.summaries: dict[str, RunSummary] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#experiments", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        for name, cfg in self.manifest.experiments.items():
            table.add_row(
                name,
                f"{cfg.model}/{cfg.variant}",
                cfg.strategy,
                cfg.data.name,
                *["-"] * 4,
                key=name,
            )
        self.refresh_runs()
        self.set_interval(1.0, self.refresh_runs)

    def refresh_runs(self) -> None:
        table = self.query_one("#experiments", DataTable)
        for name in self.manifest.experiments:
            runs = find_runs(self.runs_dir, name)
            if not runs:
                continue
            latest = runs[-1].root
            summary = self.summaries.get(name)
            if summary is None or summary.root != latest:
                summary = self.summaries[name] = RunSummary(latest, name, latest.name)
            summary.refresh()
            progress = "-" if summary.progress is None else f"{summary.progress:.0%}"
            table.update_cell(name, "state", summary.state)
            table.update_cell(name, "progress", progress)
            table.update_cell(name, "best val bal.acc", _fmt(summary.best_val_bacc))
            table.update_cell(name, "test bal.acc", _fmt(summary.test_bacc))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sousa-tui", description="The SOUSAphone console.")
    parser.add_argument("--manifest", default=str(DEFAULT_MANIFEST))
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest(Path(args.manifest))
    except ManifestError as exc:
        print(f"sousa-tui: {exc}", file=sys.stderr)
        return 2
    SousaApp(manifest, Path(args.runs_dir)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
