"""Classification metrics from torchmetrics, averaged over the classes a split actually has.

Balanced accuracy is the mean recall over classes present in the targets (the usual
definition); torchmetrics' own macro average would also count a class that is
absent from the split but predicted, as a zero. Macro F1 is averaged the same way.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)


class ClassificationMetrics(nn.Module):
    """Accumulates scores and targets; ``compute`` returns plain Python numbers."""

    def __init__(self, num_classes: int, *, sync: bool = True) -> None:
        """``sync``: gather the counts of every DDP rank on ``compute`` (validation); off
        where one process sees every clip itself (evaluation on rank 0)."""
        super().__init__()
        self.num_classes = num_classes
        kw = {"sync_on_compute": sync}
        self.confusion = MulticlassConfusionMatrix(num_classes, **kw)
        self.top5 = MulticlassAccuracy(
            num_classes, top_k=min(5, num_classes), average="micro", **kw
        )
        self.precision = MulticlassPrecision(num_classes, average=None, **kw)
        self.recall = MulticlassRecall(num_classes, average=None, **kw)
        self.f1 = MulticlassF1Score(num_classes, average=None, **kw)

    def update(self, scores: Tensor, target: Tensor) -> None:
        scores = scores.float()
        for metric in (self.confusion, self.top5, self.precision, self.recall, self.f1):
            metric.update(scores, target)

    def reset(self) -> None:
        for metric in (self.confusion, self.top5, self.precision, self.recall, self.f1):
            metric.reset()

    def compute(self) -> dict[str, Any]:
        confusion = self.confusion.compute().long()
        support = confusion.sum(dim=1)
        present = support > 0
        total = int(support.sum())
        recall = self.recall.compute()
        f1 = self.f1.compute()
        return {
            "accuracy": float(confusion.diag().sum() / max(total, 1)),
            "balanced_accuracy": _mean(recall[present]),
            "top5_accuracy": float(self.top5.compute()),
            "macro_f1": _mean(f1[present]),
            "num_clips": total,
            "precision": self.precision.compute().tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": support.tolist(),
            "confusion": confusion.tolist(),
        }


def _mean(values: Tensor) -> float:
    return float(values.mean()) if values.numel() else 0.0


SUMMARY_KEYS = ("accuracy", "balanced_accuracy", "top5_accuracy", "macro_f1")


def summary(result: dict[str, Any]) -> dict[str, float]:
    return {k: result[k] for k in SUMMARY_KEYS}
