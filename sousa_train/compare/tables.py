"""The grid as tables for a paper: the matrix of one figure, every cell's figures, and
balanced accuracy by family; rendered as Markdown, LaTeX, CSV or JSON.

A table is built once as text cells with a "best" flag, then each format renders it, so
the bold cells and the missing ones are the same in every format.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from sousa_train.compare.grid import FIGURES, Cell, Grid, figure
from sousa_train.rudiments import FAMILIES

FORMATS = ("md", "csv", "latex", "json")


@dataclass(frozen=True)
class Table:
    """A titled table of text cells; ``best`` marks cells to set in bold."""

    title: str
    header: list[str]
    rows: list[list[str]]
    best: set[tuple[int, int]]
    labels: int = 1  # leading text columns (left-aligned); the rest are figures


def cell_text(cell: Cell | None, key: str) -> str:
    """A figure, or what the cell is instead: missing, running, queued, failed, stopped."""
    if cell is None:
        return "-"
    value = cell.value(key)
    return figure(key).show(value) if value is not None else cell.state


def _is_best(value: float | None, best: float | None) -> bool:
    return value is not None and best is not None and value == best


def matrix_table(grid: Grid, key: str) -> Table:
    """Models down, strategies across, one figure; the best of each column in bold."""
    best = set()
    rows = []
    for i, row in enumerate(grid.rows):
        cells = [grid.cell(row, column) for column in grid.columns]
        rows.append([row, *(cell_text(c, key) for c in cells)])
        for j, (c, column) in enumerate(zip(cells, grid.columns, strict=True), 1):
            if c is not None and _is_best(c.value(key), grid.best(key, column)):
                best.add((i, j))
    title = f"{grid.name}: {figure(key).title}"
    return Table(title, ["model", *grid.columns], rows, best, labels=1)


def runs_table(grid: Grid) -> Table:
    """Every cell with all its figures; the best of each figure over the grid in bold."""
    header = ["model", "strategy", "state", "run", *(f.title for f in FIGURES)]
    rows, best = [], set()
    for i, cell in enumerate(grid.ordered()):
        run = cell.finished.name if cell.finished else "-"
        values = [cell.value(f.key) for f in FIGURES]
        rows.append(
            [
                cell.row,
                cell.column,
                cell.state,
                run,
                *(f.show(v) for f, v in zip(FIGURES, values, strict=True)),
            ]
        )
        for j, (f, v) in enumerate(zip(FIGURES, values, strict=True), 4):
            if _is_best(v, grid.best(f.key)):
                best.add((i, j))
    return Table(f"{grid.name}: every run", header, rows, best, labels=4)


def family_table(grid: Grid) -> Table:
    """Test balanced accuracy within each rudiment family, per finished cell."""
    rows = []
    for cell in grid.ordered():
        families = cell.figures.families if cell.figures else {}
        scores = [
            f"{v:.4f}" if (v := families.get(f)) is not None else cell.state for f in FAMILIES
        ]
        rows.append([cell.row, cell.column, *scores])
    return Table(
        f"{grid.name}: test balanced accuracy by family",
        ["model", "strategy", *FAMILIES],
        rows,
        set(),
        labels=2,
    )


def markdown(tables: list[Table]) -> str:
    out = []
    for t in tables:
        out += [f"### {t.title}", "", "| " + " | ".join(t.header) + " |"]
        aligns = ["---"] * t.labels + ["---:"] * (len(t.header) - t.labels)
        out.append("|" + "|".join(aligns) + "|")
        for i, row in enumerate(t.rows):
            cells = [f"**{c}**" if (i, j) in t.best else c for j, c in enumerate(row)]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def _tex(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text.replace("·", "/")


def latex(tables: list[Table]) -> str:
    """booktabs tables, one per table, each in its own ``table`` float."""
    out = []
    for t in tables:
        out += [
            "\\begin{table}[t]",
            "\\centering",
            f"\\caption{{{_tex(t.title)}}}",
            "\\begin{tabular}{" + "l" * t.labels + "r" * (len(t.header) - t.labels) + "}",
            "\\toprule",
            " & ".join(_tex(h) for h in t.header) + " \\\\",
            "\\midrule",
        ]
        for i, row in enumerate(t.rows):
            cells = [
                f"\\textbf{{{_tex(c)}}}" if (i, j) in t.best else _tex(c) for j, c in enumerate(row)
            ]
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out)


def records(grid: Grid) -> list[dict[str, object]]:
    """One flat record per cell, with raw values (full precision) for CSV and JSON."""
    out = []
    for cell in grid.ordered():
        families = cell.figures.families if cell.figures else {}
        out.append(
            {
                "matrix": grid.name,
                "experiment": cell.experiment,
                "model": cell.row,
                "strategy": cell.column,
                "state": cell.state,
                "run_dir": str(cell.finished or ""),
                **{f.key: cell.value(f.key) for f in FIGURES},
                **{f"family_{f}": families.get(f) for f in FAMILIES},
            }
        )
    return out


def to_csv(grid: Grid) -> str:
    fields = ["matrix", "experiment", "model", "strategy", "state", "run_dir"]
    fields += [f.key for f in FIGURES] + [f"family_{f}" for f in FAMILIES]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records(grid):
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buffer.getvalue()


def render(grid: Grid, fmt: str, key: str) -> str:
    """The report in one of FORMATS."""
    if fmt == "csv":
        return to_csv(grid)
    if fmt == "json":
        doc = {
            "matrix": grid.name,
            "rows": grid.rows,
            "columns": grid.columns,
            "cells": records(grid),
        }
        return json.dumps(doc, indent=2) + "\n"
    tables = [matrix_table(grid, key), runs_table(grid), family_table(grid)]
    return markdown(tables) if fmt == "md" else latex(tables)
