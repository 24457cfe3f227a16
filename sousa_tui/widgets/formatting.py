"""How numbers read in the console's tables: one place, so every pane agrees (and agrees with
`sousa-train report`, whose counts and durations these are)."""

from __future__ import annotations

from sousa_train.compare.grid import count_text, duration_text

MISSING = "-"


def score(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4f}"


def duration(seconds: float | None) -> str:
    return MISSING if seconds is None else duration_text(seconds)


def count(value: int | None) -> str:
    return MISSING if value is None else count_text(value)


def rate(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f}"


def megabytes(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.0f} MB"


def fraction(value: float | None) -> str:
    return MISSING if value is None else f"{value:.0%}"


def sampled(trial: int | None, params: dict | None) -> str:
    """A sweep trial's number and sampled values: ``#3 optim.lr=0.0012 loader.batch_size=16``."""
    if trial is None:
        return MISSING
    values = " ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in (params or {}).items()
    )
    return f"#{trial} {values}".rstrip()
