"""Classification scores from a confusion matrix and a top-5 hit count: the one definition that
training, evaluation and the evaluation browser share (numpy only, so the console can use it).

Balanced accuracy is the mean recall over the classes present in the targets (the usual
definition; a macro average over all classes would count a class that is absent from the split
but predicted as a zero). Macro F1 is averaged over the same classes. Per-class precision,
recall and F1 are 0 where undefined, as torchmetrics has them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SUMMARY_KEYS = ("accuracy", "balanced_accuracy", "top5_accuracy", "macro_f1")


@dataclass(frozen=True)
class PerClass:
    """Per-class figures, indexed by class id."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    @property
    def present(self) -> np.ndarray:
        return self.support > 0


@dataclass(frozen=True)
class Scores:
    accuracy: float
    balanced_accuracy: float
    top5_accuracy: float
    macro_f1: float
    num_clips: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def per_class(confusion: np.ndarray) -> PerClass:
    """Rows are true classes, columns predicted classes."""
    confusion = np.asarray(confusion)
    tp = np.diag(confusion).astype(float)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return PerClass(precision, recall, f1, support)


def _mean_present(values: np.ndarray, present: np.ndarray) -> float:
    return float(values[present].mean()) if present.any() else 0.0


def balanced_accuracy(confusion: np.ndarray) -> float:
    classes = per_class(confusion)
    return _mean_present(classes.recall, classes.present)


def scores(confusion: np.ndarray, top5_hits: int) -> Scores:
    """The headline figures of one evaluation."""
    confusion = np.asarray(confusion)
    classes = per_class(confusion)
    total = int(classes.support.sum())
    return Scores(
        accuracy=float(np.trace(confusion) / max(total, 1)),
        balanced_accuracy=_mean_present(classes.recall, classes.present),
        top5_accuracy=top5_hits / max(total, 1),
        macro_f1=_mean_present(classes.f1, classes.present),
        num_clips=total,
    )
