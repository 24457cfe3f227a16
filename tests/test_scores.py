"""The one definition of the scores, against torchmetrics computed independently."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from sousa_train.scores import per_class, scores
from sousa_train.training.metrics import ClassificationMetrics

CLASSES = 40


@pytest.fixture
def predictions() -> tuple[torch.Tensor, torch.Tensor]:
    """Scores for 300 clips of 30 of the 40 classes, right about half the time; some
    predictions name classes absent from the targets, as real confusions do."""
    gen = torch.Generator().manual_seed(0)
    target = torch.randint(0, 30, (300,), generator=gen)
    logits = torch.randn(300, CLASSES, generator=gen)
    logits[torch.arange(150), target[:150]] += 4.0
    return logits, target


def test_scores_match_torchmetrics(predictions: tuple[torch.Tensor, torch.Tensor]) -> None:
    logits, target = predictions
    confusion = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(confusion, (target.numpy(), logits.argmax(1).numpy()), 1)
    top5 = MulticlassAccuracy(CLASSES, top_k=5, average="micro")(logits, target)
    got = scores(confusion, round(float(top5) * len(target)))

    present = torch.bincount(target, minlength=CLASSES) > 0
    recall = MulticlassRecall(CLASSES, average=None)(logits, target)
    f1 = MulticlassF1Score(CLASSES, average=None)(logits, target)
    precision = MulticlassPrecision(CLASSES, average=None)(logits, target)
    assert got.num_clips == 300
    assert got.accuracy == pytest.approx(float((logits.argmax(1) == target).float().mean()))
    assert got.balanced_accuracy == pytest.approx(float(recall[present].mean()))
    assert got.macro_f1 == pytest.approx(float(f1[present].mean()))
    assert got.top5_accuracy == pytest.approx(float(top5))
    # Absent but predicted classes count as zero in torchmetrics' macro average, not here.
    assert got.balanced_accuracy > float(recall.mean())
    np.testing.assert_allclose(per_class(confusion).precision, precision.numpy(), atol=1e-6)


def test_metric_collection_accumulates_over_batches(
    predictions: tuple[torch.Tensor, torch.Tensor],
) -> None:
    logits, target = predictions
    metrics = ClassificationMetrics(CLASSES, sync=False)
    for part in range(3):
        metrics.update(logits[part * 100 : (part + 1) * 100], target[part * 100 : (part + 1) * 100])
    batched = metrics.compute()
    metrics.reset()
    metrics.update(logits, target)
    assert metrics.compute() == batched
    assert sum(map(sum, batched["confusion"])) == 300
    assert batched["support"] == torch.bincount(target, minlength=CLASSES).tolist()
