"""The comparison grid: models down, strategies across, each cell the figures of its
experiment's latest finished run and the state of its latest run.

One function for every reader (DESIGN.md, round 3): the console's matrix view and
`sousa-train report` both call ``matrix_grid`` or ``runs_grid``, so no figure is computed by
one and not the other. Everything comes from the run directory's files (metrics.json,
config.json, status.json, events.jsonl); nothing here imports torch.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sousa_train.config.manifest import Manifest
from sousa_train.rudiments import FAMILIES, by_slug
from sousa_train.rundir.layout import RunDir, read_json
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.status import read_status
from sousa_train.rundir.summary import RunInfo, RunSummary
from sousa_train.rundir.tail import iter_events

MISSING = "missing"  # the state of a cell whose experiment has no run at all


def _score(value: float) -> str:
    return f"{value:.4f}"


def count_text(value: float) -> str:
    """Parameter counts: 60,960 reads as 61.0k, 86 M as 86.0M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}"


def duration_text(seconds: float) -> str:
    """Wall time as m:ss, or h:mm:ss past an hour."""
    whole = int(max(0.0, seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass(frozen=True)
class Figure:
    """One figure a cell can show: its key, its title, which way is better and how it reads."""

    key: str
    title: str
    higher_is_better: bool
    text: Callable[[float], str]

    def show(self, value: float | None) -> str:
        return "-" if value is None else self.text(value)


FIGURES: tuple[Figure, ...] = (
    Figure("test_bacc", "test balanced accuracy", True, _score),
    Figure("val_bacc", "validation balanced accuracy", True, _score),
    Figure("macro_f1", "test macro F1", True, _score),
    Figure("trainable_params", "trainable parameters", False, count_text),
    Figure("wall_sec", "wall time", False, duration_text),
    Figure("samples_per_sec", "samples/s", True, lambda v: f"{v:.1f}"),
    Figure("peak_mem_mb", "peak memory (MB)", False, lambda v: f"{v:,.0f}"),
)
FIGURE_KEYS = tuple(f.key for f in FIGURES)


def figure(key: str) -> Figure:
    return FIGURES[FIGURE_KEYS.index(key)]


@dataclass(frozen=True)
class RunFigures:
    """A finished run's figures (None where its files do not say) and its test balanced
    accuracy by rudiment family."""

    values: dict[str, float | None]
    families: dict[str, float | None]


@dataclass
class Cell:
    """One experiment of the grid: its latest run's state, and its latest finished run."""

    experiment: str
    row: str
    column: str
    state: str = MISSING
    latest: Path | None = None
    finished: Path | None = None
    figures: RunFigures | None = None

    def value(self, key: str) -> float | None:
        return self.figures.values.get(key) if self.figures else None


@dataclass
class Grid:
    """Cells by (row, column), rows and columns in the manifest's order."""

    name: str
    rows: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, row: str, column: str) -> Cell | None:
        return self.cells.get((row, column))

    def ordered(self) -> list[Cell]:
        """Every cell, row by row."""
        return [c for r in self.rows for k in self.columns if (c := self.cell(r, k))]

    def best(self, key: str, column: str | None = None) -> float | None:
        """The best value of a figure in one column (or the whole grid)."""
        values = [
            v
            for c in self.ordered()
            if (column is None or c.column == column) and (v := c.value(key)) is not None
        ]
        if not values:
            return None
        return max(values) if figure(key).higher_is_better else min(values)

    def add(self, cell: Cell) -> None:
        if cell.row not in self.rows:
            self.rows.append(cell.row)
        if cell.column not in self.columns:
            self.columns.append(cell.column)
        self.cells[(cell.row, cell.column)] = cell


def _stamp(run: RunDir) -> tuple[int, ...]:
    """What changes when a run's figures may have: its status, evaluations and events."""
    paths = (
        run.status,
        run.eval_dir("test") / "metrics.json",
        run.eval_dir("val") / "metrics.json",
        run.events,
    )
    return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in paths)


