"""Two runs' evaluations side by side, computed from their `predictions.parquet` files.

Pure data, like ``scores``: per-rudiment recall of both with the difference, the difference
of the confusion matrices, and the clips one classifies right and the other wrong. Two
evaluations compare only over the same clips (same sample ids with the same labels), so
runs scored on different splits or data sets compare when, and only when, they heard the
same clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sousa_train.rudiments import RUDIMENTS
from sousa_train.scores import balanced_accuracy, per_class
from sousa_tui.evaluation.scores import EvalData, Prediction


class CannotCompare(ValueError):
    """The two evaluations are not over the same clips; the message says how they differ."""


@dataclass(frozen=True)
class RudimentDiff:
    """One rudiment's recall in A and in B, over its clips (``support``)."""

    pas: int
    name: str
    family: str
    recall_a: float
    recall_b: float
    support: int

    @property
    def difference(self) -> float:
        return self.recall_b - self.recall_a


@dataclass(frozen=True)
class Flip:
    """A clip one run classifies right and the other wrong; ``right`` is "A" or "B"."""

    right: str
    a: Prediction
    b: Prediction

    @property
    def wrong(self) -> Prediction:
        return self.b if self.right == "A" else self.a


@dataclass
class Comparison:
    a: EvalData
    b: EvalData
    rudiments: list[RudimentDiff]
    difference: np.ndarray  # confusion of B minus confusion of A (clip counts)
    flips: list[Flip]

    @property
    def balanced_accuracy(self) -> tuple[float, float]:
        return balanced_accuracy(self.a.confusion), balanced_accuracy(self.b.confusion)


def _describe(data: EvalData) -> str:
    return f"{data.run.root.parent.name}/{data.run.run_id} ({data.split})"


def compare(a: EvalData, b: EvalData) -> Comparison:
    """A against B; raises CannotCompare when they were scored on different clips."""
    by_id_a = {p.sample_id: p for p in a.predictions}
    by_id_b = {p.sample_id: p for p in b.predictions}
    only_a, only_b = by_id_a.keys() - by_id_b.keys(), by_id_b.keys() - by_id_a.keys()
    if only_a or only_b:
        raise CannotCompare(
            f"The two evaluations are over different clips: {len(only_a)} clips only in "
            f"{_describe(a)}, {len(only_b)} only in {_describe(b)}. Runs compare clip by clip "
            "only when scored on the same clips (the same split of the same data set)."
        )
    relabelled = [sid for sid, p in by_id_a.items() if by_id_b[sid].label != p.label]
    if relabelled:
        raise CannotCompare(
            f"Clip {relabelled[0]} has label {by_id_a[relabelled[0]].label} in {_describe(a)} "
            f"and {by_id_b[relabelled[0]].label} in {_describe(b)} ({len(relabelled)} such "
            "clips): these are different data sets that share clip names."
        )
    recall_a, recall_b = per_class(a.confusion).recall, per_class(b.confusion).recall
    support = a.confusion.sum(axis=1)
    rudiments = [
        RudimentDiff(
            r.pas,
            r.name,
            r.family,
            float(recall_a[r.class_id]),
            float(recall_b[r.class_id]),
            int(support[r.class_id]),
        )
        for r in RUDIMENTS
        if support[r.class_id]
    ]
    flips = [
        Flip("A" if pa.correct else "B", pa, by_id_b[sid])
        for sid, pa in sorted(by_id_a.items())
        if pa.correct != by_id_b[sid].correct
    ]
    return Comparison(a, b, rudiments, b.confusion - a.confusion, flips)
