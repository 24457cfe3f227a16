"""The report's figure: the grid as a heat map, and balanced accuracy against trainable
parameters (the cost of each strategy), side by side in one PNG."""

from __future__ import annotations

from pathlib import Path

from sousa_train.compare.grid import Grid, figure
from sousa_train.compare.tables import cell_text


def write_plot(grid: Grid, key: str, path: Path) -> Path:
    """Matplotlib is imported here, with the file-only Agg backend, so nothing else pays for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.full((len(grid.rows), len(grid.columns)), np.nan)
    for i, row in enumerate(grid.rows):
        for j, column in enumerate(grid.columns):
            cell = grid.cell(row, column)
            if cell is not None and (v := cell.value(key)) is not None:
                values[i, j] = v
    fig, (heat, cost) = plt.subplots(1, 2, figsize=(6 + 1.2 * len(grid.columns), 4.5))
    cmap = "RdYlGn" if figure(key).higher_is_better else "RdYlGn_r"
    image = heat.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto")
    heat.set_xticks(range(len(grid.columns)), grid.columns, rotation=30, ha="right")
    heat.set_yticks(range(len(grid.rows)), grid.rows)
    for i, row in enumerate(grid.rows):
        for j, column in enumerate(grid.columns):
            heat.text(j, i, cell_text(grid.cell(row, column), key), ha="center", va="center")
    heat.set_title(f"{grid.name}: {figure(key).title}")
    fig.colorbar(image, ax=heat)
    for cell in grid.ordered():
        x, y = cell.value("trainable_params"), cell.value("test_bacc")
        if x and y is not None:
            cost.scatter(x, y)
            cost.annotate(f"{cell.row} {cell.column}", (x, y), fontsize=7)
    cost.set_xscale("log")
    cost.set_xlabel("trainable parameters")
    cost.set_ylabel("test balanced accuracy")
    cost.set_title("accuracy against cost")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
