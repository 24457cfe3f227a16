"""The summary tab: headline scores, then balanced accuracy broken down by each attribute."""

from __future__ import annotations

from rich.columns import Columns
from rich.console import Group
from rich.table import Table
from rich.text import Text

from sousa_tui.evaluation.scores import EvalData, breakdowns, summary


def summary_view(data: EvalData) -> Group:
    s = summary(data)
    head = Table(title=f"{data.split} split, {s.num_clips} clips", box=None, title_justify="left")
    head.add_column("metric")
    head.add_column("value", justify="right")
    for name, value in (
        ("accuracy", s.accuracy),
        ("balanced accuracy", s.balanced_accuracy),
        ("top-5 accuracy", s.top5_accuracy),
        ("macro F1", s.macro_f1),
    ):
        head.add_row(name, f"{value:.4f}")
    tables = []
    for attribute, groups in breakdowns(data.predictions).items():
        table = Table(title=attribute, box=None, title_style="bold")
        table.add_column("")
        table.add_column("bal. acc", justify="right")
        table.add_column("clips", justify="right")
        for g in groups:
            table.add_row(g.name, f"{g.balanced_accuracy:.4f}", str(g.clips))
        tables.append(table)
    return Group(
        head,
        Text(""),
        Text("balanced accuracy by", style="bold"),
        Columns(tables, padding=(1, 4)),
    )