def _family_scores(metrics: dict) -> dict[str, float | None]:
    """Balanced accuracy within each family: the mean recall of its rudiments in the split."""
    recalls: dict[str, list[float]] = {f: [] for f in FAMILIES}
    for slug, row in (metrics.get("per_class") or {}).items():
        if isinstance(row, dict) and row.get("support"):
            recalls[by_slug(slug).family].append(float(row["recall"]))
    return {f: (sum(v) / len(v) if v else None) for f, v in recalls.items()}


def read_figures(run: RunDir) -> RunFigures:
    """The figures of one run, from its files alone."""
    test = read_json(run.eval_dir("test") / "metrics.json") or {}
    val = read_json(run.eval_dir("val") / "metrics.json") or {}
    summary = RunSummary.of(run)
    speeds: list[float] = []
    for event in iter_events(run.events):
        summary.fold(event)
        speed = event.get("samples_per_sec")
        if event.get("kind") == "metric" and isinstance(speed, (int, float)):
            speeds.append(float(speed))
    info = RunInfo.read(run.config) or RunInfo()
    values: dict[str, float | None] = {
        "test_bacc": test.get("balanced_accuracy"),
        "val_bacc": val.get("balanced_accuracy", summary.best_val_bacc),
        "macro_f1": test.get("macro_f1"),
        "trainable_params": info.trainable_params,
        "wall_sec": summary.wall_sec,
        "samples_per_sec": statistics.median(speeds) if speeds else None,
        "peak_mem_mb": summary.peak_mem_mb,
    }
    return RunFigures(values, _family_scores(test))


class GridReader:
    """Builds grids, re-reading a run's files only when their modification times change, so
    a console refreshing every second reads what changed and nothing else."""

    def __init__(self) -> None:
        self._figures: dict[Path, tuple[tuple[int, ...], RunFigures]] = {}

    def figures(self, run: RunDir) -> RunFigures:
        stamp = _stamp(run)
        cached = self._figures.get(run.root)
        if cached is None or cached[0] != stamp:
            cached = (stamp, read_figures(run))
            self._figures[run.root] = cached
        return cached[1]

    def fill(self, cell: Cell, runs: Iterable[RunDir]) -> Cell:
        """The cell's state from the newest run, its figures from the newest finished one."""
        newest_first = sorted(runs, key=lambda r: r.run_id, reverse=True)
        for i, run in enumerate(newest_first):
            state = read_status(run).state
            if i == 0:
                cell.state, cell.latest = state, run.root
            if state == "finished":
                cell.finished, cell.figures = run.root, self.figures(run)
                break
        return cell

    def matrix_grid(self, manifest: Manifest, name: str, runs_dir: Path) -> Grid:
        """The grid of ``[matrix.NAME]``: rows model/variant, columns strategy (with the data
        set when the matrix spans several). Unknown names raise ManifestError."""
        configs = [manifest.experiments[e] for e in manifest.matrix(name)]
        several_data = len({c.data.name for c in configs}) > 1
        grid = Grid(name)
        for cfg in configs:
            row = f"{cfg.model}/{cfg.variant}" if cfg.variant else cfg.model
            column = f"{cfg.strategy} · {cfg.data.name}" if several_data else cfg.strategy
            cell = Cell(cfg.name, row, column)
            grid.add(self.fill(cell, find_runs(runs_dir, cfg.name)))
        return grid

    def runs_grid(self, run_dirs: Iterable[Path], name: str = "runs") -> Grid:
        """The grid of the given run directories, placed by what their config.json says."""
        runs = [RunDir(d) for d in run_dirs]
        infos = [RunInfo.read(r.config) or RunInfo() for r in runs]
        several_data = len({i.data for i in infos}) > 1
        grid = Grid(name)
        for run, info in sorted(zip(runs, infos, strict=True), key=lambda p: p[0].run_id):
            column = f"{info.strategy} · {info.data}" if several_data else info.strategy
            cell = Cell(run.root.parent.name, info.model, column)
            grid.add(self.fill(cell, [run]))
        return grid
