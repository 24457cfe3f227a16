"""Plain-text tables for the commands: every column as wide as its widest cell, so long
experiment names line up, and no trailing spaces, so ``grep`` and ``cut`` see clean rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

GAP = "  "


def format_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()
) -> list[str]:
    """The header and rows as lines; columns whose index is in ``right`` align right."""
    cells = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = set(right)
    return [
        GAP.join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


def score(value: float | None) -> str:
    """A balanced accuracy as the tables show it; ``-`` when the run has none yet."""
    return "-" if value is None else f"{value:.4f}"
