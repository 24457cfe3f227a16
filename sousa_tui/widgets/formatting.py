"""How numbers read in the console's tables: one place, so every pane agrees."""

from __future__ import annotations

MISSING = "-"


def score(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def count(value: int | None) -> str:
    """Parameter counts: 60,960 reads as 61.0k, 86 M as 86.0M."""
    if value is None:
        return MISSING
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f}{suffix}"
    return str(value)


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
