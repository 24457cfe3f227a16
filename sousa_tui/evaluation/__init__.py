"""The evaluation browser: a finished run's results, its confusions, and its mistakes to hear."""

from sousa_tui.evaluation.screen import EvalScreen

__all__ = ["EvalScreen"]
