"""Validation and evaluation metrics: torchmetrics accumulates (and reduces over DDP ranks) the
confusion matrix and the top-5 hits; ``sousa_train.scores`` turns them into figures, the same
function the evaluation browser uses, so a number in training and on screen never differs."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from sousa_train.scores import SUMMARY_KEYS, per_class, scores


class ClassificationMetrics(MetricCollection):
    """Accumulates scores and targets; ``compute`` returns plain Python numbers."""

    def __init__(self, num_classes: int, *, sync: bool = True) -> None:
        """``sync``: gather the counts of every DDP rank on ``compute`` (validation); off
        where one process sees every clip itself (evaluation on rank 0)."""
        kw = {"sync_on_compute": sync}
        super().__init__(
            {
                "confusion": MulticlassConfusionMatrix(num_classes, **kw),
                "top5": MulticlassAccuracy(
                    num_classes, top_k=min(5, num_classes), average="micro", **kw
                ),
            },
            compute_groups=True,
        )

    def update(self, scores: Tensor, target: Tensor) -> None:  # type: ignore[override]
        super().update(scores.float(), target)

    def compute(self) -> dict[str, Any]:  # type: ignore[override]
        raw = super().compute()
        confusion = raw["confusion"].long().cpu().numpy()
        total = int(confusion.sum())
        top5_hits = round(float(raw["top5"]) * total)
        classes = per_class(confusion)
        return {
            **scores(confusion, top5_hits).as_dict(),
            "precision": classes.precision.tolist(),
            "recall": classes.recall.tolist(),
            "f1": classes.f1.tolist(),
            "support": classes.support.tolist(),
            "confusion": confusion.tolist(),
        }


def summary(result: dict[str, Any]) -> dict[str, float]:
    return {k: result[k] for k in SUMMARY_KEYS}
