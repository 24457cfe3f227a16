"""Metric series that stay small however long a run is, and their reduction for drawing.

A run logging every step for an hour makes hundreds of thousands of points; the console keeps
at most ``capacity`` per series by folding old points into min/max pairs, so memory is bounded
and spikes stay visible. Drawing reduces further, to about two points per column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Point = tuple[float, float, float]  # (step, wall seconds since the run started, value)


@dataclass
class BoundedSeries:
    """Points in step order, at most ``capacity`` of them; extremes survive every fold."""

    capacity: int = 1024
    points: list[Point] = field(default_factory=list)

    def append(self, step: float, wall: float, value: float) -> None:
        """Add a point; a step at or before the last (a resumed run) replaces the tail."""
        if self.points and step <= self.points[-1][0]:
            keep = len(self.points)
            while keep and self.points[keep - 1][0] >= step:
                keep -= 1
            del self.points[keep:]
        self.points.append((step, wall, value))
        if len(self.points) > self.capacity:
            self.points = min_max_buckets(self.points, self.capacity // 4)

    @property
    def last(self) -> float | None:
        return self.points[-1][2] if self.points else None

    def __len__(self) -> int:
        return len(self.points)


def min_max_buckets(points: Sequence[Point], buckets: int) -> list[Point]:
    """Split ``points`` into ``buckets`` runs and keep each run's lowest and highest point.

    At most ``2 * buckets`` points come back, in their original order, so a line drawn
    through them still shows every spike of the full series.
    """
    n = len(points)
    if buckets <= 0 or n <= 2 * buckets:
        return list(points)
    out: list[Point] = []
    for b in range(buckets):
        chunk = points[b * n // buckets : (b + 1) * n // buckets]
        if not chunk:
            continue
        lo = min(range(len(chunk)), key=lambda i: chunk[i][2])
        hi = max(range(len(chunk)), key=lambda i: chunk[i][2])
        out.extend(chunk[i] for i in sorted({lo, hi}))
    return out


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing, so early points are not pulled
    towards zero; ``weight`` 0 returns the values unchanged."""
    if weight <= 0:
        return list(values)
    out, avg, norm = [], 0.0, 0.0
    for value in values:
        avg = weight * avg + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        out.append(avg / norm)
    return out
