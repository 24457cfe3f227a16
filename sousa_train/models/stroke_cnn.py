"""StrokeCNN: residual dilated temporal convolutions over the stroke view.

The input is :class:`~sousa_train.models.strokes.StrokeView`: a clip's log-mel and onset rows
on a time axis of its own performance, four cycles across the canvas, so the network's
receptive field is counted in cycles, not seconds. The stem and dilations 1..32 see 131
frames, a cycle and a half on the ``small`` canvas, and mean and max pooling over the canvas
say how much of each pattern the clip holds and whether it occurs at all. The canvas starts
at the first stroke, where a rudiment starts its first cycle, so the first strokes tell a
flam tap from an inverted flam tap (the same loop, started elsewhere).

No weights are published for it: it trains ``from_scratch``, or starts from one of our runs
(``pretrained = "run:NAME"``, a demo-trained run for instance).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sousa_train.models.base import AudioClassifier, refuse_published_weights
from sousa_train.models.registry import MODELS
from sousa_train.models.rhythm_cnn import DilatedResidual
from sousa_train.models.strokes import StrokeView

VARIANTS: dict[str, dict[str, int]] = dict(MODELS["strokecnn"].variant_table)
DILATIONS = (1, 2, 4, 8, 16, 32)
DEFAULT_MEL_BINS = 32
HEAD_NAME = "head"


class StrokeCNN(nn.Module):
    """Stroke view ``[B, C, L]`` -> logits ``[B, num_classes]``."""

    def __init__(self, rows: int, width: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(rows, width, 5, padding=2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
        )
        self.temporal = nn.Sequential(*(DilatedResidual(width, d) for d in DILATIONS))
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, view: Tensor) -> Tensor:
        h = self.temporal(self.stem(view))
        return self.head(torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1))


def build(
    *,
    variant: str,
    num_classes: int,
    pretrained: str | None,
    sample_rate: int,
    n_mels: int = DEFAULT_MEL_BINS,
    slip_ms: float = 0.0,
) -> AudioClassifier:
    """A StrokeCNN behind the stroke view of a 25 ms / 10 ms log-mel at ``sample_rate``;
    ``slip_ms`` moves its strokes in training (``augment.slip_ms``)."""
    refuse_published_weights("strokecnn", pretrained)
    spec = VARIANTS[variant]
    view = StrokeView(sample_rate, n_mels, length=spec["length"], slip_ms=slip_ms)
    return AudioClassifier(
        view,
        StrokeCNN(n_mels + 2, spec["width"], num_classes),
        sample_rate=sample_rate,
        num_classes=num_classes,
        head_name=HEAD_NAME,
    )
